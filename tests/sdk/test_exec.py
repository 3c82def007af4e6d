"""Commands in a real sandbox on the local server: run, streaming sessions, stdin, interrupts."""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time

import pytest
from _support import poll

from oc_jupyter.sdk import (
    ExecSession,
    Sandbox,
    SandboxNotFound,
    ShellBusyError,
    ShellClosedError,
    sync,
)


async def test_run_returns_exit_code_and_output(base_sandbox):
    result = await base_sandbox.commands.run("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    env = await base_sandbox.exec.run("echo $GREETING from $(pwd)", env={"GREETING": "héllo"}, cwd="/tmp")
    assert env.stdout == "héllo from /tmp\n"


async def test_session_streams_output_in_order_as_it_is_produced(base_sandbox):
    events: list[tuple[str, bytes | int]] = []
    first_line = asyncio.Event()

    def on_stdout(chunk: bytes) -> None:
        events.append(("out", chunk))
        first_line.set()

    session = await base_sandbox.exec.start(
        "sh",
        ["-c", "echo one; sleep 1; echo two >&2; printf 'caf\\303'; sleep 0.2; printf '\\251\\n'; exit 7"],
        on_stdout=on_stdout,
        on_stderr=lambda chunk: events.append(("err", chunk)),
        on_exit=lambda code: events.append(("exit", code)),
    )
    assert isinstance(session, ExecSession) and session.session_id
    await asyncio.wait_for(first_line.wait(), 30)
    assert isinstance(session.done, asyncio.Future)
    assert not session.done.done()  # the first line arrived while the command was still sleeping
    assert await session.done == 7
    assert session.exit_code == 7 and session.done.done()
    out = b"".join(chunk for kind, chunk in events if kind == "out")
    assert out.decode() == "one\ncafé\n"  # the bytes arrive as the command wrote them
    assert ("err", b"two\n") in events
    assert events[-1] == ("exit", 7)
    assert events.index(("out", b"one\n")) < events.index(("err", b"two\n"))


async def test_stdin_reaches_the_command(base_sandbox):
    chunks: list[bytes] = []
    session = await base_sandbox.exec.start("sh", ["-c", "read line; echo got:$line"], on_stdout=chunks.append)
    await session.send_stdin("hello\n")
    assert await session.wait(timeout=30) == 0
    assert b"".join(chunks) == b"got:hello\n"


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
    poll(
        lambda: sync.run(base_sandbox.commands.run(count)).stdout.strip() == "0", what="the interrupted command ending"
    )
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


async def test_background_then_attach_replays_the_scrollback_then_goes_live(base_sandbox):
    first = await base_sandbox.exec.background("sh", ["-c", "echo early; read go; echo late; exit 3"])
    await _until(lambda: _output_of(base_sandbox, first.session_id), "the early line to be produced")
    await first.close()  # detaching leaves the command running
    assert await first.done == -1  # as OpenComputer's SDK: -1 once this client left before the end
    [info] = [s for s in await base_sandbox.exec.list() if s.session_id == first.session_id]
    assert info.running and info.attached_clients == 0 and info["attachedClients"] == 0

    seen: list[tuple[str, bytes]] = []
    replayed = asyncio.Event()
    again = await base_sandbox.exec.attach(
        first.session_id,
        on_stdout=lambda chunk: seen.append(("out", chunk)),
        on_scrollback_end=lambda: (seen.append(("end", b"")), replayed.set()),
    )
    await asyncio.wait_for(replayed.wait(), 30)
    [info] = [s for s in await base_sandbox.exec.list() if s.session_id == first.session_id]
    assert info.attached_clients == 1
    await again.send_stdin("now\n")
    assert await asyncio.wait_for(again.done, 30) == 3
    assert seen == [("out", b"early\n"), ("end", b""), ("out", b"late\n")]


async def test_a_finished_session_can_still_be_attached_for_its_output_and_code(base_sandbox):
    session = await base_sandbox.exec.start("sh", ["-c", "echo bye; exit 4"])
    assert await session.done == 4
    out: list[bytes] = []
    late = await base_sandbox.exec.attach(session.session_id, on_stdout=out.append)
    assert await late.done == 4 and b"".join(out) == b"bye\n"


async def test_exec_kill_by_session_id_sends_the_signal(base_sandbox):
    session = await base_sandbox.exec.start("sleep", ["300"])
    await base_sandbox.exec.kill(session.session_id, signal=15)
    code = await asyncio.wait_for(session.done, 30)
    assert code in (-15, 128 + 15), code  # killed by SIGTERM, however the backend spells it


async def test_shell_keeps_cwd_and_exports_between_runs(base_sandbox):
    shell = await base_sandbox.exec.shell(cwd="/tmp", env={"FROM_OPEN": "1"})
    try:
        assert (await shell.run("pwd")).stdout == "/tmp\n"
        await shell.run("cd /etc && export GREETING=héllo")
        streamed: list[bytes] = []
        result = await shell.run("pwd; echo $GREETING $FROM_OPEN; echo oops >&2; false", on_stdout=streamed.append)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "/etc\nhéllo 1\n", "oops\n")
        assert b"".join(streamed).decode() == "/etc\nhéllo 1\n"
        running = asyncio.ensure_future(shell.run("sleep 1"))
        await asyncio.sleep(0.1)
        with pytest.raises(ShellBusyError):
            await shell.run("true")
        assert (await running).exit_code == 0
    finally:
        await shell.close()
    with pytest.raises(ShellClosedError, match="closed"):
        await shell.run("true")


async def test_a_shell_can_be_reattached_with_its_state(base_sandbox):
    shell = await base_sandbox.exec.shell()
    await shell.run("cd /usr && export KEPT=yes")
    await shell._session.close()  # leave without ending bash
    again = await base_sandbox.exec.reattach_shell(shell.session_id)
    try:
        result = await again.run("echo $(pwd) $KEPT")
        assert result.stdout == "/usr yes\n"
    finally:
        await again.close()


async def test_exit_in_a_shell_closes_it(base_sandbox):
    shell = await base_sandbox.exec.shell()
    with pytest.raises(ShellClosedError):
        await shell.run("exit 2")
    with pytest.raises(ShellClosedError):
        await shell.run("true")


async def _output_of(sandbox: Sandbox, session_id: str) -> bool:
    out: list[bytes] = []
    ended = asyncio.Event()
    peek = await sandbox.exec.attach(session_id, on_stdout=out.append, on_scrollback_end=ended.set)
    await asyncio.wait_for(ended.wait(), 30)
    await peek.close()
    return b"early" in b"".join(out)


async def _until(check, what: str, attempts: int = 100) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_attaching_to_an_unknown_session_names_it(base_sandbox):
    from oc_jupyter.sdk import SandboxError

    with pytest.raises(SandboxError, match="'no-such-session'") as caught:
        await base_sandbox.exec.attach("no-such-session")
    assert base_sandbox.config.api_key not in str(caught.value)
