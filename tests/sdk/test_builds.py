"""Build streams: logs reach the callback while the build runs; errors, keepalives and fallbacks."""

from __future__ import annotations

import threading

import pytest
from sdk_servers import Reply, sse

from oc_jupyter.sdk import BuildFailed, BuildLog, Image, Sandbox, Snapshots
from oc_jupyter.sdk.builds import RECENT_EVENTS, TAIL_LINES

SANDBOX = {"sandboxID": "sb-1", "status": "running"}


async def test_build_logs_arrive_before_the_stream_ends_and_keepalives_are_ignored(recorder):
    first_seen = threading.Event()

    def hold_until_seen(index: int) -> None:
        # The server sends nothing after the first log until the client has handed it to the callback.
        if index == 2:
            first_seen.wait(10)

    log_event = {"step": 1, "type": "apt_install", "message": "Step 1/1: apt_install curl", "phase": "start"}
    recorder.route(
        "POST",
        "/api/sandboxes",
        Reply(
            stream=sse(
                ": keepalive\n\n",
                ("build_log", log_event),
                ": keepalive\n\n",
                ("build_log", {"step": 1, "type": "apt_install", "message": "Setting up curl"}),
                ("result", SANDBOX),
                pause=hold_until_seen,
            )
        ),
    )
    received: list[tuple[BuildLog, bool]] = []

    def on_log(log: BuildLog) -> None:
        received.append((log, first_seen.is_set()))
        first_seen.set()

    sandbox = await Sandbox.create(
        image=Image.base().apt_install(["curl"]), on_build_log=on_log, config=recorder.config
    )
    assert sandbox.id == "sb-1"
    # The first log was delivered while the server was still holding the rest of the stream back.
    assert [(str(log), was_set) for log, was_set in received] == [
        ("Step 1/1: apt_install curl", False),
        ("Setting up curl", True),
    ]
    first, second = (log for log, _ in received)
    assert (first.step, first.type, first.phase, first.total) == (1, "apt_install", "start", 1)
    assert second.phase == "output"


async def test_phase_is_inferred_for_backends_that_do_not_send_it(recorder):
    recorder.route(
        "POST",
        "/api/sandboxes",
        Reply(
            stream=sse(
                ("build_log", {"step": 0, "type": "cache_hit", "message": "Using cached image"}),
                ("build_log", {"step": 2, "type": "run", "message": "Step 2/3: run make (cached)"}),
                ("result", SANDBOX),
            )
        ),
    )
    logs: list[BuildLog] = []
    await Sandbox.create(image=Image.base(), on_build_log=logs.append, config=recorder.config)
    assert [(log.phase, log.step) for log in logs] == [("cached", 0), ("cached", 2)]


async def test_async_callbacks_are_awaited(recorder):
    recorder.route(
        "POST", "/api/sandboxes", Reply(stream=sse(("build_log", {"message": "hello"}), ("result", SANDBOX)))
    )
    seen = []

    async def on_log(log):
        seen.append(str(log))

    await Sandbox.create(image=Image.base(), on_build_log=on_log, config=recorder.config)
    assert seen == ["hello"]


async def test_error_event_raises_build_failed_with_step_and_tail(recorder):
    recorder.route(
        "POST",
        "/api/snapshots",
        Reply(
            stream=sse(
                ("build_log", {"step": 1, "type": "run", "message": "Step 1/1: run false"}),
                ("build_log", {"step": 1, "type": "run", "message": "boom"}),
                ("error", {"error": "Step 1/1 (run) failed with exit code 1: boom", "step": 1, "tail": ["boom"]}),
            )
        ),
    )
    with pytest.raises(BuildFailed) as info:
        await Snapshots(config=recorder.config).create("bad", Image.base().run_commands("false"))
    failure = info.value
    assert str(failure) == "Step 1/1 (run) failed with exit code 1: boom"
    assert failure.step == 1 and failure.tail == ["boom"]
    assert [str(log) for log in failure.log] == ["Step 1/1: run false", "boom"]


async def test_cloud_style_error_without_tail_takes_it_from_the_log(recorder):
    recorder.route(
        "POST",
        "/api/snapshots",
        Reply(
            stream=sse(
                ("build_log", {"step": 2, "type": "run", "message": "Step 2/2: run make"}),
                ("build_log", {"step": 2, "type": "run", "message": "make: *** No rule"}),
                ("error", {"error": "Step 2/2 failed"}),
            )
        ),
    )
    with pytest.raises(BuildFailed) as info:
        await Snapshots(config=recorder.config).create("bad", Image.base().run_commands("make"))
    assert info.value.tail == ["make: *** No rule"]


async def test_snapshot_create_polls_when_answered_202_json(recorder):
    building = {"name": "ml", "status": "building"}
    recorder.route("POST", "/api/snapshots", Reply(202, building))
    recorder.route(
        "GET",
        "/api/snapshots/ml",
        Reply(404, {"error": "not found"}),
        Reply(200, building),
        Reply(200, {**building, "status": "ready", "contentHash": "h"}),
    )
    info = await Snapshots(config=recorder.config).create("ml", Image.base())
    assert info.status == "ready" and info["contentHash"] == "h"
    assert [r.method for r in recorder.requests] == ["POST", "GET", "GET", "GET"]


async def test_snapshot_create_polls_when_the_stream_breaks(recorder):
    recorder.route("POST", "/api/snapshots", Reply(stream=sse(("build_log", {"message": "Step 1/1: run sleep 5"}))))
    recorder.route("GET", "/api/snapshots/ml", Reply(200, {"name": "ml", "status": "failed", "error": "killed"}))
    with pytest.raises(BuildFailed, match="failed to build: killed"):
        await Snapshots(config=recorder.config).create("ml", Image.base().run_commands("sleep 5"))


async def test_a_long_build_keeps_only_a_bounded_tail_of_its_log(recorder):
    lines = 5000
    recorder.route(
        "POST",
        "/api/snapshots",
        Reply(
            stream=sse(
                ("build_log", {"step": 1, "type": "run", "message": "Step 1/1: run make", "phase": "start"}),
                *(
                    ("build_log", {"step": 1, "type": "run", "message": f"line {i}", "phase": "output"})
                    for i in range(lines)
                ),
                ("error", {"error": "Step 1/1 failed", "step": 1}),
            )
        ),
    )
    seen = []
    with pytest.raises(BuildFailed) as info:
        await Snapshots(config=recorder.config).create("long", Image.base().run_commands("make"), seen.append)
    # The callback got every event; the exception carries only the latest ones and the step's last lines.
    assert len(seen) == lines + 1
    assert len(info.value.log) == RECENT_EVENTS
    assert str(info.value.log[-1]) == f"line {lines - 1}"
    assert info.value.tail == [f"line {i}" for i in range(lines - TAIL_LINES, lines)]


async def test_a_dropped_stream_is_announced_to_the_callback_before_polling(recorder):
    recorder.route("POST", "/api/snapshots", Reply(stream=sse(("build_log", {"message": "Step 1/1: run sleep 5"}))))
    recorder.route("GET", "/api/snapshots/ml", Reply(200, {"name": "ml", "status": "ready"}))
    seen: list[BuildLog] = []
    info = await Snapshots(config=recorder.config).create("ml", Image.base().run_commands("sleep 5"), seen.append)
    assert info.status == "ready"
    assert [(log.phase, log.type, log.step) for log in seen] == [("start", "build", 1), ("reattach", "reattach", None)]
    assert (
        str(seen[-1]) == "The build stream dropped; following snapshot 'ml' by polling its status until the build ends."
    )
