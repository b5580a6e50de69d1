"""Tables that stay readable at 80 columns and in a pipe (rich assumes 80 there).

- `record(pairs)`: one result laid out vertically, one `key: value` line each.
- `table(columns, rows)`: a table whose identifier columns are never cut
  (they keep their full width, folding only if one alone is wider than the
  screen), whose long free-text columns wrap, and whose `wide` columns
  (entrypoints, dependency lists) are left out on a narrow console with a
  note on stderr saying how to see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

#: below this console width the `wide` columns are left out
NARROW = 120  # characters


@dataclass(frozen=True)
class Column:
    header: str
    #: "id" never truncated; "num" right-aligned on one line; "text" wraps;
    #: "wide" wraps, and is left out on a narrow console
    kind: str = "text"


def record(pairs: Iterable[tuple[str, str]], title: str | None = None) -> Table:
    """One record as `key  value` lines (values wrap, never cut)."""
    t = Table(show_header=False, box=None, padding=(0, 2, 0, 0), title=title, title_justify="left")
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    for key, value in pairs:
        t.add_row(key, value)
    return t


def table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    console: Console,
    title: str | None = None,
    note: Console | None = None,
) -> Table:
    """A table fitted to `console`'s width; `note` (stderr) hears which columns were left out."""
    rows = [list(r) for r in rows]
    narrow = console.width < NARROW
    keep = [i for i, c in enumerate(columns) if not (narrow and c.kind == "wide")]
    dropped = [c.header for c in columns if narrow and c.kind == "wide"]
    t = Table(title=title)
    for i in keep:
        c = columns[i]
        longest = max([len(c.header), *(len(r[i]) for r in rows)]) if rows else len(c.header)
        if c.kind == "id":
            # the whole identifier on one line while it fits the screen at all
            t.add_column(c.header, min_width=min(longest, console.width - 8), overflow="fold")
        elif c.kind == "num":
            t.add_column(c.header, justify="right", no_wrap=True, min_width=len(c.header))
        else:
            t.add_column(c.header, overflow="fold", min_width=min(len(c.header), 12))
    for r in rows:
        t.add_row(*(r[i] for i in keep))
    if dropped and note is not None:
        note.print(
            f"({', '.join(dropped)} left out at {console.width} columns: widen the terminal, "
            "set COLUMNS, or use --json)",
            style="dim",
            highlight=False,
        )
    return t
