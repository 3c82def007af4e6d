"""Build streams: POSTs answered with Server-Sent Events that report an image build as it runs.

The server sends ``build_log`` events while it builds, then either ``result``
(the created sandbox or snapshot) or ``error`` (the build failed). Comment
lines (``:``) are keepalives and carry nothing. Every ``build_log`` reaches
the callback as soon as it arrives, as a :class:`BuildLog`.

A server may also answer plain JSON instead of a stream (202 for a build
still running, or 201 when nothing needed building); the caller decides what
to do with it from :class:`BuildOutcome`.

A build can print millions of lines, so nothing here keeps the whole log:
only a bounded :class:`RecentLog` (the latest events and the latest output
lines of each step) survives, to explain a failure. Whoever wants every line
keeps it from the callback (the build-log widget packs it compactly).
"""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from . import _http
from .config import Config
from .errors import BuildFailed, BuildStreamLost, NotFound
from .models import BuildLog

__all__ = [
    "BuildOutcome",
    "RecentLog",
    "post_build",
    "deliver",
    "reattach_log",
    "LogCallback",
    "RECENT_EVENTS",
    "TAIL_LINES",
]

LogCallback = Callable[[BuildLog], Any]

# A step may print nothing for minutes; the server's keepalives arrive every 15 s.
STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=10.0)

#: Build-log events kept for error reports (each costs about 1 KB; a long build has millions).
RECENT_EVENTS = 1000
#: Output lines kept per step, so a failing step's last lines survive even after many later events.
TAIL_LINES = 20


class RecentLog:
    """The latest build-log events of one build, in bounded memory.

    ``events`` holds the last :data:`RECENT_EVENTS` events; :meth:`step_tail`
    gives the last :data:`TAIL_LINES` output lines of a step. ``count`` is how
    many events the build sent in all.
    """

    def __init__(self, limit: int = RECENT_EVENTS, tail_lines: int = TAIL_LINES) -> None:
        self.events: deque[BuildLog] = deque(maxlen=limit)
        self.count = 0
        self._tail_lines = tail_lines
        self._outputs: dict[int | None, deque[str]] = {}

    def add(self, entry: BuildLog) -> None:
        self.events.append(entry)
        self.count += 1
        if entry.phase == "output":
            lines = self._outputs.get(entry.step)
            if lines is None:
                lines = self._outputs[entry.step] = deque(maxlen=self._tail_lines)
            lines.append(entry.message)

    def step_tail(self, step: int | None) -> list[str]:
        """The last output lines of ``step``, or of the whole build when the step is unknown."""
        if step is not None and step in self._outputs:
            return list(self._outputs[step])
        if step is not None:
            return []
        return [e.message for e in self.events if e.phase == "output"][-self._tail_lines :]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def __repr__(self) -> str:
        return f"<RecentLog last {len(self.events)} of {self.count} events>"


@dataclass
class BuildOutcome:
    """What a build request produced: the result JSON and the latest logs seen."""

    status: int
    data: Any
    recent: RecentLog = field(default_factory=RecentLog)

    @property
    def log(self) -> list[BuildLog]:
        """The latest build-log events (at most :data:`RECENT_EVENTS`), oldest first."""
        return list(self.recent.events)


def reattach_log(message: str, reason: str = "") -> BuildLog:
    """The client-side event telling a log callback the stream dropped and polling took over."""
    return BuildLog({"type": "reattach", "phase": "reattach", "message": message, "reason": reason})


async def deliver(callback: LogCallback | None, entry: BuildLog) -> None:
    """Hand ``entry`` to ``callback``, awaiting it when it is a coroutine function."""
    if callback is None:
        return
    outcome = callback(entry)
    if inspect.isawaitable(outcome):
        await outcome


def _failure(data: Any, recent: RecentLog) -> BuildFailed:
    if not isinstance(data, dict):
        data = {"error": str(data)}
    message = str(data.get("error") or data.get("message") or "the build failed")
    step = data.get("step") if isinstance(data.get("step"), int) else None
    tail = data.get("tail") if isinstance(data.get("tail"), list) else None
    if tail is None:
        # The cloud sends no tail: take the failing step's output from what was seen.
        tail = recent.step_tail(step)
    return BuildFailed(message, step=step, tail=[str(t) for t in tail], log=recent.events)


def _parse(data: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        return data


async def post_build(
    config: Config,
    path: str,
    body: dict[str, Any],
    on_log: LogCallback | None,
    *,
    not_found: type[NotFound] = NotFound,
    what: str = "",
) -> BuildOutcome:
    """POST ``body`` asking for a build stream; return the result, raising ``BuildFailed`` on ``error``.

    Each event goes to ``on_log`` and then only into a bounded :class:`RecentLog`.
    """
    json_headers, content = _http.encode_json(body)
    headers = _http.headers_for(config, {**json_headers, "Accept": "text/event-stream"})
    recent = RecentLog()
    try:
        async with aconnect_sse(
            _http.client(), "POST", config.api_base + path, headers=headers, content=content, timeout=STREAM_TIMEOUT
        ) as source:
            response = source.response
            if response.status_code >= 400 or "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()
                _http.raise_for_response(response, config, not_found=not_found, what=what)
                return BuildOutcome(response.status_code, _parse(response.text) if response.content else None)
            async for event in source.aiter_sse():
                if event.event == "build_log":
                    data = _parse(event.data)
                    entry = BuildLog(data if isinstance(data, dict) else {"message": str(data)})
                    recent.add(entry)
                    await deliver(on_log, entry)
                elif event.event == "error":
                    raise _failure(_parse(event.data), recent)
                elif event.event == "result":
                    return BuildOutcome(response.status_code, _parse(event.data), recent)
    except (httpx.HTTPError, SSEError) as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            # The request never reached the backend: nothing is building.
            raise _http.translate(exc, config, what) from exc
        raise BuildStreamLost(
            f"{what + ': ' if what else ''}the build stream from {config.api_url} broke "
            f"({config.scrub(str(exc)) or type(exc).__name__}).",
            log=recent.events,
        ) from exc
    raise BuildStreamLost(
        f"{what + ': ' if what else ''}the build stream from {config.api_url} ended without a result.",
        log=recent.events,
    )
