"""One pass over a frame: row-level masks staged once, every aggregate in one `select`.

The evaluator and the timestamp plans add expressions here; `run` reads
each column once and lets polars run the aggregates in parallel.
"""

from __future__ import annotations

from typing import Any

import polars as pl


class OnePass:
    """Row-level masks become columns first (`col`), so each is computed once however
    many aggregates read it; then all aggregates (`add`) run in one select."""

    def __init__(self) -> None:
        self.exprs: list[pl.Expr] = []
        self.levels: list[list[pl.Expr]] = [[], []]
        self.staged: pl.DataFrame | None = None
        self._n = 0

    def col(self, expr: pl.Expr, level: int = 0) -> pl.Expr:
        """Materialise a row-level expression; level 1 may read level-0 columns."""
        name = f"__m{self._n}"
        self._n += 1
        self.levels[level].append(expr.alias(name))
        return pl.col(name)

    def add(self, expr: pl.Expr) -> str:
        alias = f"_e{len(self.exprs)}"
        self.exprs.append(expr.alias(alias))
        return alias

    def run(self, frame: pl.DataFrame) -> dict[str, Any]:
        staged = frame
        for level in self.levels:
            if level:
                staged = staged.with_columns(level)
        self.staged = staged
        if not self.exprs:
            return {}
        return staged.select(self.exprs).row(0, named=True)


def ids_of(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(str(v) for v in value)


def finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
