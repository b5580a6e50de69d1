from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgwarden.ops.backup import list_backups, take_backup
from pgwarden.ops.runner import RunStatus
from pgwarden.ops.verify import restore_backup, verify_backup


def test_backup_verify_restore_round_trip(ops_services, sample, db_conninfo):
    run = take_backup(ops_services)
    assert run.status is RunStatus.OK
    [b] = list_backups(ops_services)
    assert b.status == "COMPLETE" and b.sha256 and b.toc_entries
    counts = b.manifest["row_counts"]
    assert counts["public.customers"] == 300
    assert counts["public.orders"] == 1000
    assert counts["public.events_2026"] == 500
    v = verify_backup(ops_services, "latest")
    assert v.status is RunStatus.OK, v.error
    [b] = list_backups(ops_services)
    assert b.verify_ok is True and b.verify_seconds > 0
    into = "rt_" + psycopg.conninfo.conninfo_to_dict(db_conninfo)["dbname"]
    r = restore_backup(ops_services, b.id, into)
    try:
        assert r.status is RunStatus.OK, r.error
        with psycopg.connect(make_conninfo(db_conninfo, dbname=into)) as c:
            assert c.execute("SELECT count(*), sum(amount) FROM public.orders").fetchone() == (
                1000,
                sum(g * 1.5 for g in range(1, 1001)),
            )
    finally:
        with psycopg.connect(db_conninfo, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{into}" WITH (FORCE)')
