"""The blocking facade: runs coroutines on the SDK's own loop, even inside a running loop, and obeys interrupts."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time

import pytest

from oc_jupyter.sdk import sync


async def test_run_works_inside_a_running_event_loop():
    """A notebook cell runs inside ipykernel's loop; sync.run must not need it."""
    assert asyncio.get_running_loop().is_running()

    async def where():
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert sync.run(where()) == "oc-jupyter-sdk-loop"


def test_run_propagates_exceptions_and_timeouts():
    async def fail():
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value"):
        sync.run(fail())
    cleaned = threading.Event()

    async def slow():
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.set()

    with pytest.raises(TimeoutError):
        sync.run(slow(), timeout=0.2)
    assert cleaned.is_set()


@pytest.mark.parametrize("deliver", ["signal", "interrupt_main"])
def test_keyboard_interrupt_cancels_the_coroutine_and_waits_for_its_cleanup(deliver):
    started = threading.Event()
    cleaned_up = threading.Event()

    async def long_running():
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # cleanup that itself awaits, like killing a remote session
            cleaned_up.set()
            raise

    def interrupt_when_started():
        started.wait(10)
        if deliver == "signal":
            signal.pthread_kill(main, signal.SIGINT)  # what a kernel interrupt sends
        else:
            _thread.interrupt_main()  # how some kernels simulate one

    main = threading.main_thread().ident

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        sync.run(long_running())
    assert cleaned_up.is_set()
    assert time.monotonic() - begun < 30  # it did not wait for the sleep


def test_objects_cross_between_loops():
    from oc_jupyter.sdk import _http

    async def client_id():
        return id(_http.client())

    assert sync.run(client_id()) == sync.run(client_id())
    assert asyncio.run(client_id()) != sync.run(client_id())


def test_rejects_non_coroutines():
    with pytest.raises(TypeError, match="expects a coroutine"):
        sync.run(lambda: None)  # type: ignore[arg-type]
