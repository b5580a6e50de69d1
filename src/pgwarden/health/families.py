"""Snapshot -> metric families with postgres_exporter's names, labels and types (pure).

Names follow postgres_exporter (research/monitoring.md 6.3) so Grafana 9628,
the exporter's mixin and awesome-prometheus-alerts read them unchanged,
quirks kept: `pg_stat_database_*` and the per-table counters have no
`_total` suffix (exposed `untyped`: prometheus_client cannot write a counter
without it), the bgwriter ones do. Every series also carries `target` (the
pgwarden target name) so one endpoint can serve several databases; with one
target the label is constant and every `sum by (instance, job)` rule holds.

New families are named `pgwarden_db_*`. Per-table and per-index families
are bounded by the series budget through rollup.condense_*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgwarden.health import catalog, rollup
from pgwarden.health.findings import lock_chains
from pgwarden.health.snapshot import Row, Snapshot

SERIES_BUDGET = 5000
TABLE_COUNTERS = (
    "seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd",
    "n_tup_del", "n_tup_hot_upd", "vacuum_count", "autovacuum_count", "analyze_count",
    "autoanalyze_count",
)  # fmt: skip
TABLE_GAUGES = (
    "n_live_tup", "n_dead_tup", "n_mod_since_analyze", "last_vacuum", "last_autovacuum",
    "last_analyze", "last_autoanalyze",
)  # fmt: skip
STATIO_TABLES = ("heap", "idx", "toast", "tidx")
#: series one table entity costs: 19 stat + 2 sizes + 8 statio + 1 dead ratio
SERIES_PER_TABLE = len(TABLE_COUNTERS) + len(TABLE_GAUGES) + 2 + 2 * len(STATIO_TABLES) + 1
SERIES_PER_INDEX = 2
SERIES_PER_STATEMENT = 6
DB_COUNTERS = (
    "xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned", "tup_fetched",
    "tup_inserted", "tup_updated", "tup_deleted", "conflicts", "temp_files", "temp_bytes",
    "deadlocks", "blk_read_time", "blk_write_time",
)  # fmt: skip
BGWRITER = (
    "checkpoints_timed", "checkpoints_req", "checkpoint_write_time", "checkpoint_sync_time",
    "buffers_checkpoint", "buffers_clean", "maxwritten_clean", "buffers_backend",
    "buffers_backend_fsync", "buffers_alloc", "stats_reset",
)  # fmt: skip
CHECKPOINTER = (
    ("num_timed", "checkpoints_timed"), ("num_requested", "checkpoints_req"),
    ("restartpoints_timed", "restartpoints_timed"), ("restartpoints_req", "restartpoints_req"),
    ("restartpoints_done", "restartpoints_done"), ("write_time", "checkpoint_write_time"),
    ("sync_time", "checkpoint_sync_time"), ("buffers_written", "buffers_checkpoint"),
    ("stats_reset", "checkpointer_stats_reset"),
)  # fmt: skip
XID_LIMIT = 2**31  # transaction ids (and multixacts) wrap around at 2^31 in the past
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_BYTE_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "4kB": 4096,
               "8kB": 8192, "16kB": 16384, "32kB": 32768, "16MB": 16 * 1024**2,
               "32MB": 32 * 1024**2, "64MB": 64 * 1024**2}  # fmt: skip


@dataclass
class Family:
    """One metric family: `kind` is gauge, counter (name ends _total) or untyped."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Sequence[Any], value: Any) -> None:
        self.samples.append((tuple("" if v is None else str(v) for v in values), _f(value)))


def _f(v: Any) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    return float(v)


def setting_value(row: Mapping[str, Any]) -> tuple[str, float] | None:
    """(metric suffix, value) for a pg_settings row, unit-normalised like postgres_exporter."""
    name = str(row["name"]).replace(".", "_").replace("-", "_")
    text, unit, vartype = str(row["setting"]), row.get("unit") or "", row.get("vartype")
    if vartype == "bool":
        return name, 1.0 if text == "on" else 0.0
    try:
        value = float(text)
    except ValueError:
        return None
    if unit in _TIME_UNITS:
        return f"{name}_seconds", value * _TIME_UNITS[unit] if value >= 0 else value
    if unit in _BYTE_UNITS:
        return f"{name}_bytes", value * _BYTE_UNITS[unit] if value >= 0 else value
    return name, value


