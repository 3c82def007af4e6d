"""Build streams: POSTs answered with Server-Sent Events that report an image build as it runs.

The server sends ``build_log`` events while it builds, then either ``result``
(the created sandbox or snapshot) or ``error`` (the build failed). Comment
lines (``:``) are keepalives and carry nothing. Every ``build_log`` reaches
the callback as soon as it arrives, as a :class:`BuildLog`.

A server may also answer plain JSON instead of a stream (202 for a build
still running, or 201 when nothing needed building); the caller decides what
to do with it from :class:`BuildOutcome`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from . import _http
from .config import Config
from .errors import BuildFailed, BuildStreamLost, NotFound
from .models import BuildLog

__all__ = ["BuildOutcome", "post_build", "LogCallback"]

LogCallback = Callable[[BuildLog], Any]

# A step may print nothing for minutes; the server's keepalives arrive every 15 s.
STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=10.0)


@dataclass
class BuildOutcome:
    """What a build request produced: the result JSON, how it came, and the logs seen."""

    status: int
    data: Any
    streamed: bool
    log: list[BuildLog] = field(default_factory=list)


async def _deliver(callback: LogCallback | None, entry: BuildLog) -> None:
    if callback is None:
        return
    outcome = callback(entry)
    if inspect.isawaitable(outcome):
        await outcome


def _failure(data: Any, log: list[BuildLog]) -> BuildFailed:
    if not isinstance(data, dict):
        data = {"error": str(data)}
    message = str(data.get("error") or data.get("message") or "the build failed")
    step = data.get("step") if isinstance(data.get("step"), int) else None
    tail = data.get("tail") if isinstance(data.get("tail"), list) else None
    if tail is None:
        # The cloud sends no tail: take the failing step's output from the log.
        tail = [str(e) for e in log if e.phase == "output" and (step is None or e.step == step)][-20:]
    return BuildFailed(message, step=step, tail=[str(t) for t in tail], log=log)


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
    """POST ``body`` asking for a build stream; return the result, raising ``BuildFailed`` on ``error``."""
    json_headers, content = _http.encode_json(body)
    headers = _http.headers_for(config, {**json_headers, "Accept": "text/event-stream"})
    log: list[BuildLog] = []
    try:
        async with aconnect_sse(
            _http.client(), "POST", config.api_base + path, headers=headers, content=content, timeout=STREAM_TIMEOUT
        ) as source:
            response = source.response
            if response.status_code >= 400 or "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()
                _http.raise_for_response(response, config, not_found=not_found, what=what)
                return BuildOutcome(response.status_code, _parse(response.text) if response.content else None, False)
            async for event in source.aiter_sse():
                if event.event == "build_log":
                    data = _parse(event.data)
                    entry = BuildLog(data if isinstance(data, dict) else {"message": str(data)})
                    log.append(entry)
                    await _deliver(on_log, entry)
                elif event.event == "error":
                    raise _failure(_parse(event.data), log)
                elif event.event == "result":
                    return BuildOutcome(response.status_code, _parse(event.data), True, log)
    except (httpx.HTTPError, SSEError) as exc:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            # The request never reached the backend: nothing is building.
            raise _http.translate(exc, config, what) from exc
        raise BuildStreamLost(
            f"{what + ': ' if what else ''}the build stream from {config.api_url} broke "
            f"({config.scrub(str(exc)) or type(exc).__name__}).",
            log=log,
        ) from exc
    raise BuildStreamLost(
        f"{what + ': ' if what else ''}the build stream from {config.api_url} ended without a result.", log=log
    )
