"""Run SDK coroutines from a magic while the kernel's main thread handles their events.

SDK callbacks (output chunks, build-log lines) fire on the SDK's background
event-loop thread. Writing to ``sys.stdout`` or touching widgets from there
would send output to whichever cell happens to be running and race ipywidgets'
comm traffic, so callbacks only put events on an :class:`EventQueue`; the main
thread, blocked in the magic, takes them off in order and does the work. The
same loop is where a kernel interrupt (``KeyboardInterrupt``) lands, so it is
also where remote work is stopped.
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import queue
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EventQueue", "Job", "run", "submit", "wait"]

_DONE = object()


class EventQueue:
    """A thread-safe FIFO of events; safe to fill from any thread."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()

    def put(self, *event: Any) -> None:
        self._q.put(event)

    def callback(self, kind: str) -> Callable[[Any], None]:
        """A callback that queues ``(kind, value)``; hand it to the SDK."""
        put = self._q.put

        def queue_it(value: Any = None) -> None:
            put((kind, value))

        return queue_it

    def text_callback(self, kind: str) -> Callable[[bytes], None]:
        """A callback for an SDK output stream that queues ``(kind, text)``.

        The SDK hands over raw bytes; decoding here, incrementally, keeps a
        character split across two frames whole.
        """
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        put = self._q.put

        def feed(chunk: bytes) -> None:
            text = decode(chunk)
            if text:
                put((kind, text))

        return feed

    def get(self, timeout: float | None):
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self):
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return None


class Job:
    """A coroutine running on the SDK's loop; its end is posted to an :class:`EventQueue`."""

    def __init__(self, coro: Awaitable, events: EventQueue | None) -> None:
        from ..sdk import sync

        self._loop = sync.loop()
        self._task: asyncio.Task | None = None
        self.future: concurrent.futures.Future = asyncio.run_coroutine_threadsafe(self._main(coro), self._loop)
        if events is not None:
            self.future.add_done_callback(lambda _f: events.put(_DONE, self))

    async def _main(self, coro):
        self._task = asyncio.current_task()
        return await coro

    def cancel(self) -> None:
        """Cancel the coroutine; ``done`` only once its clean-up (e.g. killing a session) has run."""
        # Cancelling the task, not the concurrent future, keeps the future pending until
        # the coroutine's own clean-up has finished on the SDK's loop.
        self._loop.call_soon_threadsafe(self._cancel_task)

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
        else:
            self.future.cancel()

    def done(self) -> bool:
        return self.future.done()


def submit(coro: Awaitable, events: EventQueue | None = None) -> Job:
    """Start ``coro`` on the SDK's loop without blocking; returns its :class:`Job`."""
    return Job(coro, events)


def wait(  # noqa: C901
    events: EventQueue,
    handle: Callable[[Any], bool | None] | None = None,
    *,
    job: Job | None = None,
    on_interrupt: Callable[[], None] | None = None,
    tick: float | None = None,
    grace: float = 3.0,
):
    """Handle events on the calling (main) thread until ``job`` ends or ``handle`` returns true.

    ``handle`` receives each queued event tuple, and ``None`` every ``tick``
    seconds of quiet (for batched redraws). On ``KeyboardInterrupt`` the
    ``on_interrupt`` action runs (default: cancel ``job``), events keep being
    handled for up to ``grace`` seconds so the stop is reported in order, and
    then ``KeyboardInterrupt`` is raised again.

    One loop on purpose: the interrupt, its grace period and the quiet ticks share its state.
    """
    interrupted_at: float | None = None
    while True:
        try:
            timeout = tick
            if interrupted_at is not None:
                left = grace - (time.monotonic() - interrupted_at)
                if left <= 0:
                    break
                timeout = left if timeout is None else min(timeout, left)
            event = events.get(timeout if timeout is not None else 0.5)
            if event is None:
                if tick is not None and handle is not None:
                    handle(None)
                continue
            if event[0] is _DONE:
                if job is None or event[1] is job:
                    break
                continue
            if handle is not None and handle(event):
                break
        except KeyboardInterrupt:
            if interrupted_at is not None:
                # A second interrupt: stop waiting for a graceful end.
                if job is not None:
                    job.cancel()
                raise
            interrupted_at = time.monotonic()
            try:
                if on_interrupt is not None:
                    on_interrupt()
                elif job is not None:
                    job.cancel()
            except Exception:
                if job is not None:
                    job.cancel()
    if interrupted_at is not None:
        raise KeyboardInterrupt
    if job is not None:
        return job.future.result()
    return None


def run(coro: Awaitable, events: EventQueue | None = None, handle=None, **kwargs):
    """Run ``coro`` to the end, handling its events on this thread; interrupt-safe."""
    events = events or EventQueue()
    job = submit(coro, events)
    return wait(events, handle, job=job, **kwargs)
