"""TextArray's binary text[] is byte for byte what psycopg's own list dumper sends."""

from __future__ import annotations

import random
import struct

import pytest
from psycopg.adapt import PyFormat, Transformer

from pgwarden.db.arrays import TEXT_OID, encode_text_array

PIECES = ["a", "é", "😀", ",", '"', "\\", "{", " ", "NULL", "\t", "ab" * 40]


def psycopg_binary(values: list[str | None]) -> bytes:
    tx = Transformer()
    return bytes(tx.get_dumper(values, PyFormat.BINARY).dump(values))


@pytest.mark.parametrize("seed", range(5))
def test_same_bytes_as_psycopg(seed: int) -> None:
    rng = random.Random(seed)
    compared = 0
    for _ in range(400):
        null_share = rng.choice([0.0, 0.0, 0.2, 0.8])
        values = [
            None
            if rng.random() < null_share
            else "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 4)))
            # both ways of building it: element by element (short) and numpy's (long)
            for _ in range(rng.choice([rng.randrange(1, 60), rng.randrange(200, 400)]))
        ]
        if all(v is None for v in values):
            continue  # psycopg cannot tell such a list's type and sends it as text
        assert encode_text_array(values) == psycopg_binary(values), values
        compared += 1
    assert compared > 300


def test_all_null_and_empty() -> None:
    assert encode_text_array([None, None]) == struct.pack(">iiiiiii", 1, 1, TEXT_OID, 2, 1, -1, -1)
    assert encode_text_array([]) == struct.pack(">iii", 0, 0, TEXT_OID)


@pytest.mark.parametrize("before", [0, 300])
def test_other_encoding(before: int) -> None:
    values = ["a"] * before + ["é", None, "x"]
    out = encode_text_array(values, "latin-1")
    assert out.endswith(
        struct.pack(">i", 1) + b"\xe9" + struct.pack(">i", -1) + b"\x00\x00\x00\x01x"
    )


@pytest.mark.parametrize("before", [0, 300])
def test_unencodable_value_raises(before: int) -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_text_array(["ok"] * before + ["\ud800"])
