"""The scan for a NUL escape in a batch's bytes (it decides whether the frame is searched)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgwarden.quality import batch

# bytes made of the escape's own characters and a few others, so matches, near misses
# (\u000, \\u0000, u0000) and runs of backslashes come up often
PIECES = st.sampled_from([b"\\", b"u", b"0", b"u0000", b"\\u000", b"a", b'"', b"\\u0000"])


@given(st.lists(PIECES, max_size=200).map(b"".join))
def test_the_scan_finds_the_escape_wherever_the_plain_search_does(raw):
    assert batch._escapes_nul(raw) == (b"\\u0000" in raw)


def test_past_many_backslashes_the_escape_is_still_found():
    many = b'{"v": "\\"q\\""}\n' * (batch.NUL_ESCAPE_PROBES * 2)
    assert not batch._escapes_nul(many)
    assert batch._escapes_nul(many + b'{"v": "a\\u0000"}\n')
    assert batch._escapes_nul(b'{"v": "a\\u0000"}\n' + many)


def test_bytes_with_a_zero_byte_or_the_escape_may_hold_a_nul():
    assert not batch.may_hold_nul(b'{"id": "a", "t": "2026-01-01T00:00:00Z"}\n')
    assert batch.may_hold_nul(b'{"id": "a\\u0000"}\n')
    assert batch.may_hold_nul(bytearray(b"id\nx\x00y\n"))
    assert batch.may_hold_nul(memoryview(b'{"id": "\\u0000"}'))
    assert batch.may_hold_nul([{"id": "a"}])  # records are checked on the frame


def test_json_bytes_are_scanned_for_the_escape_only():
    # a NUL byte is a control character JSON does not allow: the parse refuses it
    # before this scan runs, so JSON bytes skip the byte search
    assert not batch.may_hold_nul(b'{"id": "a\x00"}\n', "ndjson")
    assert batch.may_hold_nul(b'{"id": "a\\u0000"}\n', "ndjson")
    assert batch.may_hold_nul(b'[{"id": "\\u0000"}]', "json")
    assert batch.may_hold_nul(b"id\nx\x00y\n", "csv")


@pytest.mark.parametrize(
    "raw, fmt, where",
    [
        (b'{"id": "a"}\n{"id": "a\x00b"}\n', "ndjson", "line 2"),
        (b'{"id": "a"}\n{"id\x00": "b"}\n', None, "line 2"),
        (b'[{"id": "a\x00b"}]', "json", None),
    ],
)
def test_a_nul_byte_in_json_is_refused_by_the_read_naming_where(raw, fmt, where):
    with pytest.raises(batch.BatchInvalid) as caught:
        batch.read_batch(raw, fmt)
    assert "control character" in str(caught.value)
    assert caught.value.field == where
