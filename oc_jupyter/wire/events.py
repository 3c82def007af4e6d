"""The build-log events a build stream carries, and the ``Step i/N:`` prefix of their messages.

The local backend sends ``phase`` with every event; other backends may only
send the message, so the phase is inferred from its prefix the same way by
the SDK's :class:`~oc_jupyter.sdk.models.BuildLog` and by the build-log widget.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

__all__ = ["Phase", "PHASES", "StepLine", "parse_step_line", "infer_phase"]

#: ``start`` opens a step, ``output`` is a line it printed, ``cached`` says the
#: step's layer already exists, ``done`` closes it, and ``reattach`` is the
#: client's own note that it went on by polling after the stream dropped.
Phase = Literal["start", "output", "cached", "done", "reattach"]
PHASES: tuple[Phase, ...] = ("start", "output", "cached", "done", "reattach")

_STEP_LINE = re.compile(r"Step (\d+)/(\d+):\s?(.*?)(\s\(cached\))?\s*\Z", re.DOTALL)


class StepLine(NamedTuple):
    """A parsed ``Step i/N: description [(cached)]`` message."""

    step: int
    total: int
    description: str
    cached: bool


def parse_step_line(message: str) -> StepLine | None:
    """The step a message announces, or ``None`` for an output line."""
    match = _STEP_LINE.match(message)
    if match is None:
        return None
    return StepLine(int(match.group(1)), int(match.group(2)), match.group(3), match.group(4) is not None)


def infer_phase(event_type: str, message: str) -> Phase:
    """The phase of an event whose backend did not send one."""
    line = parse_step_line(message)
    if event_type == "cache_hit" or (line is not None and line.cached):
        return "cached"
    return "start" if line is not None else "output"
