from __future__ import annotations

import threading

import psycopg
import pytest

from pgwarden.errors import InputInvalid
from pgwarden.ops.errors import OpsError
from pgwarden.ops.lifecycle import add_policy, eligible_rows, list_policies, run_policies
from pgwarden.ops.runner import RunStatus, list_runs


@pytest.fixture
def scores(conn):
    conn.execute(
        """
        CREATE TABLE public.scores (id bigserial PRIMARY KEY, last_observed_at timestamptz NOT NULL,
                                    note text);
        INSERT INTO public.scores (last_observed_at, note)
            SELECT now() - (g % 60) * interval '1 day', repeat('x', 50)
            FROM generate_series(1, 6000) g;
        """
    )
    conn.commit()
    n = conn.execute(
        "SELECT count(*) FROM public.scores WHERE last_observed_at < now() - interval '30 days'"
    ).fetchone()[0]
    conn.commit()
    return n


def _count(conn, older_than_30_days=False):
    conn.commit()
    query = "SELECT count(*) FROM public.scores"
    if older_than_30_days:
        query += " WHERE last_observed_at < now() - interval '30 days'"
    return conn.execute(query).fetchone()[0]


def test_retention_deletes_in_batches_and_dry_run_deletes_nothing(ops_services, scores, conn):
    ops_services.config.set("ops.batch_size", 500)
    p = add_policy(
        ops_services, "retention", "public.scores", "last_observed_at", older_than="30 days"
    )
    assert p.older_than == "30 days"
    [dry] = run_policies(ops_services, "retention", dry_run=True)
    assert dry.result["would_delete"] == scores and _count(conn) == 6000
    [run] = run_policies(ops_services, "retention")
    assert run.status is RunStatus.OK
    assert run.result["deleted"] == scores and run.result["batches"] > 3
    assert _count(conn, older_than_30_days=True) == 0
    assert _count(conn) == 6000 - scores
    assert eligible_rows(ops_services, p) == 0
    [again] = run_policies(ops_services, "retention")
    assert again.result["deleted"] == 0


def test_retention_killed_mid_run_resumes_with_its_cutoff(ops_services, scores, conn):
    ops_services.config.set("ops.batch_size", 300)
    add_policy(ops_services, "retention", "public.scores", "last_observed_at", older_than="30 days")

    def die(batches, done):
        if batches == 3:
            raise KeyboardInterrupt  # as if the process were stopped here

    with pytest.raises(KeyboardInterrupt):
        run_policies(ops_services, "retention", on_batch=die)
    [p] = list_policies(ops_services, "retention")
    assert p.state and p.state["page"] > 0
    first = p.state["done"]
    assert 0 < first < scores and _count(conn) == 6000 - first
    [run] = run_policies(ops_services, "retention")
    assert run.status is RunStatus.OK
    assert run.result["resumed_from_page"] == p.state["page"]
    assert run.result["deleted"] == scores  # the total of both runs, carried in the state
    assert _count(conn, older_than_30_days=True) == 0
    [p] = list_policies(ops_services, "retention")
    assert p.state is None
    statuses = [r.status for r in list_runs(ops_services, "retention")]
    assert statuses == [RunStatus.OK, RunStatus.FAILED]


def test_a_held_lock_gives_a_skipped_run_and_deletes_nothing(ops_services, scores, conn):
    ops_services.config.set("ops.lock_timeout", 0.2)
    add_policy(ops_services, "retention", "public.scores", "last_observed_at", older_than="30 days")
    with psycopg.connect(ops_services.db.conninfo) as holder:
        holder.execute("LOCK TABLE public.scores IN ACCESS EXCLUSIVE MODE")
        [run] = run_policies(ops_services, "retention")
        holder.rollback()
    assert run.status is RunStatus.SKIPPED
    assert "public.scores: a lock was not granted within 200 ms" in run.error
    assert _count(conn) == 6000
    [p] = list_policies(ops_services, "retention")
    assert p.state is None


def test_expires_column_policy(ops_services, conn):
    conn.execute(
        "CREATE TABLE public.cache (k int, expires_at timestamptz);"
        "INSERT INTO public.cache SELECT g, now() + (g - 50) * interval '1 hour' "
        "FROM generate_series(1, 100) g"
    )
    conn.commit()
    add_policy(ops_services, "retention", "public.cache", "expires_at", expires=True)
    [run] = run_policies(ops_services, "retention")
    assert run.result["deleted"] == 50  # g = 50 expired at insert time
    assert conn.execute("SELECT min(k) FROM public.cache").fetchone()[0] == 51


def test_retention_of_a_table_dropped_later_fails_naming_it(ops_services, scores, conn):
    add_policy(ops_services, "retention", "public.scores", "last_observed_at", older_than="30 days")
    conn.execute("DROP TABLE public.scores")
    conn.commit()
    with pytest.raises(OpsError, match="public.scores or its column last_observed_at no longer"):
        run_policies(ops_services, "retention")
    assert list_runs(ops_services, "retention")[0].status is RunStatus.FAILED


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"table": "public.nope", "column": "x", "older_than": "1 day"}, "table", "no such table"),
        ({"table": "public.scores", "column": "nope", "older_than": "1 day"}, "column", "no such"),
        (
            {"table": "public.scores", "column": "note", "older_than": "1 day"},
            "column",
            "timestamp",
        ),
        (
            {"table": "public.scores", "column": "last_observed_at", "older_than": "soon"},
            "older_than",
            "span of time",
        ),
        (
            {"table": "public.scores", "column": "last_observed_at", "older_than": "-3 days"},
            "older_than",
            "positive",
        ),
    ],
)
def test_bad_retention_policies_are_refused(ops_services, scores, kwargs, field, text):
    with pytest.raises(InputInvalid) as info:
        add_policy(ops_services, "retention", **kwargs)
    assert info.value.field == field and text in str(info.value)
    assert list_policies(ops_services) == []


