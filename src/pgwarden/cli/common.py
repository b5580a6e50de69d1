"""What every CLI command shares: settings, opening services, output helpers."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

from pgwarden.config.runtime import RuntimeConfig
from pgwarden.db.pool import Database, connect
from pgwarden.jsonable import jsonable
from pgwarden.services import Services
from pgwarden.settings import Settings, load_settings

out = Console()  # results
err = Console(stderr=True, soft_wrap=True)  # progress, logs, errors

_settings: Settings | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def _one_line(exc: BaseException) -> str:
    """An exception and its causes on one line: `Outer: text <- Inner: text`."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 3:
        text = next((ln.strip() for ln in str(seen).splitlines() if ln.strip()), "")
        parts.append(f"{type(seen).__name__}: {text}" if text else type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


class OneLineErrors(logging.Filter):
    """Log records that carry an exception (procrastinate logs a lost database with its
    stack) show it as one line; PGWARDEN_LOG_LEVEL=DEBUG keeps the full traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({_one_line(record.exc_info[1])})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(level: str) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    if level != "DEBUG":
        handler.addFilter(OneLineErrors())
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    quiet = "WARNING" if level != "DEBUG" else "DEBUG"
    for name in ("alembic", "procrastinate", "psycopg.pool", "uvicorn.access", "httpx"):
        logging.getLogger(name).setLevel(quiet)


@contextmanager
def open_services(
    name: str = "pgwarden-cli", *, require_schema: bool = True, short_lived: bool = False
) -> Iterator[Services]:
    """Connect (starting the embedded server if needed) and close in `finally`.

    `short_lived`: a command that does a few round trips in one thread and
    exits (no pool threads to start and join; see `DirectPool`)."""
    s = settings()
    db = connect(s, name=name, short_lived=short_lived)
    try:
        if require_schema:
            ensure_migrated(db)
        yield Services(db=db, config=RuntimeConfig(db))
    finally:
        db.close()


def ensure_migrated(db: Database) -> None:
    # lazy for start-up time: every `pgwarden` command imports this module
    from pgwarden.db import migrate

    with db.connection() as conn:
        now = migrate.stored_revision(conn, db.schema)
    migrate.check_revision(db.schema, now, migrate.head())


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2, sort_keys=False) + "\n")