@dataclass(frozen=True)
class Limits:
    budget: int = SERIES_BUDGET
    top_k_per_parent: int = 3
    statements_top: int = 20
    max_tables: int = 100  # table entities (parents, top leaves, tables) before __other__
    max_indexes: int = 100  # index entities before __other__


class Builder:
    """Collects families for one target; every series gets the target label first."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.families: dict[str, Family] = {}

    def fam(self, name: str, kind: str, help: str, labels: Iterable[str] = ()) -> Family:
        f = self.families.get(name)
        if f is None:
            f = Family(name, kind, help, ("target", *labels))
            self.families[name] = f
        return f

    def put(self, name: str, kind: str, help: str, labels: dict[str, Any], value: Any) -> None:
        f = self.fam(name, kind, help, labels.keys())
        f.add([self.target, *labels.values()], value)

    def series(self) -> int:
        return sum(len(f.samples) for f in self.families.values())


def down_families(target: str, error: str | None, counters: Mapping[str, float]) -> list[Family]:
    """What a target that cannot be reached still exposes: pg_up 0 and the scrape counters."""
    b = Builder(target)
    b.put("pg_up", "gauge", "whether the last collection reached the server", {}, 0)
    b.put("pg_exporter_last_scrape_error", "gauge", "1 if the last collection failed", {}, 1)
    b.put("pg_exporter_scrapes_total", "counter", "collection rounds", {},
          counters.get("rounds", 0))  # fmt: skip
    return list(b.families.values())


def build(snap: Snapshot, limits: Limits = Limits()) -> list[Family]:
    """Every family of one snapshot, within `limits.budget` series."""
    if not snap.up:
        return down_families(snap.target, snap.error, snap.counters)
    b = Builder(snap.target)
    _core(b, snap)
    _database(b, snap)
    _activity(b, snap)
    _locks(b, snap)
    _settings(b, snap)
    _bgwriter(b, snap)
    _replication(b, snap)
    _wraparound(b, snap)
    _findings(b, snap)
    _partitions(b, snap)
    fixed = b.series()
    room = max(0, limits.budget - fixed)
    n_statements = min(limits.statements_top, (room // 10) // SERIES_PER_STATEMENT)
    _statements(b, snap, n_statements)
    room = max(0, limits.budget - b.series())
    # what is left: four fifths for tables, one fifth for indexes (one entity kept for __other__)
    tables = rollup.condense_tables(
        snap.rows("tables"),
        top_k=limits.top_k_per_parent,
        max_entities=min(limits.max_tables, max(0, (room * 4 // 5) // SERIES_PER_TABLE - 1)),
    )
    _tables(b, tables, str(snap.one("server").get("datname") or ""))
    room = max(0, limits.budget - b.series())
    indexes = rollup.condense_indexes(
        snap.rows("indexes"),
        max_entities=min(limits.max_indexes, max(0, room // SERIES_PER_INDEX - 1)),
    )
    _indexes(b, indexes)
    b.put("pgwarden_db_series", "gauge", "series this target emits (within the budget)", {},
          b.series() + 2)  # fmt: skip
    b.put("pgwarden_db_series_budget", "gauge", "series budget of this target", {},
          limits.budget)  # fmt: skip
    return list(b.families.values())


# -- families by collector ---------------------------------------------------


def _core(b: Builder, s: Snapshot) -> None:
    server = s.one("server")
    b.put("pg_up", "gauge", "whether the last collection reached the server", {}, 1)
    version = str(server.get("version") or "")
    short = str(server.get("short_version") or "").split(" ")[0]
    b.put("pg_static", "gauge", "server version (value is always 1)",
          {"version": version, "short_version": short}, 1)  # fmt: skip
    b.put("pg_postmaster_start_time_seconds", "gauge", "server start time (unix seconds)", {},
          server.get("start_time"))  # fmt: skip
    collected = {n: r for n, r in s.results.items() if n in catalog.BY_NAME}
    failed = [n for n, r in collected.items() if not r.ok]
    b.put("pg_exporter_last_scrape_error", "gauge",
          "1 if a collector failed in the last collection", {}, 1 if failed else 0)  # fmt: skip
    b.put("pg_exporter_last_scrape_duration_seconds", "gauge",
          "duration of the last collection round", {}, s.duration)  # fmt: skip
    b.put("pg_exporter_scrapes_total", "counter", "collection rounds", {},
          s.counters.get("rounds", 1))  # fmt: skip
    for name, r in sorted(collected.items()):
        b.put("pg_scrape_collector_success", "gauge", "1 if the collector's last run succeeded",
              {"collector": name}, 1 if r.ok else 0)  # fmt: skip
        b.put("pg_scrape_collector_duration_seconds", "gauge", "collector's last run time",
              {"collector": name}, r.duration)  # fmt: skip
        b.put("pgwarden_db_collector_age_seconds", "gauge",
              "age of the collector's data (slow collectors are served from cache)",
              {"collector": name}, (s.taken_at - r.taken_at).total_seconds())  # fmt: skip
        b.put("pgwarden_db_collector_errors_total", "counter", "collector runs that failed",
              {"collector": name}, s.counters.get(f"errors:{name}", 0))  # fmt: skip
        b.put("pgwarden_db_collector_timeouts_total", "counter",
              "collector runs cancelled by statement_timeout or lock_timeout",
              {"collector": name}, s.counters.get(f"timeouts:{name}", 0))  # fmt: skip
    b.put("pg_replication_is_replica", "gauge", "1 if the server is in recovery", {},
          server.get("is_replica"))  # fmt: skip
    b.put("pg_replication_lag_seconds", "gauge", "replay lag of a standby (0 on a primary)",
          {}, server.get("lag_seconds"))  # fmt: skip
    b.put("pg_replication_lag", "gauge", "legacy name of pg_replication_lag_seconds", {},
          server.get("lag_seconds"))  # fmt: skip
    b.put("pg_replication_last_replay_seconds", "gauge", "last replayed transaction time",
          {}, server.get("last_replay"))  # fmt: skip


def _database(b: Builder, s: Snapshot) -> None:
    help_ = "pg_stat_database.{}"
    for r in s.rows("database"):
        lab = {"datid": r["datid"], "datname": r["datname"]}
        b.put("pg_stat_database_numbackends", "gauge", "backends connected", lab,
              r["numbackends"])  # fmt: skip
        for col in DB_COUNTERS:
            b.put(f"pg_stat_database_{col}", "counter", help_.format(col), lab, r[col])
        b.put("pg_stat_database_stats_reset", "counter", "stats reset time (unix seconds)", lab,
              r["stats_reset"])  # fmt: skip
        b.put("pg_stat_database_active_time_seconds_total", "counter", "time running queries",
              lab, float(r.get("active_time") or 0) / 1000.0)  # fmt: skip
        for kind in ("tablespace", "lock", "snapshot", "bufferpin", "deadlock"):
            b.put(f"pg_stat_database_conflicts_confl_{kind}", "counter",
                  f"queries cancelled by {kind} conflicts", {"datname": r["datname"]},
                  r.get(f"confl_{kind}"))  # fmt: skip
        b.put("pg_database_connection_limit", "gauge", "datconnlimit", {"datname": r["datname"]},
              r.get("connection_limit"))  # fmt: skip
    for r in s.rows("database_sizes"):
        b.put("pg_database_size_bytes", "gauge", "database size (slow collector, cached)",
              {"datname": r["datname"]}, r["size_bytes"])  # fmt: skip


def _activity(b: Builder, s: Snapshot) -> None:
    for r in s.rows("activity"):
        lab = {"datname": r["datname"], "state": r["state"]}
        b.put("pg_stat_activity_count", "gauge", "sessions by database and state", lab,
              r["count"])  # fmt: skip
        b.put("pg_stat_activity_max_tx_duration", "gauge",
              "oldest transaction by database and state (seconds)", lab,
              r["max_tx_duration"])  # fmt: skip
    sess = s.one("sessions")
    if sess:
        for key, help_ in (
            ("idle_in_transaction_max_seconds", "oldest idle-in-transaction session (seconds)"),
            ("longest_active_transaction_seconds", "oldest transaction of an active session"),
            ("longest_transaction_seconds", "oldest transaction of any session"),
            ("longest_query_seconds", "longest running statement"),
        ):
            b.put(f"pgwarden_db_{key}", "gauge", help_, {}, sess.get(key))
        b.put("pgwarden_db_idle_in_transaction_sessions", "gauge",
              "sessions idle in a transaction", {}, sess.get("idle_in_transaction"))  # fmt: skip
    for r in s.rows("wait_events"):
        b.put("pgwarden_db_active_sessions", "gauge", "active sessions by wait event type",
              {"wait_event_type": r["wait_event_type"]}, r["count"])  # fmt: skip


def _locks(b: Builder, s: Snapshot) -> None:
    waiting: dict[str, float] = {}
    for r in s.rows("locks"):
        b.put("pg_locks_count", "gauge", "locks by database and mode",
              {"datname": r["datname"], "mode": r["mode"]}, r["count"])  # fmt: skip
        waiting[r["mode"]] = waiting.get(r["mode"], 0) + float(r["waiting"])
    for mode, n in sorted(waiting.items()):
        b.put("pgwarden_db_lock_waiting", "gauge", "lock requests not granted, by mode",
              {"mode": mode}, n)  # fmt: skip
    chains = lock_chains(s.rows("lock_waits"))
    b.put("pgwarden_db_lock_waits", "gauge", "sessions waiting on a lock held by another", {},
          len(chains))  # fmt: skip
    b.put("pgwarden_db_lock_wait_max_seconds", "gauge", "longest current lock wait", {},
          max((w.wait_seconds for w in chains), default=0))  # fmt: skip
    b.put("pgwarden_db_lock_root_blockers", "gauge", "sessions at the head of a wait chain", {},
          len({r for w in chains for r in w.roots}))  # fmt: skip
    for w in chains[:20]:  # the longest waits only: pids are high-churn labels
        b.put("pgwarden_db_lock_wait_seconds", "gauge",
              "one lock wait: blocked pid, blocker pid, root blocker, relation, mode",
              {"blocked_pid": w.pid, "blocker_pid": ",".join(map(str, w.blockers)),
               "root_pid": ",".join(map(str, w.roots)), "datname": w.datname or "",
               "relation": w.relation or "", "mode": (w.mode or "").lower(),
               "locktype": w.locktype or ""}, w.wait_seconds)  # fmt: skip


def _settings(b: Builder, s: Snapshot) -> None:
    for r in s.rows("settings"):
        got = setting_value(r)
        if got is not None:
            b.put(f"pg_settings_{got[0]}", "gauge", f"server setting {r['name']}", {}, got[1])


def _bgwriter(b: Builder, s: Snapshot) -> None:
    r = s.one("bgwriter")
    if not r:
        return
    for col in BGWRITER:
        b.put(f"pg_stat_bgwriter_{col}_total", "counter", f"pg_stat_bgwriter {col}", {}, r[col])
    if "restartpoints_done" in r:  # PostgreSQL 17+: the checkpointer's own view
        for name, col in CHECKPOINTER:
            b.put(f"pg_stat_checkpointer_{name}_total", "counter", f"pg_stat_checkpointer {name}",
                  {}, r.get(col))  # fmt: skip
    a = s.one("archiver")
    if a:
        b.put("pg_stat_archiver_archived_count", "counter", "WAL files archived", {},
              a["archived_count"])  # fmt: skip
        b.put("pg_stat_archiver_failed_count", "counter", "failed archive attempts", {},
              a["failed_count"])  # fmt: skip
        b.put("pg_stat_archiver_last_archive_age", "gauge", "seconds since the last archive", {},
              a["last_archive_age"])  # fmt: skip
    w = s.one("wal")
    if w:
        b.put("pg_wal_segments", "gauge", "WAL segments on disk", {}, w["segments"])
        b.put("pg_wal_size_bytes", "gauge", "WAL size on disk", {}, w["size_bytes"])


def _replication(b: Builder, s: Snapshot) -> None:
    for r in s.rows("replication"):
        lab = {"application_name": r["application_name"], "client_addr": r["client_addr"],
               "state": r["state"]}  # fmt: skip
        b.put("pg_stat_replication_pg_wal_lsn_diff", "gauge", "standby replay lag in bytes",
              lab, r["replay_lag_bytes"])  # fmt: skip
        b.put("pgwarden_db_replication_lag_seconds", "gauge", "standby replay lag", lab,
              r["replay_lag_seconds"])  # fmt: skip
    for r in s.rows("slots"):
        lab = {"slot_name": r["slot_name"], "database": r["database"]}
        b.put("pg_replication_slots_active", "gauge", "1 if the slot is in use", lab, r["active"])
        b.put("pg_replication_slots_pg_wal_lsn_diff", "gauge", "WAL the slot retains (bytes)",
              lab, r["retained_bytes"])  # fmt: skip
        b.put("pgwarden_db_replication_slot_retained_wal_bytes", "gauge",
              "WAL held back by the slot", {**lab, "active": str(bool(r["active"])).lower()},
              r["retained_bytes"])  # fmt: skip


def _wraparound(b: Builder, s: Snapshot) -> None:
    for r in s.rows("wraparound"):
        lab = {"datname": r["datname"]}
        b.put("pg_database_wraparound_age_datfrozenxid_seconds", "gauge",
              "age(datfrozenxid), in transactions", lab, r["xid_age"])  # fmt: skip
        b.put("pg_database_wraparound_age_datminmxid_seconds", "gauge",
              "mxid_age(datminmxid), in multixacts", lab, r["mxid_age"])  # fmt: skip
        b.put("pgwarden_db_xid_wraparound_headroom_ratio", "gauge",
              "share of the 2^31 transaction id space still free", lab,
              1 - float(r["xid_age"]) / XID_LIMIT)  # fmt: skip
        b.put("pgwarden_db_multixact_wraparound_headroom_ratio", "gauge",
              "share of the 2^31 multixact space still free", lab,
              1 - float(r["mxid_age"]) / XID_LIMIT)  # fmt: skip


def _findings(b: Builder, s: Snapshot) -> None:
    f = s.one("index_findings")
    if f:
        for kind in ("unused", "duplicate", "invalid", "bloated", "large"):
            count = f.get(f"{kind}_count", len(f.get(kind) or []))
            b.put("pgwarden_db_index_findings", "gauge", "indexes found by kind",
                  {"kind": kind}, count)  # fmt: skip
        for item in (f.get("unused") or [])[:20]:
            schema, _, index = item["index"].partition(".")
            b.put("pgwarden_db_unused_index_bytes", "gauge",
                  "size of an index never scanned since the stats reset (largest 20)",
                  {"schemaname": schema, "relname": item["table"].partition(".")[2],
                   "indexrelname": index, "safe_to_drop": str(item["safe_to_drop"]).lower()},
                  item["index_bytes"])  # fmt: skip
        for item in (f.get("bloated") or [])[:20]:
            schema, _, index = item["index"].partition(".")
            b.put("pgwarden_db_index_bloat_ratio", "gauge",
                  "index size over its table's size, for indexes bigger than their table",
                  {"schemaname": schema, "indexrelname": index},
                  item.get("ratio") or 0)  # fmt: skip
    debt = s.rows("vacuum_debt")
    b.put("pgwarden_db_vacuum_debt_tables", "gauge",
          "tables whose dead tuples passed their autovacuum trigger", {}, len(debt))  # fmt: skip
    b.put("pgwarden_db_vacuum_debt_dead_tuples", "gauge",
          "dead tuples above the autovacuum trigger, summed", {},
          sum(d["n_dead_tup"] - d["trigger"] for d in debt))  # fmt: skip


def _partitions(b: Builder, s: Snapshot) -> None:
    for r in s.rows("partition_parents"):
        lab = {"schemaname": r["schemaname"], "relname": r["relname"]}
        b.put("pgwarden_db_partitions", "gauge", "leaf partitions of a partitioned table", lab,
              r["partitions"])  # fmt: skip
        b.put("pgwarden_db_partition_rollup_n_live_tup", "gauge", "live tuples, all leaves", lab,
              r["n_live_tup"])  # fmt: skip
        b.put("pgwarden_db_partition_rollup_n_dead_tup", "gauge", "dead tuples, all leaves", lab,
              r["n_dead_tup"])  # fmt: skip
        b.put("pgwarden_db_partition_rollup_bytes", "gauge", "size of all leaves", lab,
              r["bytes"])  # fmt: skip


def _statements(b: Builder, s: Snapshot, top: int) -> None:
    rows = s.rows("statements")
    if not rows and "statements" not in s.results:
        return
    merged: dict[tuple[str, str, str], Row] = {}
    for r in rows:  # top-level and nested rows of one queryid are one series (#998)
        key = (str(r["usename"]), str(r["datname"]), str(r["queryid"]))
        m = merged.setdefault(key, {"calls": 0.0, "total_exec_time": 0.0, "rows": 0.0,
                                    "block_read_time": 0.0, "block_write_time": 0.0,
                                    "query": r.get("query")})  # fmt: skip
        for k in ("calls", "total_exec_time", "rows", "block_read_time", "block_write_time"):
            m[k] += float(r.get(k) or 0)
    ranked = sorted(merged.items(), key=lambda kv: kv[1]["total_exec_time"], reverse=True)
    for (user, datname, qid), m in ranked[:top]:
        lab = {"user": user, "datname": datname, "queryid": qid}
        b.put("pg_stat_statements_calls_total", "counter", "calls", lab, m["calls"])
        b.put("pg_stat_statements_seconds_total", "counter", "execution time", lab,
              m["total_exec_time"] / 1000)  # fmt: skip
        b.put("pg_stat_statements_rows_total", "counter", "rows", lab, m["rows"])
        b.put("pg_stat_statements_block_read_seconds_total", "counter", "block read time", lab,
              m["block_read_time"] / 1000)  # fmt: skip
        b.put("pg_stat_statements_block_write_seconds_total", "counter", "block write time", lab,
              m["block_write_time"] / 1000)  # fmt: skip
        b.put("pg_stat_statements_query_id", "gauge", "query text of a queryid (value 1)",
              {"queryid": qid, "query": str(m["query"] or "")[:120]}, 1)  # fmt: skip
    b.put("pgwarden_db_statements_tracked", "gauge", "pg_stat_statements entries collected", {},
          len(merged))  # fmt: skip
    b.put("pgwarden_db_statements_calls_total", "counter", "calls of every collected statement",
          {}, sum(m["calls"] for m in merged.values()))  # fmt: skip
    b.put("pgwarden_db_statements_seconds_total", "counter",
          "execution time of every collected statement", {},
          sum(m["total_exec_time"] for m in merged.values()) / 1000)  # fmt: skip


def _tables(b: Builder, entities: Sequence[Row], datname: str) -> None:
    for e in entities:
        lab = {"datname": datname, "schemaname": e["schemaname"],
               "relname": e["relname"]}  # fmt: skip
        for col in TABLE_COUNTERS:
            b.put(f"pg_stat_user_tables_{col}", "counter", f"pg_stat_user_tables.{col}", lab,
                  e.get(col))  # fmt: skip
        for col in TABLE_GAUGES:
            b.put(f"pg_stat_user_tables_{col}", "gauge", f"pg_stat_user_tables.{col}", lab,
                  e.get(col))  # fmt: skip
        b.put("pg_stat_user_tables_table_size_bytes", "gauge", "table size (cached)", lab,
              rollup.table_size(e))  # fmt: skip
        b.put("pg_stat_user_tables_index_size_bytes", "gauge", "size of the table's indexes",
              lab, e.get("indexes_bytes"))  # fmt: skip
        for part in STATIO_TABLES:
            for io in ("read", "hit"):
                b.put(f"pg_statio_user_tables_{part}_blocks_{io}", "counter",
                      f"pg_statio_user_tables.{part}_blks_{io}", lab,
                      e.get(f"{part}_blks_{io}"))  # fmt: skip
        dead, live = float(e.get("n_dead_tup") or 0), float(e.get("n_live_tup") or 0)
        b.put("pgwarden_db_table_dead_tuple_ratio", "gauge", "n_dead_tup / (live + dead)",
              {**lab, "kind": e.get("kind", "table")},
              dead / (dead + live) if dead + live else 0)  # fmt: skip


def _indexes(b: Builder, entities: Sequence[Row]) -> None:
    for e in entities:
        lab = {"schemaname": e["schemaname"], "relname": e["relname"],
               "indexrelname": e["indexrelname"]}  # fmt: skip
        b.put("pg_statio_user_indexes_idx_blks_read_total", "counter", "index blocks read", lab,
              e.get("idx_blks_read"))  # fmt: skip
        b.put("pg_statio_user_indexes_idx_blks_hit_total", "counter", "index blocks hit", lab,
              e.get("idx_blks_hit"))  # fmt: skip