@pytest.fixture
def people(conn):
    conn.execute(
        """
        CREATE TABLE public.people (id bigserial PRIMARY KEY, email text, phone varchar(40),
                                    ip inet, note text NOT NULL DEFAULT 'n',
                                    created_at timestamptz NOT NULL);
        INSERT INTO public.people (email, phone, ip, created_at)
            SELECT 'p' || g || '@example.com', '+82-10-' || g,
                   ('192.168.' || (g % 200) || '.' || (g % 250))::inet,
                   now() - (g % 200) * interval '1 day'
            FROM generate_series(1, 4000) g;
        """
    )
    conn.commit()
    n = conn.execute(
        "SELECT count(*) FROM public.people WHERE created_at < now() - interval '90 days'"
    ).fetchone()[0]
    conn.commit()
    return n


def test_masking_each_method_is_idempotent_and_leaves_no_eligible_row(ops_services, people, conn):
    ops_services.config.set("ops.batch_size", 400)
    ops_services.config.set("ops.mask_salt", "s3cret")
    for column, method in (("email", "hash"), ("phone", "redact"), ("ip", "ip-prefix")):
        add_policy(
            ops_services, "mask", "public.people", column, method=method, older_than="90 days"
        )
    add_policy(
        ops_services,
        "mask",
        "public.people",
        "note",
        method="redact",
        older_than="90 days",
        age_column="created_at",
    )
    runs = run_policies(ops_services, "mask")
    assert [r.status for r in runs] == [RunStatus.OK] * 4
    assert all(r.result["masked"] == people for r in runs)
    for p in list_policies(ops_services, "mask"):
        assert eligible_rows(ops_services, p) == 0
    conn.commit()
    old = conn.execute(
        "SELECT email, phone, host(ip), masklen(ip) FROM public.people "
        "WHERE created_at < now() - interval '90 days' LIMIT 1"
    ).fetchone()
    assert old[0].startswith("sha256:") and len(old[0]) == 71
    assert old[1] == "[redacted]" and old[2].endswith(".0") and old[3] == 24
    young = conn.execute(
        "SELECT email FROM public.people WHERE created_at > now() - interval '80 days' LIMIT 1"
    ).fetchone()
    assert young[0].endswith("@example.com")
    again = run_policies(ops_services, "mask")
    assert all(r.result["masked"] == 0 for r in again)


def test_hash_masking_gives_stable_pseudonyms(ops_services, conn):
    conn.execute(
        "CREATE TABLE public.a (who text, created_at timestamptz);"
        "INSERT INTO public.a VALUES ('x@y', now() - interval '1 year'), "
        "('x@y', now() - interval '2 years'), ('z@y', now() - interval '2 years')"
    )
    conn.commit()
    add_policy(ops_services, "mask", "public.a", "who", method="hash", older_than="30 days")
    run_policies(ops_services, "mask")
    conn.commit()
    values = [r[0] for r in conn.execute("SELECT who FROM public.a ORDER BY created_at DESC")]
    assert values[0] == values[1] != values[2]


def test_masking_killed_mid_run_resumes(ops_services, people, conn):
    ops_services.config.set("ops.batch_size", 200)
    add_policy(ops_services, "mask", "public.people", "phone", method="null", older_than="90 days")

    def die(batches, done):
        if batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_policies(ops_services, "mask", on_batch=die)
    [run] = run_policies(ops_services, "mask")
    assert run.status is RunStatus.OK and run.result["masked"] == people
    conn.commit()
    assert (
        conn.execute(
            "SELECT count(*) FROM public.people "
            "WHERE created_at < now() - interval '90 days' AND phone IS NOT NULL"
        ).fetchone()[0]
        == 0
    )


def test_masking_under_concurrent_updates_leaves_nothing_clear(ops_services, people, conn):
    ops_services.config.set("ops.batch_size", 100)
    p = add_policy(
        ops_services, "mask", "public.people", "email", method="redact", older_than="90 days"
    )
    stop = threading.Event()

    def churn():
        with psycopg.connect(ops_services.db.conninfo, autocommit=True) as c:
            i = 0
            while not stop.is_set():
                c.execute(
                    "UPDATE public.people SET note = note || '.' WHERE id %% 97 = %s", (i % 97,)
                )
                i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        [run] = run_policies(ops_services, "mask")
    finally:
        stop.set()
        t.join()
    assert run.status is RunStatus.OK
    assert eligible_rows(ops_services, p) == 0


@pytest.mark.parametrize(
    ("column", "method", "field", "text"),
    [
        ("email", "scramble", "method", "must be one of hash, null, redact, ip-prefix"),
        ("email", "ip-prefix", "column", "inet or cidr"),
        ("ip", "hash", "column", "text column"),
        ("note", "null", "column", "NOT NULL"),
        ("phone", "hash", "column", "too short"),
    ],
)
def test_bad_masking_policies_are_refused(ops_services, people, column, method, field, text):
    with pytest.raises(InputInvalid) as info:
        add_policy(
            ops_services, "mask", "public.people", column, method=method, older_than="90 days"
        )
    assert info.value.field == field and text in str(info.value)
