"""Errors of the operations feature; each names what failed and where."""

from __future__ import annotations

from pgwarden.errors import PgwardenError


class OpsError(PgwardenError):
    """An operation that could not be done; the message names what and where."""


class OpSkipped(OpsError):
    """Raised inside an operation to end it as SKIPPED (a lock held elsewhere, nothing to do)."""


class ToolTooOld(OpsError):
    def __init__(self, tool: str, path: str, client: str, server: str) -> None:
        self.tool = tool
        self.client = client
        self.server = server
        super().__init__(
            f"{tool} {client} ({path}) is older than the server (PostgreSQL {server}); "
            f"a dump needs {tool} of major version >= the server's: install a newer client "
            "or set ops.bin_dir"
        )


class ToolFailed(OpsError):
    def __init__(self, what: str, exit_code: int | None, detail: str) -> None:
        self.what = what
        self.exit_code = exit_code
        self.detail = detail
        how = "timed out" if exit_code is None else f"exited with status {exit_code}"
        super().__init__(f"{what} {how}: {detail.strip()[-1500:] or '(no output)'}")


class BackupDirUnusable(OpsError):
    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(f"backup directory {path}: {reason}; set ops.backup_dir to a writable one")
