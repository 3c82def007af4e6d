"""Writing a sandbox's output into the running cell, in the order it arrived.

ipykernel buffers ``sys.stdout`` and ``sys.stderr`` separately and flushes
each on its own timer, so interleaved chunks could reach the notebook out of
order. Flushing the other stream whenever the stream changes keeps the
notebook's record in arrival order.
"""

from __future__ import annotations

import sys

__all__ = ["OutputWriter"]


class OutputWriter:
    """Writes stdout/stderr chunks to the current cell, keeping their order."""

    def __init__(self) -> None:
        self._last = None

    def write(self, stream: str, text: str) -> None:
        if not text:
            return
        target = sys.stderr if stream == "stderr" else sys.stdout
        if self._last is not None and self._last is not target:
            self._last.flush()
        target.write(text)
        self._last = target

    def flush(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        self._last = None

    def display(self, data: dict) -> None:
        """Show a MIME bundle (an expression's value, a figure) after the output before it."""
        from IPython.display import display

        self.flush()
        display(data, raw=True)
