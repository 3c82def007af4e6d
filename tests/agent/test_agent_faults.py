"""Faults caused from outside with the engine's CLI: the agent killed, the container removed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import websockets
from _support import ENGINE, apoll
from engine_under_test import run_engine


async def test_a_killed_agent_is_replaced_on_the_next_call(run, sandboxes, container_of, engine_cli):
    sandbox = await sandboxes.create(templateID="base")
    agent_pid = (await run(sandbox, "sh", "-c", "echo $PPID"))["stdout"].strip()
    await asyncio.to_thread(
        subprocess.run, [engine_cli, "exec", container_of(sandbox), "sh", "-c", f"kill -9 {agent_pid}"], check=True
    )
    again = await run(sandbox, "sh", "-c", "echo $PPID; echo fine")
    assert again["stdout"].splitlines()[1] == "fine"
    assert again["stdout"].splitlines()[0] != agent_pid


async def test_container_removed_outside_fails_clearly_in_flight_and_after(
    api, run, sandboxes, container_of, engine_cli, ws_url
):
    sandbox = await sandboxes.create(templateID="base")
    await run(sandbox, "true")
    session = (await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "sleep", "args": ["300"]})).json()["sessionID"]
    in_flight = asyncio.create_task(api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "sleep", "args": ["300"]}))
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        assert (await ws.recv())[0] == 4
        await _sleeps_running(engine_cli, container_of(sandbox), 2)
        await asyncio.to_thread(run_engine, "rm", "-f", "-t", "0", container_of(sandbox), check=True)
        frames = [message async for message in ws]
    assert frames[-1][0] == 3  # the session ends with an exit frame instead of hanging

    response = await in_flight
    assert response.status_code == 404
    assert sandbox in response.json()["error"] and "outside oc_jupyter" in response.json()["error"]

    after = await api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "true"})
    assert after.status_code == 404
    assert "outside oc_jupyter" in after.json()["error"]
    listing = await api.get(f"/sandboxes/{sandbox}/files/list", params={"path": "/"})
    assert listing.status_code == 404


async def _sleeps_running(engine_cli: str, container: str, count: int) -> None:
    """Wait until ``count`` ``sleep 300`` commands run in the container, so the request reached the agent."""

    async def running() -> bool:
        ps = await asyncio.to_thread(
            subprocess.run,
            [
                engine_cli,
                "exec",
                container,
                "sh",
                "-c",
                "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done",
            ],
            capture_output=True,
            text=True,
        )
        return sum(line.strip() == "sleep 300" for line in ps.stdout.splitlines()) >= count

    await apoll(running, what=f"{count} 'sleep 300' running in {container}")


def _agent_exec_pid(server_pid: int, container: str) -> int:
    """The server's own ``exec -i <container> python3`` child, found through /proc."""
    for task in os.listdir(f"/proc/{server_pid}/task"):
        with open(f"/proc/{server_pid}/task/{task}/children") as children:
            for pid in children.read().split():
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    argv = cmdline.read().split(b"\0")
                if b"exec" in argv and container.encode() in argv and b"python3" in argv:
                    return int(pid)
    raise AssertionError(f"no agent exec process under server pid {server_pid}")


async def test_engine_exec_dying_mid_command_is_a_clear_error_then_recovers(
    api, run, sandboxes, container_of, local_server
):
    sandbox = await sandboxes.create(templateID="base")
    await run(sandbox, "true")
    server_pid = json.loads((local_server.home / "server.json").read_text())["pid"]
    in_flight = asyncio.create_task(api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "sleep", "args": ["300"]}))
    await _sleeps_running(ENGINE, container_of(sandbox), 1)
    os.kill(_agent_exec_pid(server_pid, container_of(sandbox)), signal.SIGKILL)
    response = await in_flight
    assert response.status_code == 500
    assert sandbox in response.json()["error"] and "retry" in response.json()["error"]
    assert (await run(sandbox, "echo", "back"))["stdout"] == "back\n"
