import threading
import time

from pgwarden.db.queries import Queries
from pgwarden.service.defer import defer
from pgwarden.service.tasks import HEARTBEAT
from pgwarden.service.worker import list_workers, run_worker


def test_a_worker_runs_a_deferred_heartbeat_and_records_itself(services, conn):
    job_id = defer(services, HEARTBEAT)
    assert job_id > 0
    run_worker(services, wait=False, install_signal_handlers=False, name="w-test")
    beat = conn.execute(Queries("pgwarden.service", "pgwarden")["last_heartbeat"]).fetchone()
    assert beat[0] == "w-test"
    (w,) = list_workers(services)
    # the periodic schedule may add its own heartbeat for the current minute
    succeeded = conn.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
    ).fetchone()[0]
    assert (w.name, w.jobs_done, w.jobs_failed, w.alive) == ("w-test", succeeded, 0, False)
    assert w.stopped_at is not None
    status = conn.execute(
        "SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id]
    ).fetchone()
    assert status == ("succeeded",)


def test_a_failing_job_is_counted_with_its_error(services, conn):
    from pgwarden.service.job_queue import build_app

    def add_failing(app):
        @app.task(name="test.boom", queue="test")
        def boom() -> None:
            raise RuntimeError("kaput")

    app = build_app(services)
    add_failing(app)
    with app.open():
        app.configure_task("test.boom").defer()
    run_worker(
        services, wait=False, install_signal_handlers=False, name="w-fail", on_app=add_failing
    )
    (w,) = list_workers(services)
    assert w.jobs_failed == 1 and "RuntimeError: kaput" in (w.last_error or "")


def test_a_running_worker_is_alive_until_stopped(services):
    stop = threading.Event()
    t = threading.Thread(
        target=run_worker,
        args=(services,),
        kwargs={"wait": True, "name": "w-live", "stop": stop},
        daemon=True,
    )
    t.start()
    deadline = time.monotonic() + 20
    alive = False
    while time.monotonic() < deadline and not alive:
        ws = list_workers(services)
        alive = bool(ws) and ws[0].alive
        time.sleep(0.05)
    assert alive
    stop.set()
    t.join(timeout=20)
    assert not t.is_alive()
    (w,) = list_workers(services)
    assert not w.alive and w.stopped_at is not None
