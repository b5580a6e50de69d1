"""What one collection round of one target produced: plain data, JSON round-trippable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]


@dataclass
class Result:
    """One collector's rows (or its failure) at the time it last ran."""

    rows: list[Row]
    taken_at: datetime
    duration: float = 0.0
    error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "taken_at": self.taken_at.isoformat(),
            "duration": self.duration,
            "error": self.error,
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Result:
        return cls(
            rows=list(d.get("rows") or []),
            taken_at=_when(d["taken_at"]),
            duration=float(d.get("duration") or 0.0),
            error=d.get("error"),
            timed_out=bool(d.get("timed_out")),
        )


@dataclass
class Snapshot:
    """A target's state after one round: every collector's latest result.

    `counters` are cumulative per process: rounds, and per collector errors and
    timeouts (`errors:<name>`, `timeouts:<name>`).
    """

    target: str
    taken_at: datetime
    up: bool
    version_num: int | None = None
    error: str | None = None
    duration: float = 0.0
    results: dict[str, Result] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # collectors without their extension
    counters: dict[str, float] = field(default_factory=dict)

    def rows(self, collector: str) -> list[Row]:
        # a collector that timed out keeps serving its last good rows (error still recorded)
        r = self.results.get(collector)
        return r.rows if r is not None else []

    def one(self, collector: str) -> Row:
        rows = self.rows(collector)
        return rows[0] if rows else {}

    def settings(self) -> dict[str, float]:
        """Settings as unit-normalised numbers (see families.setting_value)."""
        from pgwarden.health.families import setting_value

        out: dict[str, float] = {}
        for r in self.rows("settings"):
            value = setting_value(r)
            if value is not None:
                out[r["name"]] = value[1]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "taken_at": self.taken_at.isoformat(),
            "up": self.up,
            "version_num": self.version_num,
            "error": self.error,
            "duration": self.duration,
            "results": {k: v.to_json() for k, v in self.results.items()},
            "missing": self.missing,
            "counters": self.counters,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Snapshot:
        return cls(
            target=d["target"],
            taken_at=_when(d["taken_at"]),
            up=bool(d["up"]),
            version_num=d.get("version_num"),
            error=d.get("error"),
            duration=float(d.get("duration") or 0.0),
            results={k: Result.from_json(v) for k, v in (d.get("results") or {}).items()},
            missing=list(d.get("missing") or []),
            counters={k: float(v) for k, v in (d.get("counters") or {}).items()},
        )


def _when(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
