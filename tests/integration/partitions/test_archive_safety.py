"""Archive retention never orphans a partition's rows (issue 10 point 6), and archive
files are private (point 5)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pgwarden.partitions import plan_all, run_maintenance, store

FIRST_RUN = datetime(2024, 1, 10, tzinfo=UTC)
EXPIRED_RUN = datetime(2024, 3, 5, tzinfo=UTC)


def _archived_table(services, conn, archive_dir: Path) -> None:
    conn.execute(
        "CREATE TABLE public.a (id int NOT NULL, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)"
    )
    conn.commit()
    store.add_policy(
        services.db,
        "public.a",
        interval="monthly",
        premake=1,
        retention="1 month",
        action="archive",
        archive_dir=str(archive_dir),
        keep_at_least=0,
    )
    run_maintenance(services, now=FIRST_RUN)
    conn.execute(
        "INSERT INTO public.a SELECT g, '2024-01-01'::timestamptz + g * interval '7 min' "
        "FROM generate_series(1, 3000) g"
    )
    conn.commit()


def _state(conn) -> tuple[int, bool | None, int]:
    rows = conn.execute("SELECT count(*) FROM public.a").fetchone()[0]
    part = conn.execute(
        "SELECT relispartition FROM pg_class WHERE oid = to_regclass('public.a_2024_01')"
    ).fetchone()
    steps = conn.execute("SELECT count(*) FROM partition_detach_steps").fetchone()[0]
    conn.commit()
    return rows, (part[0] if part else None), steps


def _partition_name(conn) -> str:
    name = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.a'::regclass ORDER BY c.relname LIMIT 1"
    ).fetchone()[0]
    conn.commit()
    return name


def test_an_unwritable_archive_target_is_refused_before_the_detach(services, conn, tmp_path):
    target = tmp_path / "arch"
    _archived_table(services, conn, target)
    name = _partition_name(conn)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with services.db.connection() as c:  # the directory became unusable (root ignores modes)
        c.execute(
            "UPDATE partition_policies SET archive_dir = %s WHERE parent_name = 'a'",
            [str(blocker / "sub")],
        )
    report = run_maintenance(services, now=EXPIRED_RUN)
    failed = [a for t in report.tables for a in t.actions if a.status == "failed"]
    assert failed and "not writable" in failed[0].error and "nothing detached" in failed[0].error
    rows = conn.execute("SELECT count(*) FROM public.a").fetchone()[0]
    still = conn.execute(
        "SELECT relispartition FROM pg_class WHERE relname = %s", [name]
    ).fetchone()
    conn.commit()
    assert rows == 3000 and still == (True,)


def test_an_archive_failing_after_the_detach_attaches_the_partition_back(
    services, conn, tmp_path, monkeypatch
):
    from pgwarden.partitions import archive

    _archived_table(services, conn, tmp_path / "arch")
    name = _partition_name(conn)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "x.copy.gz.part")

    monkeypatch.setattr(archive, "export", disk_full)
    report = run_maintenance(services, now=EXPIRED_RUN)
    failed = [a for t in report.tables for a in t.actions if a.status == "failed"]
    assert failed and "No space left" in failed[0].error
    rows = conn.execute("SELECT count(*) FROM public.a").fetchone()[0]
    part = conn.execute("SELECT relispartition FROM pg_class WHERE relname = %s", [name]).fetchone()
    steps = conn.execute("SELECT count(*) FROM partition_detach_steps").fetchone()[0]
    conn.commit()
    assert (rows, part, steps) == (3000, (True,), 0)


@pytest.mark.parametrize("target_ok", [True, False], ids=["archived", "attached back"])
def test_a_detach_left_by_a_crash_is_warned_about_then_finished(
    services, conn, tmp_path, target_ok
):
    target = tmp_path / "arch"
    _archived_table(services, conn, target)
    name = _partition_name(conn)
    # what a run killed between DETACH and DROP leaves behind
    conn.execute(
        "INSERT INTO partition_detach_steps (schema_name, partition_name, parent_schema, "
        "parent_name, lower_bound, upper_bound, archive_dir) VALUES "
        "('public', %s, 'public', 'a', '2024-01-01', '2024-02-01', %s)",
        [name, str(target)],
    )
    conn.execute(f'ALTER TABLE public.a DETACH PARTITION public."{name}"')
    conn.commit()
    assert conn.execute("SELECT count(*) FROM public.a").fetchone() == (0,)
    conn.commit()

    plan = plan_all(services, now=FIRST_RUN)
    warned = [w for w in plan.warnings if w.kind == "pending_detach"]
    assert warned and name in warned[0].message and warned[0].partition == name

    if not target_ok:
        (tmp_path / "blocker").write_text("x")
        with services.db.connection() as c:
            c.execute(
                "UPDATE partition_detach_steps SET archive_dir = %s",
                [str(tmp_path / "blocker" / "sub")],
            )
            c.execute(
                "UPDATE partition_policies SET archive_dir = %s WHERE parent_name = 'a'",
                [str(tmp_path / "blocker" / "sub")],
            )
    report = run_maintenance(services, now=FIRST_RUN)
    resumed = [a for t in report.tables for a in t.actions if a.action.partition == name]
    assert resumed, report.to_dict()
    left = conn.execute("SELECT count(*) FROM partition_detach_steps").fetchone()[0]
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{name}"]).fetchone()[0]
    rows = conn.execute("SELECT count(*) FROM public.a").fetchone()[0]
    conn.commit()
    assert left == 0
    if target_ok:
        assert resumed[0].status == "ok" and resumed[0].archive_file, report.to_dict()
        # archived and dropped (the run may make an empty January again: it is Jan 10)
        assert rows == 0 and list(target.glob("*.copy.gz"))
    else:
        assert exists and rows == 3000  # attached back, rows visible again
    assert not [w for w in plan_all(services, now=FIRST_RUN).warnings if w.kind == "pending_detach"]


def test_archive_files_are_0600_and_new_directories_0700(services, conn, tmp_path):
    target = tmp_path / "new" / "arch"
    _archived_table(services, conn, target)
    report = run_maintenance(services, now=EXPIRED_RUN)
    assert report.status == "ok", report.to_dict()
    files = list(target.iterdir())
    assert files and any(f.name.endswith(".copy.gz") for f in files)
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    for d in (target, target.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
