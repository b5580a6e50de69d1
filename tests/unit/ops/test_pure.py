from __future__ import annotations

from pathlib import Path

import pytest

from pgwarden.ops.backup import parse_toc, toc_kinds
from pgwarden.ops.errors import ToolTooOld
from pgwarden.ops.maintenance import autovacuum_plan, parse_reloptions
from pgwarden.ops.pitr import archive_command, render_config
from pgwarden.ops.tools import Tool, check_client, split_secret

TOC = """;
; Archive created at 2026-11-29 02:00:00 UTC
;     dbname: app
;
; Selected TOC Entries:
;
215; 1259 16390 TABLE public customers postgres
216; 1259 16389 SEQUENCE public customers_id_seq postgres
3350; 0 16390 TABLE DATA public customers postgres
3200; 2606 16394 CONSTRAINT public customers customers_pkey postgres
3201; 1259 16400 INDEX public orders_customer_idx postgres
3202; 2606 16401 FK CONSTRAINT public orders orders_customer_id_fkey postgres
3203; 0 0 SEQUENCE SET public customers_id_seq postgres
"""


def test_toc_entries_and_kinds():
    entries = parse_toc(TOC)
    assert len(entries) == 7
    assert (16390, "TABLE DATA public customers postgres") in entries
    kinds = toc_kinds(entries)
    assert kinds == {
        "TABLE": 1,
        "SEQUENCE": 1,
        "TABLE DATA": 1,
        "CONSTRAINT": 1,
        "INDEX": 1,
        "FK CONSTRAINT": 1,
        "SEQUENCE SET": 1,
    }


def test_client_older_than_the_server_names_both_versions():
    old = Tool("pg_dump", Path("/usr/lib/postgresql/15/bin/pg_dump"), "15.14", 15)
    with pytest.raises(ToolTooOld) as info:
        check_client(old, 180001, "18.1")
    assert "pg_dump 15.14" in str(info.value) and "PostgreSQL 18.1" in str(info.value)
    check_client(old, 150004, "15.4")
    check_client(Tool("pg_dump", Path("x"), "18.1", 18), 150004, "15.4")


def test_the_password_leaves_the_conninfo_for_the_environment():
    conninfo, env = split_secret("host=db port=5432 user=app password=s3cret dbname=x")
    assert "s3cret" not in conninfo and env["PGPASSWORD"] == "s3cret"
    other, env2 = split_secret("host=db user=app dbname=x", dbname="scratch")
    assert "dbname=scratch" in other and "PGPASSWORD" not in env2


def test_autovacuum_plan_lists_only_differences():
    current = {
        "public.a": parse_reloptions(["autovacuum_vacuum_scale_factor=0.02"]),
        "public.b": {},
    }
    plan = autovacuum_plan(
        {"autovacuum_vacuum_scale_factor": 0.02, "autovacuum_enabled": True}, current
    )
    assert plan == [
        ("public.a", "autovacuum_enabled", "true", None),
        ("public.b", "autovacuum_enabled", "true", None),
        ("public.b", "autovacuum_vacuum_scale_factor", "0.02", None),
    ]


def test_pgbackrest_config_text():
    text = render_config(
        "main",
        repo=Path("/srv/repo"),
        data_dir=Path("/var/lib/pg/data"),
        socket_dir="/run/pg",
        port=5433,
        user="postgres",
        work_dir=Path("/etc/pgbackrest/w"),
    )
    assert "[main]" in text and "pg1-path=/var/lib/pg/data" in text
    assert "repo1-path=/srv/repo" in text and "pg1-port=5433" in text
    assert archive_command(Path("/etc/p b.conf"), "main") == (
        "pgbackrest --config='/etc/p b.conf' --stanza=main archive-push %p"
    )
