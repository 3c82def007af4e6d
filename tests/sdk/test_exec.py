"""Commands in a real sandbox on the local server: run, streaming sessions, stdin, interrupts."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time

import pytest
from _support import poll

from oc_jupyter.sdk import ExecSession, Sandbox, SandboxNotFound, sync


async def test_run_returns_exit_code_and_output(base_sandbox):
    result = await base_sandbox.commands.run("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    env = await base_sandbox.exec.run("echo $GREETING from $(pwd)", env={"GREETING": "héllo"}, cwd="/tmp")
    assert env.stdout == "héllo from /tmp\n"


async def test_session_streams_output_in_order_as_it_is_produced(base_sandbox):
    events: list[tuple[str, str]] = []
    first_line = asyncio.Event()

    def on_stdout(text: str) -> None:
        events.append(("out", text))
        first_line.set()

    session = await base_sandbox.exec.start(
        "sh",
        ["-c", "echo one; sleep 1; echo two >&2; printf 'caf\\303'; sleep 0.2; printf '\\251\\n'; exit 7"],
        on_stdout=on_stdout,
        on_stderr=lambda text: events.append(("err", text)),
        on_exit=lambda code: events.append(("exit", str(code))),
    )
    assert isinstance(session, ExecSession) and session.session_id
    await asyncio.wait_for(first_line.wait(), 30)
    assert not session.done()  # the first line arrived while the command was still sleeping
    assert await session.wait() == 7
    assert session.exit_code == 7 and session.done()
    out = "".join(text for kind, text in events if kind == "out")
    assert out == "one\ncafé\n"  # the split UTF-8 character was decoded whole
    assert ("err", "two\n") in events
    assert events[-1] == ("exit", "7")
    assert events.index(("out", "one\n")) < events.index(("err", "two\n"))


async def test_stdin_reaches_the_command(base_sandbox):
    chunks: list[str] = []
    session = await base_sandbox.exec.start("sh", ["-c", "read line; echo got:$line"], on_stdout=chunks.append)
    await session.send_stdin("hello\n")
    assert await session.wait(timeout=30) == 0
    assert "".join(chunks) == "got:hello\n"


async def test_kill_stops_the_command(base_sandbox):
    session = await base_sandbox.exec.start("sleep", ["300"])
    await session.kill()
    code = await session.wait(timeout=30)
    assert code in (-9, 128 + 9), f"expected death by SIGKILL, got exit code {code}"


def test_interrupt_while_waiting_kills_the_remote_process(base_sandbox):
    marker = "oc-interrupt-marker"
    printed = threading.Event()
    waiting = threading.Event()
    session = sync.run(
        base_sandbox.exec.start(
            "sh", ["-c", f"echo ready; exec sleep 301 # {marker}"], on_stdout=lambda _: printed.set()
        )
    )
    main = threading.main_thread().ident

    async def wait() -> int:
        # Set from the SDK's loop: by then the main thread is blocked inside sync.run, as a user pressing stop is.
        waiting.set()
        return await session.wait()

    def interrupt() -> None:
        printed.wait(30)
        waiting.wait(30)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        sync.run(wait())
    # The remote process is gone (the kill is sent before the interrupt propagates;
    # the server notices the exit a moment later) and the sandbox still answers.
    assert sync.run(_ended(base_sandbox, session.session_id)), "the interrupted command is still running"
    check = sync.run(base_sandbox.commands.run("ps -eo args | grep -c '[s]leep 301' || true"))
    assert check.stdout.strip() == "0"


def test_interrupted_run_stops_the_remote_command_and_leaves_the_sandbox_usable(base_sandbox):
    # The command's own line, matched whole, so neither the sandbox's idle sleep nor the checks match.
    count = "ps -eo args | grep -cx 'sleep 37' || true"
    started = threading.Event()

    def interrupt() -> None:
        # As a kernel interrupt does: once the command runs, interrupt the main thread blocked in sync.run.
        for _ in range(150):
            if sync.run(base_sandbox.commands.run(count)).stdout.strip() == "1":
                started.set()
                break
            time.sleep(0.2)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        sync.run(base_sandbox.commands.run("sleep 37", timeout=60))
    assert started.is_set(), "the command never started"
    # Dropping the request is all the client does; the server ends the command when it sees the hang-up.
    poll(lambda: sync.run(base_sandbox.commands.run(count)).stdout.strip() == "0",
         what="the interrupted command ending")
    assert sync.run(base_sandbox.commands.run("echo still here")).stdout == "still here\n"


async def _ended(sandbox: Sandbox, session_id: str, attempts: int = 50) -> bool:
    for _ in range(attempts):
        mine = [s for s in await sandbox.exec.list() if s.session_id == session_id]
        if not mine or not mine[0].running:
            return True
        await asyncio.sleep(0.2)
    return False


async def test_sandbox_objects_work_on_any_loop(base_sandbox):
    # Made on the test's loop, used on the SDK's background loop and back.
    again = sync.run(Sandbox.connect(base_sandbox.id, config=base_sandbox.config))
    assert (await again.commands.run("echo x")).stdout == "x\n"
    assert sync.run(base_sandbox.commands.run("echo y")).stdout == "y\n"


async def test_missing_sandbox_is_reported(sdk_config):
    ghost = Sandbox("sb-does-not-exist", sdk_config)
    with pytest.raises(SandboxNotFound):
        await ghost.commands.run("true")
    with pytest.raises(SandboxNotFound):
        await Sandbox.connect("sb-does-not-exist", config=sdk_config)
