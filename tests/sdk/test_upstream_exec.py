"""OpenComputer's own SDK, unmodified, driving exec sessions and shells against the local server."""

from __future__ import annotations

import asyncio

import pytest
from opencomputer import Sandbox, ShellBusyError, ShellClosedError


@pytest.fixture
async def sandbox(local_server, monkeypatch):
    monkeypatch.delenv("OPENCOMPUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENCOMPUTER_API_URL", raising=False)
    box = await Sandbox.create(api_key=local_server.key, api_url=local_server.url)
    yield box
    await box.kill()
    await box.close()


async def _attached(sandbox: Sandbox, session_id: str, count: int) -> bool:
    for _ in range(100):
        [info] = [s for s in await sandbox.exec.list() if s.session_id == session_id]
        if info.attached_clients == count:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_background_attach_replays_scrollback_then_streams_live(sandbox):
    printed, warned = asyncio.Event(), asyncio.Event()
    first = await sandbox.exec.background(
        "sh",
        args=["-c", "for i in 1 2 3; do echo line$i; done; echo oops >&2; read go; echo after:$go; exit 6"],
        on_stdout=lambda chunk: printed.set() if b"line3" in chunk else None,
        on_stderr=lambda chunk: warned.set() if b"oops" in chunk else None,
    )
    await asyncio.wait_for(asyncio.gather(printed.wait(), warned.wait()), 60)
    await first.close()
    assert await first.done == -1  # upstream's meaning of "detached before the end"
    assert await _attached(sandbox, first.session_id, 0)
    [info] = [s for s in await sandbox.exec.list() if s.session_id == first.session_id]
    assert info.running and info.command == "sh" and info.exit_code is None and info.started_at

    order: list[tuple[str, bytes]] = []
    replay_done = asyncio.Event()
    exits: list[int] = []

    def scrollback_end() -> None:
        order.append(("end", b""))
        replay_done.set()

    again = await sandbox.exec.attach(
        first.session_id,
        on_stdout=lambda chunk: order.append(("out", chunk)),
        on_stderr=lambda chunk: order.append(("err", chunk)),
        on_exit=exits.append,
        on_scrollback_end=scrollback_end,
    )
    await asyncio.wait_for(replay_done.wait(), 60)
    assert await _attached(sandbox, first.session_id, 1)
    before = order.index(("end", b""))
    assert b"".join(chunk for kind, chunk in order[:before] if kind == "out") == b"line1\nline2\nline3\n"
    assert b"".join(chunk for kind, chunk in order[:before] if kind == "err") == b"oops\n"
    await again.send_stdin("yes\n")
    assert await asyncio.wait_for(again.done, 60) == 6
    assert b"".join(chunk for kind, chunk in order[before:] if kind == "out") == b"after:yes\n"
    assert exits == [6]
    [info] = [s for s in await sandbox.exec.list() if s.session_id == first.session_id]
    assert not info.running and info.exit_code == 6


async def test_a_finished_session_is_still_listed_and_replayed(sandbox):
    session = await sandbox.exec.start("sh", args=["-c", "echo bye; exit 2"])
    assert await session.done == 2
    out: list[bytes] = []
    late = await sandbox.exec.attach(session.session_id, on_stdout=out.append)
    assert await asyncio.wait_for(late.done, 60) == 2 and b"".join(out) == b"bye\n"


async def test_exec_kill_with_a_signal(sandbox):
    session = await sandbox.exec.start("sleep", args=["300"])
    await sandbox.exec.kill(session.session_id, signal=15)
    assert await asyncio.wait_for(session.done, 60) == 128 + 15


async def test_shell_state_persists_and_reattaches(sandbox):
    shell = await sandbox.exec.shell(cwd="/tmp", env={"OPENED": "1"})
    assert (await shell.run("pwd")).stdout == "/tmp\n"
    await shell.run("cd /etc; export COLOR=blue; greet() { echo hi $1; }")
    streamed: list[bytes] = []
    result = await shell.run("pwd; echo $COLOR $OPENED; greet you", on_stdout=streamed.append)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "/etc\nblue 1\nhi you\n", "")
    assert b"".join(streamed) == b"/etc\nblue 1\nhi you\n"
    running = asyncio.ensure_future(shell.run("sleep 1; false"))
    await asyncio.sleep(0.1)
    with pytest.raises(ShellBusyError):
        await shell.run("true")
    assert (await running).exit_code == 1

    await shell._session.close()  # leave bash running, as a process that ends would
    again = await sandbox.exec.reattach_shell(shell.session_id)
    assert (await again.run("echo $(pwd) $COLOR")).stdout == "/etc blue\n"
    await again.close()
    with pytest.raises(ShellClosedError):
        await again.run("true")


async def test_a_shell_opened_by_one_sdk_is_reattached_by_the_other(sandbox, sdk_config):
    from oc_jupyter.sdk import Sandbox as OurSandbox

    theirs = await sandbox.exec.shell()
    await theirs.run("cd /var && export FROM=upstream")
    await theirs._session.close()
    ours = await OurSandbox(sandbox.sandbox_id, sdk_config).exec.reattach_shell(theirs.session_id)
    try:
        result = await ours.run("echo $(pwd) $FROM")
        assert (result.exit_code, result.stdout) == (0, "/var upstream\n")
    finally:
        await ours.close()
