"""The CLI's log lines never carry a traceback unless PGWARDEN_LOG_LEVEL=DEBUG."""

from __future__ import annotations

import logging

from pgwarden.cli.common import OneLineErrors


def _record_of(exc: BaseException) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__)
    return logging.LogRecord(
        "procrastinate.manager", logging.ERROR, __file__, 1, "listener lost %s", ("x",), info
    )


def test_an_exception_and_its_cause_become_one_line() -> None:
    try:
        try:
            raise ConnectionRefusedError("connection refused\n\tIs the server running?")
        except ConnectionRefusedError as inner:
            raise RuntimeError("Database error.") from inner
    except RuntimeError as outer:
        record = _record_of(outer)
    assert OneLineErrors().filter(record)
    assert record.exc_info is None and record.args is None
    assert record.getMessage() == (
        "listener lost x (RuntimeError: Database error. <- "
        "ConnectionRefusedError: connection refused)"
    )
    formatted = logging.Formatter().format(record)
    assert "Traceback" not in formatted and "\n" not in formatted


def test_a_record_without_an_exception_is_left_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("line",), None)
    assert OneLineErrors().filter(record)
    assert record.getMessage() == "plain line" and record.args == ("line",)
