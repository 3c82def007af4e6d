"""The compact log store: exact round trip, tails, and a size far below one str per line."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oc_jupyter.widgets.log_buffer import LogBuffer


@given(st.lists(st.text(), max_size=200))
def test_lines_come_back_exactly(lines):
    buf = LogBuffer(lines)
    assert list(buf) == lines
    assert len(buf) == len(lines)
    assert buf.tail(7) == lines[-7:]


def test_tail_reaches_back_across_compressed_chunks():
    lines = [f"line {i}" for i in range(200_000)]
    buf = LogBuffer(lines)
    assert buf.tail(150_000) == lines[-150_000:]
    assert buf.tail(0) == []


def test_a_long_log_is_stored_compressed():
    buf = LogBuffer(f"Collecting package-{i % 500} from https://example.org/simple" for i in range(300_000))
    assert buf.stored_bytes < buf.raw_bytes / 5
    assert buf.text().count("\n") == 300_000
