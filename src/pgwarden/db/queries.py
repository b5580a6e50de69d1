"""Named SQL queries kept in .sql files, loaded once per package.

A file holds blocks like::

    -- name: list_values
    -- Every stored runtime config value.
    SELECT key, value::text FROM {schema}.system_config

`{schema}` (and any other `{name}`) is filled with `psycopg.sql.Identifier`,
never with string formatting; values are always `%s` / `%(name)s` parameters.
Literal braces in SQL are written `{{` and `}}`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from psycopg import sql

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def load(package: str, filename: str = "queries.sql") -> dict[str, str]:
    """Parse a .sql file of named blocks into {name: sql text}."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = "\n".join(
            line for line in text[match.end() : end].splitlines() if not line.startswith("--")
        ).strip()
        name = match.group(1)
        if name in found:
            raise ValueError(f"query {name!r} is defined twice in {package}/{filename}")
        found[name] = body.rstrip(";")
    return found


#: composed queries by (package, filename, schema): shared by every Queries of the same
#: three, since most are made per call (a batch made a dozen, and composed each query
#: it used again, about 0.3 ms of its time)
_COMPOSED: dict[tuple[str, str, str | None], dict[str, sql.Composed]] = {}


class Queries:
    """The named queries of one package, composed for one schema.

    Without a schema only the queries that name none can be composed (the
    server-level ones of `pgwarden.db`, run before a schema is known)."""

    def __init__(
        self, package: str, schema: str | None = None, filename: str = "queries.sql"
    ) -> None:
        self._raw = load(package, filename)
        self._schema = sql.Identifier(schema) if schema is not None else None
        self._cache = _COMPOSED.setdefault((package, filename, schema), {})
        self._where = f"{package}/{filename}"

    def __getitem__(self, name: str) -> sql.Composed:
        found = self._cache.get(name)
        if found is None:
            try:
                text = self._raw[name]
            except KeyError:
                raise KeyError(f"no query {name!r} in {self._where}") from None
            found = sql.SQL(text).format(**self._names())
            self._cache[name] = found
        return found

    def with_names(self, name: str, **identifiers: sql.Composable) -> sql.Composed:
        """A query whose other `{placeholders}` are identifiers chosen at run time."""
        text = self._raw[name]
        return sql.SQL(text).format(**self._names(), **identifiers)

    def _names(self) -> dict[str, sql.Composable]:
        return {} if self._schema is None else {"schema": self._schema}


def table(schema: str, name: str) -> sql.Identifier:
    """A schema-qualified table name."""
    return sql.Identifier(schema, name)
