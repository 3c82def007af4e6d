"""A compact, append-only store for long build logs.

A build can print a million lines. Kept as Python ``str`` objects that costs
about 60 bytes of overhead per line before the text itself; here lines are
packed as UTF-8 into chunks that are zlib-compressed once full, so a log costs
roughly its compressed size (build output compresses well) and reading it back
is still a plain iteration.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable, Iterator

__all__ = ["LogBuffer"]

_CHUNK_BYTES = 256 * 1024


class LogBuffer:
    """Lines of text, appended in order and read back exactly (no line is dropped or merged)."""

    __slots__ = ("_bytes", "_chunks", "_count", "_current")

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._chunks: list[bytes] = []  # compressed, each holding whole lines
        self._current = bytearray()
        self._count = 0
        self._bytes = 0
        for line in lines:
            self.append(line)

    def append(self, line: str) -> None:
        # A newline inside a "line" would split it on the way back out, so it is
        # stored escaped; \r and \\ too, so the round trip is exact.
        if "\n" in line or "\\" in line or "\r" in line or line[:1] == "\x00":
            line = line.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            data = b"\x00" + line.encode("utf-8", "surrogatepass") + b"\n"
        else:
            data = line.encode("utf-8", "surrogatepass") + b"\n"
        self._current += data
        self._count += 1
        self._bytes += len(data)
        if len(self._current) >= _CHUNK_BYTES:
            self._chunks.append(zlib.compress(bytes(self._current), 1))
            self._current = bytearray()

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.append(line)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks:
            yield from _decode(zlib.decompress(chunk))
        yield from _decode(bytes(self._current))

    def tail(self, n: int) -> list[str]:
        """The last ``n`` lines, decompressing only the chunks needed."""
        if n <= 0:
            return []
        out: deque[str] = deque(_decode(bytes(self._current)), maxlen=n)
        i = len(self._chunks) - 1
        while len(out) < n and i >= 0:
            lines = list(_decode(zlib.decompress(self._chunks[i])))
            need = n - len(out)
            out.extendleft(reversed(lines[-need:]))
            i -= 1
        return list(out)

    def text(self) -> str:
        """The whole log as one string, one line per ``\\n``."""
        return "".join(line + "\n" for line in self)

    @property
    def stored_bytes(self) -> int:
        """Bytes held in memory for the text (compressed chunks plus the open one)."""
        return sum(len(c) for c in self._chunks) + len(self._current)

    @property
    def raw_bytes(self) -> int:
        """Bytes of the log as UTF-8 text."""
        return self._bytes

    def __repr__(self) -> str:
        return f"<LogBuffer {self._count} lines, {self.stored_bytes} bytes stored>"


def _decode(data: bytes) -> Iterator[str]:
    if not data:
        return
    for raw in data[:-1].split(b"\n"):
        if raw[:1] == b"\x00":
            yield _unescape(raw[1:].decode("utf-8", "surrogatepass"))
        else:
            yield raw.decode("utf-8", "surrogatepass")


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
