"""One pass over a frame: row-level masks staged once, every aggregate in one query.

The evaluator and the timestamp plans add expressions here. `run` builds
one lazy query (the staged masks as columns, then every aggregate in one
`select`) and collects it once, so polars reads each column once and runs
the aggregates in parallel.

Every aggregate declares how two chunks' values combine (`merge`), so the
same pass can run over a batch cut into chunks (`run_chunks`, for batches
larger than the memory ceiling) and give the values the whole frame would
have given: sums add, sample lists keep the first ones in record order,
`all` ands, `first` keeps the earliest chunk's, minima and maxima combine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import polars as pl

#: How the pass is collected: the in-memory engine, with expression simplification
#: and common subexpressions computed once (the sampled values behind the
#: quantiles, the candidate rows behind the duplicate counts). The default
#: streaming engine and its plan optimisations cost 4-5 ms on a 500-record batch
#: and twice the time on a million records (measured with benchmarks/quality.py).
ENGINE: Literal["in-memory"] = "in-memory"
OPTIMIZATIONS = pl.QueryOptFlags.none(simplify_expression=True, comm_subexpr_elim=True)

#: the global record index of a row; chunks carry it as a column, a whole
#: frame computes it (only when some expression reads it)
ROW = "__row"

Merge = Callable[[Sequence[Any]], Any]


def _sum(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _all(values: Sequence[Any]) -> bool:
    return all(v is not False for v in values)


def _first(values: Sequence[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _min(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _concat(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v:
            out.extend(v)
    return out


def head(n: int) -> Merge:
    """Merge of sample lists: the first `n` in record order (chunks come in order)."""

    def merge(values: Sequence[Any]) -> list[Any]:
        return _concat(values)[:n]

    return merge


MERGES: dict[str, Merge] = {
    "sum": _sum,
    "all": _all,
    "first": _first,
    "min": _min,
    "max": _max,
    "concat": _concat,
}


class OnePass:
    """Row-level masks become columns first (`col`), so each is computed once however
    many aggregates read it; then all aggregates (`add`) run in one select."""

    def __init__(self, prefix: str = "_e") -> None:
        #: aliases start with this; a second pass over the same frame takes another
        #: prefix so its results can join the first pass's
        self.prefix = prefix
        self.exprs: list[pl.Expr] = []
        self.merges: dict[str, Merge] = {}
        self.levels: list[list[pl.Expr]] = [[], []]
        self.uses_row = False
        self._n = 0

    def copy(self) -> OnePass:
        """A copy that can take more expressions without changing this pass."""
        other = OnePass(self.prefix)
        other.exprs = list(self.exprs)
        other.merges = dict(self.merges)
        other.levels = [list(level) for level in self.levels]
        other.uses_row = self.uses_row
        other._n = self._n
        return other

    def col(self, expr: pl.Expr, level: int = 0) -> pl.Expr:
        """Materialise a row-level expression; level 1 may read level-0 columns."""
        name = f"_{self.prefix}m{self._n}"
        self._n += 1
        self.levels[level].append(expr.alias(name))
        return pl.col(name)

    def row(self) -> pl.Expr:
        """The global record index (0-based) of each row."""
        self.uses_row = True
        return pl.col(ROW)

    def add(self, expr: pl.Expr, merge: str | Merge = "sum") -> str:
        """An aggregate; `merge` says how chunk values combine (a MERGES name or a function)."""
        alias = f"{self.prefix}{len(self.exprs)}"
        self.exprs.append(expr.alias(alias))
        self.merges[alias] = MERGES[merge] if isinstance(merge, str) else merge
        return alias

    def samples(self, expr: pl.Expr, n: int) -> str:
        """At most `n` values of `expr` (already filtered), in record order."""
        return self.add(expr.head(n).implode(), head(n))

    def query(self, frame: pl.DataFrame, *, whole: bool = True) -> pl.LazyFrame:
        """The lazy query of this pass over `frame`; `whole`: the frame is the batch
        (its record index is computed), else a chunk carrying the ROW column."""
        lf = frame.lazy()
        if self.uses_row and whole:
            lf = lf.with_row_index(ROW)
        for level in self.levels:
            if level:
                lf = lf.with_columns(level)
        return lf

    def run(self, frame: pl.DataFrame) -> dict[str, Any]:
        """Every aggregate over a whole frame, in one collect."""
        if not self.exprs:
            return {}
        return collect(self.query(frame).select(self.exprs)).row(0, named=True)

    def run_chunk(self, chunk: pl.DataFrame) -> dict[str, Any]:
        """Every aggregate over one chunk (a frame carrying the ROW column), one collect."""
        if not self.exprs:
            return {}
        return collect(self.query(chunk, whole=False).select(self.exprs)).row(0, named=True)

    def merge(self, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """The values the whole batch would have given, from its chunks' rows in order."""
        rows = list(rows)
        if len(rows) == 1:
            return rows[0]
        return {alias: fn([r.get(alias) for r in rows]) for alias, fn in self.merges.items()}


def collect(query: pl.LazyFrame) -> pl.DataFrame:
    """Run a query the way the pass does (ENGINE, OPTIMIZATIONS)."""
    return query.collect(engine=ENGINE, optimizations=OPTIMIZATIONS)


def ids_of(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(str(v) for v in value)


def finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None
