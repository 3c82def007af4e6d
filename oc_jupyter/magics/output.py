"""Writing a sandbox's output into the running cell, in the order it arrived, within bounds.

ipykernel buffers ``sys.stdout`` and ``sys.stderr`` separately and flushes
each on its own timer, so interleaved chunks could reach the notebook out of
order. Flushing the other stream whenever the stream changes keeps the
notebook's record in arrival order.

A command that prints gigabytes must not fill the kernel's memory nor the
saved notebook: the cell shows the first ``head`` characters as they come,
keeps only the last ``tail`` in memory, and from the moment the head is full
spools everything (the head included) to a gzip file only this user can read;
:meth:`OutputWriter.close` then shows the tail after one note that says how
much was cut and where the whole output is.
"""

from __future__ import annotations

import collections
import gzip
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO, cast

__all__ = ["DEFAULT_HEAD", "DEFAULT_TAIL", "OutputWriter", "spool_dir"]

DEFAULT_HEAD = 1 << 20
DEFAULT_TAIL = 256 << 10
SPOOL_DAYS = 7


def spool_dir() -> Path:
    """A folder private to this user for the full output of cells that printed too much.

    Files older than ``SPOOL_DAYS`` are removed as new ones are made. A folder
    at the usual place that is not this user's own real folder (a symlink, or
    made by someone else in the shared temp folder) is never used.
    """
    path = Path(tempfile.gettempdir()) / f"oc-jupyter-{os.getuid()}" / "outputs"
    try:
        for folder in (path.parent, path):
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                raise PermissionError(f"{folder} is not this user's folder")
            if info.st_mode & 0o077:
                os.chmod(folder, 0o700)
    except OSError:
        return Path(tempfile.mkdtemp(prefix="oc-jupyter-outputs-"))
    cutoff = time.time() - SPOOL_DAYS * 86400
    for old in path.glob("oc-run-*.txt.gz"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    return path


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class OutputWriter:
    """Writes stdout/stderr chunks to the current cell, keeping their order and a bounded size."""

    def __init__(
        self, head: int = DEFAULT_HEAD, tail: int = DEFAULT_TAIL, clean: Callable[[str], str] | None = None
    ) -> None:
        self._last: TextIO | None = None
        self.head = max(0, head)
        self.tail = max(0, tail)
        self._clean = clean
        self._shown = 0
        self._head_copy: list[tuple[str, str]] = []
        self._tail: collections.deque[tuple[str, str]] = collections.deque()
        self._tail_size = 0
        self._spool: gzip.GzipFile | None = None
        self._noted: set[str] = set()
        self.spool_path: Path | None = None
        self.total_bytes = 0
        self._after_head = 0

    @classmethod
    def from_settings(cls, settings) -> OutputWriter:
        """A writer with the settings' limits that strips terminal controls from the sandbox's text."""
        from ..untrusted import clean_terminal

        return cls(settings.output_head, settings.output_tail, clean_terminal)

    @property
    def truncated(self) -> bool:
        return self._spool is not None

    def write(self, stream: str, text: str) -> None:
        if not text:
            return
        if self._spool is None:
            room = self.head - self._shown
            if len(text) <= room:
                self._show(stream, text)
                self._head_copy.append((stream, text))
                return
            self._start_spool()
            shown = text[: max(room, 0)]
            if shown:
                self._show(stream, shown)
            self._spool_write("".join(t for _s, t in self._head_copy) + shown)
            self._head_copy = []
            text = text[len(shown) :]
        self._spool_write(text)
        self._after_head += len(text)
        self._keep_tail(stream, text)

    def _show(self, stream: str, text: str) -> None:
        target = sys.stderr if stream == "stderr" else sys.stdout
        if self._last is not None and self._last is not target:
            self._last.flush()
        target.write(self._clean(text) if self._clean else text)
        self._last = target
        self._shown += len(text)

    def _start_spool(self) -> None:
        fd, name = tempfile.mkstemp(prefix="oc-run-", suffix=".txt.gz", dir=spool_dir())
        self.spool_path = Path(name)
        # mkstemp creates the file with mode 0600; compress fast, the output may be huge.
        self._spool = gzip.GzipFile(fileobj=os.fdopen(fd, "wb"), mode="wb", compresslevel=1)

    def _spool_write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        assert self._spool is not None  # only called once the spool is open
        self._spool.write(data)
        self.total_bytes += len(data)

    def _keep_tail(self, stream: str, text: str) -> None:
        if len(text) >= self.tail:
            self._tail.clear()
            self._tail_size = self.tail
            if self.tail:
                self._tail.append((stream, text[-self.tail :]))
            return
        self._tail.append((stream, text))
        self._tail_size += len(text)
        while self._tail_size > self.tail:
            old_stream, old = self._tail[0]
            extra = self._tail_size - self.tail
            if len(old) <= extra:
                self._tail.popleft()
                self._tail_size -= len(old)
            else:
                self._tail[0] = (old_stream, old[extra:])
                self._tail_size -= extra

    def flush(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        self._last = None

    def close(self) -> None:
        """End of the command: if output was cut, show the note and the tail; the spool is complete."""
        if self._spool is None:
            self.flush()
            return
        spool, self._spool = self._spool, None
        fileobj = cast(BinaryIO, spool.fileobj)  # the file _start_spool opened
        spool.close()
        fileobj.close()
        self.flush()
        cut = self._after_head - self._tail_size
        sys.stderr.write(
            f"\n[oc_jupyter: {cut:,} characters of output cut here (the first {self._shown:,} "
            f"and the last {self._tail_size:,} are shown); the whole output, {_size(self.total_bytes)}, "
            # less shows the sandbox's terminal escapes as text instead of obeying them.
            f"is saved compressed; read it with: zcat {self.spool_path} | less]\n"
        )
        sys.stderr.flush()
        for stream, text in self._tail:
            self._show(stream, text)
        self._tail.clear()
        self.flush()

    def note(self, line: str, once: bool = False) -> None:
        """One line of ours (not the sandbox's) under the output; ``once``: not again for this command."""
        if once:
            if line in self._noted:
                return
            self._noted.add(line)
        self.flush()
        sys.stderr.write(line.rstrip("\n") + "\n")
        sys.stderr.flush()

    def display(self, data: dict, metadata: dict | None = None) -> None:
        """Show a MIME bundle (an expression's value, a figure) after the output before it."""
        from IPython.display import display

        self.flush()
        display(data, raw=True, metadata=metadata or None)
