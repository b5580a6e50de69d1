"""Text arrays sent to the server in binary, built in a few bulk steps.

psycopg's list dumper builds a binary array one element at a time in Python:
for each element a dumper call, an encode, a packed length and two appends.
A 5,000-record batch sends about 37,000 such elements (its seen ids twice,
its models' output keys, scores and decisions), about 5 ms of the worker's
interpreter, which one process's jobs share. `TextArray(values)` is dumped
as the same bytes (the binary `text[]` format: a header, then each element's
big-endian length, -1 for NULL, and its bytes) with the lengths computed by
`map(len, ...)` and the interleaving done by numpy: 2-3x less time. Below
200 elements numpy's fixed cost is more than a plain loop's, which is used
there (1.5-10x faster than psycopg's, 0.4 against 4.6 us for one element).

Use it where a query casts the parameter in binary, `%(name)b::text[]`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import psycopg
from psycopg import abc, adapt, pq

TEXT_OID = 25
TEXT_ARRAY_OID = 1009
_HEADER = struct.Struct(">iiiii")  # ndim, has nulls, element oid, length, lower bound
_EMPTY = struct.pack(">iii", 0, 0, TEXT_OID)  # ndim 0: '{}'
_LENGTH = struct.Struct(">i")
_NULL = _LENGTH.pack(-1)
_SMALL = 200  # elements: below, one loop is faster than numpy's fixed cost


class TextArray:
    """A list of str (or None) to be sent as one binary `text[]` parameter."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[str | None]) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"TextArray({len(self.values)} values)"


def encode_text_array(values: Sequence[str | None], encoding: str = "utf-8") -> bytes:
    """Pure: the binary `text[]` of `values` (one dimension, lower bound 1)."""
    n = len(values)
    if n == 0:
        return _EMPTY
    if n < _SMALL:
        return _small(values, encoding)
    import numpy as np  # lazy: a one-shot CLI command that sends no array skips it

    has_nulls = None in values
    if has_nulls and values.count(None) == n:  # a column the outputs do not have
        return _HEADER.pack(1, 1, TEXT_OID, n, 1) + _NULL * n
    if has_nulls:
        encoded = [b"" if v is None else v.encode(encoding) for v in values]
        lengths = np.fromiter(map(len, encoded), np.int64, n)
        lengths[np.fromiter((v is None for v in values), bool, n)] = -1
        data = b"".join(encoded)
    else:
        lengths = np.fromiter(map(len, values), np.int64, n)  # type: ignore[arg-type]
        data = "".join(values).encode(encoding)  # type: ignore[arg-type]
        if len(data) != int(lengths.sum()):  # some character is more than one byte
            encoded = [v.encode(encoding) for v in values]  # type: ignore[union-attr]
            lengths = np.fromiter(map(len, encoded), np.int64, n)
            data = b"".join(encoded)
    sizes = np.maximum(lengths, 0)
    # where each element's 4-byte length goes: after the header, the lengths and the
    # bytes of the elements before it
    starts = np.empty(n, np.int64)
    starts[0] = _HEADER.size
    np.cumsum(sizes[:-1] + 4, out=starts[1:])
    starts[1:] += _HEADER.size
    out = np.empty(_HEADER.size + 4 * n + len(data), np.uint8)
    out[: _HEADER.size] = np.frombuffer(_HEADER.pack(1, int(has_nulls), TEXT_OID, n, 1), np.uint8)
    slots = (starts[:, None] + np.arange(4)).ravel()
    out[slots] = lengths.astype(">i4").view(np.uint8)
    rest = np.ones(out.size, bool)
    rest[: _HEADER.size] = False
    rest[slots] = False
    out[rest] = np.frombuffer(data, np.uint8)  # the elements' bytes fill the gaps, in order
    return out.tobytes()


def _small(values: Sequence[str | None], encoding: str) -> bytes:
    """A short array element by element: numpy's steps cost about 10 us whatever the
    size, more than this loop below a couple of hundred elements."""
    parts = [_HEADER.pack(1, int(None in values), TEXT_OID, len(values), 1)]
    append, pack = parts.append, _LENGTH.pack
    for v in values:
        if v is None:
            append(_NULL)
        else:
            data = v.encode(encoding)
            append(pack(len(data)))
            append(data)
    return b"".join(parts)


class TextArrayBinaryDumper(adapt.Dumper):
    format = pq.Format.BINARY
    oid = TEXT_ARRAY_OID

    def __init__(self, cls: type, context: abc.AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        conn = self.connection
        self._encoding = conn.info.encoding if conn is not None else "utf-8"

    def dump(self, obj: TextArray) -> bytes:
        return encode_text_array(obj.values, self._encoding)


psycopg.adapters.register_dumper(TextArray, TextArrayBinaryDumper)
