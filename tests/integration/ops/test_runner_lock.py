"""An operation's lock is free the moment its run returns."""

from __future__ import annotations

from pgwarden.ops.runner import RunStatus, run_op


def test_back_to_back_runs_of_one_operation_are_never_skipped(services):
    # The lock used to be released by closing its connection, which the server
    # finishes after the client has moved on: a run started right after
    # another could find it still held and be skipped as "already running".
    statuses = [run_op(services, "analyze", "t", lambda ctx: {}).status for _ in range(100)]
    assert statuses == [RunStatus.OK] * 100
