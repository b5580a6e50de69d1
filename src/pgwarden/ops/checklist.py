"""Checklists computed from evidence: run records, the backup catalog, the catalogs of PostgreSQL.

Seed 003 section 9 and Appendix B as items that are each pass, warn or
fail, with the evidence read and the command that fixes a failure. Nothing
is ticked by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pgwarden.ops.runner import RunRecord, last_run, queries

if TYPE_CHECKING:
    from pgwarden.services import Services

log = logging.getLogger(__name__)

CADENCES = ("daily", "weekly", "monthly", "pre-deploy")
PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class Item:
    cadence: str
    name: str
    status: str
    evidence: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _age(ts: datetime | None, now: datetime) -> str:
    if ts is None:
        return "never"
    h = (now - ts).total_seconds() / 3600
    return f"{h:.1f} h ago" if h < 48 else f"{h / 24:.1f} d ago"


class Evidence:
    """What the items read, fetched once per checklist (and injectable `now`)."""

    def __init__(self, services: Services, now: datetime | None = None) -> None:
        from pgwarden.ops.backup import list_backups

        self.services = services
        self.now = now or datetime.now(UTC)
        self.q = queries(services)
        with services.db.connection() as conn:
            row = conn.execute("SELECT current_database()").fetchone()
        self.target = str(row[0]) if row else "?"
        self.backups = list(list_backups(services, self.target))

    def one(self, name: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
        with self.services.db.connection() as conn:
            row = conn.execute(self.q[name], params or {}).fetchone()
        assert row is not None
        return tuple(row)

    def all(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.services.db.connection() as conn:
            return [tuple(r) for r in conn.execute(self.q[name], params or {}).fetchall()]

    def run(self, op: str, statuses: tuple[str, ...] = ("OK", "PARTIAL")) -> RunRecord | None:
        return last_run(self.services, op, statuses)

    def recent_run(self, op: str, days: float) -> tuple[bool, str]:
        r = self.run(op)
        if r is None:
            return False, f"no successful {op} run recorded"
        fresh = r.started_at >= self.now - timedelta(days=days)
        return fresh, f"last {op} run {r.id} {r.status.value} {_age(r.started_at, self.now)}"


# -- items --------------------------------------------------------------------


def logical_backup(e: Evidence, max_hours: float = 26) -> Item:
    complete = [b for b in e.backups if b.status == "COMPLETE"]
    fix = "pgwarden ops backup"
    if not complete:
        return Item("daily", "logical backup", FAIL, "no complete backup in the catalog", fix)
    b = complete[0]
    ok = b.started_at >= e.now - timedelta(hours=max_hours)
    text = f"backup {b.id} complete {_age(b.started_at, e.now)}, {b.bytes} bytes, sha256 re-read"
    return Item("daily", "logical backup", PASS if ok else FAIL, text, None if ok else fix)


def physical_backup(e: Evidence) -> Item:
    stanza = str(e.services.config.get("ops.pgbackrest_stanza") or "")
    if not stanza:
        return Item(
            "daily",
            "physical backup (pgBackRest)",
            WARN,
            "PITR is not configured (ops.pgbackrest_stanza is empty)",
            "pgwarden ops pitr config",
        )
    ok, text = e.recent_run("pitr_check", 1.1)
    return Item(
        "daily",
        "physical backup (pgBackRest)",
        PASS if ok else FAIL,
        text,
        None if ok else "pgwarden ops pitr check",
    )


def wal_archiving(e: Evidence) -> Item:
    mode, archived, failed, last_ok, last_fail, wal = e.one("archiver")
    if mode == "off":
        return Item(
            "daily",
            "WAL archiving",
            WARN,
            "archive_mode is off: no point-in-time recovery",
            "pgwarden ops pitr config",
        )
    if last_fail and (last_ok is None or last_fail > last_ok):
        return Item(
            "daily",
            "WAL archiving",
            FAIL,
            f"archive_command failing: {failed} failures, last {wal} "
            f"{_age(last_fail, e.now)}, last success {_age(last_ok, e.now)}",
            "pgbackrest check (see the server log)",
        )
    return Item(
        "daily",
        "WAL archiving",
        PASS,
        f"{archived} archived, last {_age(last_ok, e.now)}, {failed} failures before",
    )


def transactions(e: Evidence) -> Item:
    old, idle, longest = e.one("long_transactions")
    if old:
        return Item(
            "daily",
            "transactions and locks",
            FAIL,
            f"{old} transaction(s) open over 1 h (longest {longest})",
            "SELECT pid, xact_start, query FROM pg_stat_activity ORDER BY xact_start",
        )
    if idle:
        return Item(
            "daily",
            "transactions and locks",
            WARN,
            f"{idle} session(s) idle in transaction over 10 min",
            "set idle_in_transaction_session_timeout",
        )
    return Item(
        "daily",
        "transactions and locks",
        PASS,
        "no transaction over 1 h, none idle in transaction over 10 min",
    )


def invalid_indexes(e: Evidence, cadence: str = "daily") -> Item:
    rows = e.all("invalid_indexes")
    if rows:
        names = ", ".join(f"{s}.{i}" for s, i, _, _ in rows[:5])
        return Item(
            cadence,
            "indexes",
            FAIL,
            f"{len(rows)} invalid index(es): {names}",
            "pgwarden ops maintain reindex",
        )
    return Item(cadence, "indexes", PASS, "no invalid index")


def ops_jobs(e: Evidence) -> Item:
    rows = e.all("failed_since", {"since": e.now - timedelta(days=1)})
    if rows:
        first = rows[0]
        return Item(
            "daily",
            "ops jobs",
            FAIL,
            f"{len(rows)} FAILED run(s) since yesterday; latest {first[0]} on "
            f"{first[1]}: {(first[3] or '')[:200]}",
            "pgwarden ops runs",
        )
    return Item("daily", "ops jobs", PASS, "no FAILED run since yesterday")


def capacity(e: Evidence) -> Item:
    from pgwarden.ops.capacity import capacity_report

    report = capacity_report(e.services, sample=False)
    db = report["database"]
    days = db["days_to_limit"]
    text = (
        f"{db['bytes']} bytes, +{db['growth_per_day']} bytes/day ({db['method']}); limit: "
        f"{report['limit_source']}; "
        + (f"{days} days to the limit" if days is not None else "no limit reached on this trend")
    )
    if db["alert"]:
        return Item("daily", "capacity", FAIL, text, "free space, or archive/drop old partitions")
    if db["limit"] is None:
        return Item("daily", "capacity", WARN, text, "pgwarden config set ops.capacity_limit N")
    return Item("daily", "capacity", PASS, text)


def restore_verified(e: Evidence) -> Item:
    complete = [b for b in e.backups if b.status == "COMPLETE"]
    fix = "pgwarden ops verify latest"
    if not complete:
        return Item(
            "weekly", "restore verification", FAIL, "no backup to verify", "pgwarden ops backup"
        )
    verified = [b for b in complete if b.verify_ok and b.verified_at]
    if not verified:
        return Item("weekly", "restore verification", FAIL, "no backup was ever restored", fix)
    b = verified[0]
    ok = b.verified_at >= e.now - timedelta(days=7)  # type: ignore[operator]
    text = (
        f"backup {b.id} restored {_age(b.verified_at, e.now)} in {b.verify_seconds:.1f} s, "
        "every table's rows equal to the manifest"
    )
    failed = [
        x
        for x in complete
        if x.verify_ok is False
        and x.verified_at
        and b.verified_at
        and x.verified_at > b.verified_at
    ]
    if failed:
        return Item(
            "weekly",
            "restore verification",
            FAIL,
            f"backup {failed[0].id} failed its restore test: {failed[0].verify_error}",
            fix,
        )
    return Item("weekly", "restore verification", PASS if ok else FAIL, text, None if ok else fix)


def analyze_done(e: Evidence) -> Item:
    ok, text = e.recent_run("analyze", 7)
    return Item(
        "weekly",
        "ANALYZE (partitioned parents included)",
        PASS if ok else FAIL,
        text,
        None if ok else "pgwarden ops maintain analyze",
    )


def lifecycle_clean(e: Evidence) -> Item:
    from pgwarden.ops.lifecycle import eligible_rows, list_policies

    policies = [p for p in list_policies(e.services) if p.enabled]
    if not policies:
        return Item(
            "weekly",
            "retention and masking",
            WARN,
            "no retention or masking policy",
            "pgwarden ops retention add / ops mask add",
        )
    left = []
    for p in policies:
        try:
            n = eligible_rows(e.services, p)
        except Exception as exc:  # a dropped table: report it, keep checking the others
            left.append(f"{p.kind} {p.id} on {p.table}: {type(exc).__name__}")
            continue
        if n:
            left.append(f"{p.kind} {p.id} on {p.table}: {n} row(s)")
    if left:
        return Item(
            "weekly",
            "retention and masking",
            FAIL,
            "eligible rows left: " + "; ".join(left[:5]),
            "pgwarden ops retention run; pgwarden ops mask run",
        )
    return Item(
        "weekly",
        "retention and masking",
        PASS,
        f"{len(policies)} policies, zero eligible rows left undeleted or unmasked",
    )


def vacuum_health(e: Evidence) -> Item:
    (share,) = e.one("wraparound")
    dead = e.all("dead_tuples")
    if share is not None and share > 0.5:
        return Item(
            "weekly",
            "vacuum health",
            FAIL,
            f"oldest unfrozen xid at {share:.0%} of the wraparound limit",
            "VACUUM (FREEZE) the oldest tables",
        )
    if dead:
        names = ", ".join(f"{t} ({d} dead)" for t, d, _ in dead[:5])
        return Item(
            "weekly",
            "vacuum health",
            WARN,
            f"autovacuum behind on {names}",
            "pgwarden config set ops.autovacuum ...; pgwarden ops maintain autovacuum",
        )
    return Item(
        "weekly",
        "vacuum health",
        PASS,
        f"wraparound headroom {1 - (share or 0):.0%}; no table behind on dead rows",
    )


def reindex_done(e: Evidence) -> Item:
    ok, text = e.recent_run("reindex", 31)
    return Item(
        "monthly",
        "REINDEX",
        PASS if ok else FAIL,
        text,
        None if ok else "pgwarden ops maintain reindex",
    )


def pitr_drill(e: Evidence) -> Item:
    if not e.services.config.get("ops.pgbackrest_stanza"):
        return Item(
            "monthly", "PITR drill", WARN, "PITR is not configured", "pgwarden ops pitr config"
        )
    ok, text = e.recent_run("pitr_drill", 31)
    return Item(
        "monthly",
        "PITR drill",
        PASS if ok else FAIL,
        text,
        None if ok else "pgwarden ops pitr drill",
    )


def monthly_restore(e: Evidence) -> Item:
    ok, text = e.recent_run("verify", 31)
    return Item(
        "monthly",
        "restore test (seed 003 5.5)",
        PASS if ok else FAIL,
        text,
        None if ok else "pgwarden ops verify latest",
    )


def tool_versions(e: Evidence) -> Item:
    from pgwarden.ops import tools
    from pgwarden.ops.errors import OpsError

    num = int(e.one("server_info")[0])
    found = []
    for name in ("pg_dump", "pg_restore"):
        try:
            t = tools.find_tool(e.services, name, None, num // 10000)
        except OpsError as exc:
            return Item("monthly", "tool versions", FAIL, str(exc), "set ops.bin_dir")
        if t.major < num // 10000:
            return Item(
                "monthly",
                "tool versions",
                FAIL,
                f"{name} {t.version} is older than the server ({num // 10000})",
                "install a newer client; set ops.bin_dir",
            )
        found.append(f"{name} {t.version}")
    return Item("monthly", "tool versions", PASS, ", ".join(found) + f" >= server {num // 10000}")


def policy_review(e: Evidence) -> Item:
    problems = cross_policy_problems(e.services)
    if problems:
        return Item(
            "monthly",
            "policy review",
            WARN,
            "; ".join(problems),
            "shorten ops.keep_* or accept that old backups hold clear PII",
        )
    return Item(
        "monthly", "policy review", PASS, "backup retention does not outlast any masking horizon"
    )


def schema_current(e: Evidence) -> Item:
    from pgwarden.db import migrate

    with e.services.db.connection() as conn:
        now = migrate.stored_revision(conn, e.services.db.schema)
    head = migrate.head()
    if now != head:
        return Item(
            "pre-deploy",
            "migrations",
            FAIL,
            f"schema at {now}, code needs {head}",
            "pgwarden db upgrade",
        )
    return Item("pre-deploy", "migrations", PASS, f"schema at head revision {head}")


def fresh_verified_backup(e: Evidence) -> Item:
    fresh = [
        b
        for b in e.backups
        if b.status == "COMPLETE" and b.started_at >= e.now - timedelta(hours=24)
    ]
    if not fresh:
        return Item(
            "pre-deploy",
            "backup made and verified",
            FAIL,
            "no backup in the last 24 h",
            "pgwarden ops backup && pgwarden ops verify",
        )
    b = fresh[0]
    if not b.verify_ok:
        return Item(
            "pre-deploy",
            "backup made and verified",
            FAIL,
            f"backup {b.id} is not verified",
            f"pgwarden ops verify {b.id}",
        )
    return Item(
        "pre-deploy",
        "backup made and verified",
        PASS,
        f"backup {b.id} {_age(b.started_at, e.now)}, restored in "
        f"{b.verify_seconds:.1f} s (the rollback's RTO)",
    )


def partitions_ahead(e: Evidence) -> Item:
    from pgwarden.partitions import status

    rows = status(e.services, e.now)
    short = [s.table for s in rows if s.enabled and (s.horizon_seconds or 0) <= 0]
    if short:
        return Item(
            "pre-deploy",
            "partitions created ahead",
            FAIL,
            "no partition ahead of now for " + ", ".join(short[:5]),
            "pgwarden partitions run",
        )
    return Item(
        "pre-deploy",
        "partitions created ahead",
        PASS,
        f"{len(rows)} managed table(s) have partitions ahead of now",
    )


def index_builds(e: Evidence) -> Item:
    (building,) = e.one("index_builds")
    invalid = e.all("invalid_indexes")
    if building or invalid:
        return Item(
            "pre-deploy",
            "index builds complete",
            FAIL,
            f"{building} build(s) in progress, {len(invalid)} invalid index(es)",
            "wait for the builds; pgwarden ops maintain reindex",
        )
    return Item(
        "pre-deploy", "index builds complete", PASS, "no index build in progress, no invalid index"
    )


ITEMS: dict[str, list[Callable[[Evidence], Item]]] = {
    "daily": [
        logical_backup,
        physical_backup,
        wal_archiving,
        transactions,
        invalid_indexes,
        ops_jobs,
        capacity,
    ],
    "weekly": [restore_verified, analyze_done, lifecycle_clean, vacuum_health],
    "monthly": [reindex_done, pitr_drill, monthly_restore, tool_versions, policy_review],
    "pre-deploy": [schema_current, fresh_verified_backup, partitions_ahead, index_builds],
}


def checklist(services: Services, cadence: str, now: datetime | None = None) -> list[Item]:
    """Every item of one cadence, computed now; an item that cannot be read is a fail."""
    from pgwarden.errors import InputInvalid

    if cadence not in ITEMS:
        raise InputInvalid("cadence", cadence, "must be one of " + ", ".join(CADENCES))
    e = Evidence(services, now)
    items = []
    for fn in ITEMS[cadence]:
        try:
            items.append(fn(e))
        except Exception as exc:
            log.warning(
                "checklist item %s failed: %s", fn.__name__, exc, extra={"action": "ops_checklist"}
            )
            items.append(
                Item(
                    cadence,
                    fn.__name__.replace("_", " "),
                    FAIL,
                    f"could not be computed: {type(exc).__name__}: {exc}",
                )
            )
    return items


def cross_policy_problems(services: Services) -> list[str]:
    """Backups kept longer than a masking horizon still hold the values the masking removed."""
    from pgwarden.ops.lifecycle import list_policies

    cfg = services.config
    backup_days = max(
        int(cfg.get("ops.keep_daily_days")),
        7 * int(cfg.get("ops.keep_weekly")),
        31 * int(cfg.get("ops.keep_monthly")),
    )
    problems = []
    with services.db.connection() as conn:
        for p in list_policies(services, "mask"):
            row = conn.execute(
                "SELECT extract(epoch FROM %s::interval) / 86400", [p.older_than]
            ).fetchone()
            horizon = float(row[0]) if row else 0.0
            if backup_days > horizon:
                problems.append(
                    f"backups are kept up to {backup_days} d but {p.table}.{p.column} is masked "
                    f"after {p.older_than}: older backups still hold the clear values"
                )
    return problems


def unrunnable_policies(services: Services) -> list[str]:
    """Retention and masking policies whose table or column is gone."""
    from pgwarden.ops.lifecycle import list_policies

    problems = []
    with services.db.connection() as conn:
        for p in list_policies(services):
            found = conn.execute(
                queries(services)["table_column"],
                {"schema_name": p.table_schema, "table_name": p.table_name, "column": p.column},
            ).fetchone()
            if found is None or found[1] is None:
                problems.append(
                    f"{p.kind} policy {p.id}: {p.table}.{p.column} no longer exists "
                    f"(`pgwarden ops {p.kind} remove {p.id}`)"
                )
    return problems
