"""Server-Sent Events responses, with keepalive comments while the source is silent."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from .settings import env_number

__all__ = ["sse_response", "format_event", "wants_event_stream", "KEEPALIVE_SECONDS"]

#: A comment line goes out after this much silence, so proxies and clients keep the stream open
#: (``OC_JUPYTER_SSE_KEEPALIVE`` changes it, for slow proxies or for tests).
KEEPALIVE_SECONDS = env_number("OC_JUPYTER_SSE_KEEPALIVE", 15.0)


def format_event(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept and "text/event-stream" in accept.lower())


Item = tuple[str, Any] | list[tuple[str, Any]]


async def _with_keepalive(events: AsyncIterator[Item], interval: float) -> AsyncIterator[str]:
    iterator = events.__aiter__()
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield ": keepalive\n\n"
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            # A list of events goes out as one chunk: one socket write for a burst of lines.
            yield "".join(format_event(e, d) for e, d in item) if isinstance(item, list) else format_event(*item)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(BaseException):
            await iterator.aclose()  # type: ignore[attr-defined]


def sse_response(
    events: AsyncIterator[Item], *, status_code: int = 200, interval: float = KEEPALIVE_SECONDS
) -> StreamingResponse:
    """Stream ``(event, data)`` pairs (or lists of them) as SSE; a client that disconnects stops the iteration, not the work behind it."""
    return StreamingResponse(
        _with_keepalive(events, interval),
        status_code=status_code,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
