"""Running SDK coroutines from synchronous code, including inside Jupyter's running event loop.

The SDK runs such coroutines on a private event loop in a daemon thread and
blocks the caller until they finish. The alternative, nest-asyncio (or its
maintained fork nest-asyncio2, which ipykernel uses), re-enters the kernel's
own loop by patching asyncio globally; that changes scheduling for every
library in the process and has to be re-applied to each new loop. A private
loop patches nothing, works the same in a kernel, a script or a thread, and
gives interrupts a clear meaning: ``KeyboardInterrupt`` in the caller cancels
the task on the private loop, whose clean-up (for example killing an exec
session) stops the remote work, then the interrupt propagates.

SDK objects keep no loop-bound state (HTTP clients are per loop), so objects
made with ``await`` in a cell work here and the other way round. Callbacks
passed to coroutines run here run on the private loop's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "loop", "CLEANUP_GRACE"]

T = TypeVar("T")

#: Seconds an interrupted coroutine gets to clean up before the interrupt propagates.
CLEANUP_GRACE = 2.0

_SLICE = 0.1

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    """The SDK's background event loop, started on first use."""
    global _loop, _thread  # noqa: PLW0603 -- one background loop per process, guarded by _lock
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            new_loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            _thread = threading.Thread(target=serve, name="oc-jupyter-sdk-loop", daemon=True)
            _thread.start()
            ready.wait()
            _loop = new_loop
        return _loop


def _wait(event: threading.Event, timeout: float | None) -> bool:
    # Short slices: a simulated interrupt (``_thread.interrupt_main``, used by
    # some kernels) is only noticed between waits, never inside a long one.
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        slice_ = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
        if slice_ <= 0:
            return event.is_set()
        if event.wait(slice_):
            return True


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the SDK's background loop and return its result, blocking this thread.

    On ``KeyboardInterrupt`` (a kernel interrupt) or when ``timeout`` seconds
    pass, the coroutine is cancelled and given up to :data:`CLEANUP_GRACE`
    seconds to clean up; then the ``KeyboardInterrupt`` (or ``TimeoutError``)
    is raised here.
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"sync.run expects a coroutine (call the async function), got {type(coro).__name__}.")
    background = loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError(
            "sync.run cannot be called from the SDK's own loop thread (it would wait on itself); "
            "await the coroutine instead."
        )
    finished = threading.Event()
    interrupted = threading.Event()
    started: concurrent.futures.Future[asyncio.Task | None] = concurrent.futures.Future()

    def start() -> None:
        if interrupted.is_set():  # the interrupt came before the task existed
            coro.close()
            started.set_result(None)
            finished.set()
            return
        task = background.create_task(coro)
        task.add_done_callback(lambda _: finished.set())
        started.set_result(task)

    def cancel() -> None:
        # Runs on the loop after ``start`` whenever ``start`` was scheduled (callbacks run in order).
        interrupted.set()
        task = started.result() if started.done() else None
        if task is not None:
            task.cancel()

    # Everything from scheduling on sits in the ``try``: an interrupt can land
    # at any bytecode, even while ``call_soon_threadsafe`` wakes the loop.
    try:
        background.call_soon_threadsafe(start)
        if not _wait(finished, timeout):
            background.call_soon_threadsafe(cancel)
            finished.wait(CLEANUP_GRACE)
            raise TimeoutError(f"The operation did not finish within {timeout} s and was cancelled.")
    except KeyboardInterrupt:
        background.call_soon_threadsafe(cancel)
        finished.wait(CLEANUP_GRACE)
        raise
    task = started.result()
    if task is None:
        raise concurrent.futures.CancelledError()
    if task.cancelled():
        raise concurrent.futures.CancelledError()
    exc = task.exception()
    if exc is not None:
        raise exc
    return task.result()
