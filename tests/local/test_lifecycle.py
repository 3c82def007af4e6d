"""A sandbox's lifecycle on the real server and podman: hibernate and wake, idle hibernation, restarts, scale."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from .conftest import container_of, containers, engine, private_server


def container_status(sandbox_id: str) -> str:
    return engine("inspect", "--format", "{{.State.Status}}", container_of(sandbox_id)).stdout.strip()


async def run(api, sandbox_id: str, command: str, **body) -> dict:
    response = await api.post(
        f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "bash", "args": ["-c", command], **body}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def new_sandbox(api, made, timeout: int = 0) -> str:
    response = await api.post("/sandboxes", json={"timeout": timeout})
    assert response.status_code == 201, response.text
    made.append(response.json()["sandboxID"])
    return response.json()["sandboxID"]


async def wait_for_status(api, sandbox_id: str, status: str, seconds: float = 60) -> dict:
    info: dict = {}
    for _ in range(int(seconds / 0.25)):
        info = (await api.get(f"/sandboxes/{sandbox_id}")).json()
        if info.get("status") == status:
            return info
        await asyncio.sleep(0.25)
    raise AssertionError(f"{sandbox_id} never reached {status!r}: {info}")


async def test_hibernate_keeps_files_and_processes_and_a_command_wakes_it(api, made):
    sandbox_id = await new_sandbox(api, made)
    await run(
        api, sandbox_id, "echo kept > /workspace/note; nohup sleep 1000 >/dev/null 2>&1 & echo $! > /workspace/pid"
    )

    answer = await api.post(f"/sandboxes/{sandbox_id}/hibernate")
    assert answer.status_code == 200 and answer.json() == {"sandboxID": sandbox_id, "status": "hibernated"}
    assert container_status(sandbox_id) == "paused"
    # Reading its record does not wake it; the list says so too.
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "hibernated"
    listed = {s["sandboxID"]: s["status"] for s in (await api.get("/sandboxes")).json()}
    assert listed[sandbox_id] == "hibernated"
    assert container_status(sandbox_id) == "paused"

    result = await run(api, sandbox_id, "cat /workspace/note; kill -0 $(cat /workspace/pid) && echo alive")
    assert result["stdout"] == "kept\nalive\n"
    assert container_status(sandbox_id) == "running"
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"


async def test_a_file_call_wakes_a_hibernated_sandbox(api, made):
    sandbox_id = await new_sandbox(api, made)
    assert (
        await api.put(f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/a.txt"}, content=b"abc")
    ).status_code == 204
    await api.post(f"/sandboxes/{sandbox_id}/hibernate")
    read = await api.get(f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/a.txt"})
    assert read.status_code == 200 and read.content == b"abc"
    assert container_status(sandbox_id) == "running"


async def test_wake_answers_the_sandbox_and_sets_its_timeout(api, made):
    sandbox_id = await new_sandbox(api, made)
    await api.post(f"/sandboxes/{sandbox_id}/hibernate")
    woke = await api.post(f"/sandboxes/{sandbox_id}/wake", json={"timeout": 600})
    assert woke.status_code == 200, woke.text
    assert woke.json()["sandboxID"] == sandbox_id and woke.json()["status"] == "running"
    assert woke.json()["timeout"] == 600
    # Waking a running sandbox is harmless, with or without a body.
    assert (await api.post(f"/sandboxes/{sandbox_id}/wake")).json()["status"] == "running"


async def test_idle_timeout_hibernates_instead_of_removing(api, made):
    sandbox_id = await new_sandbox(api, made, timeout=2)
    await run(api, sandbox_id, "echo before > /workspace/f")
    await wait_for_status(api, sandbox_id, "hibernated")
    assert containers(f"oc-jupyter.sandbox={sandbox_id}") == [container_of(sandbox_id)]
    assert container_status(sandbox_id) == "paused"
    assert (await run(api, sandbox_id, "cat /workspace/f"))["stdout"] == "before\n"


async def test_a_long_silent_command_is_not_frozen_by_the_idle_timeout(api, made):
    sandbox_id = await new_sandbox(api, made, timeout=3)
    result = await run(api, sandbox_id, "sleep 20; echo finished", timeout=120)
    assert result["exitCode"] == 0 and result["stdout"] == "finished\n"


async def test_a_killed_hibernated_sandbox_leaves_nothing(api):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    await api.post(f"/sandboxes/{sandbox_id}/hibernate")
    assert (await api.delete(f"/sandboxes/{sandbox_id}")).status_code == 204
    assert containers(f"oc-jupyter.sandbox={sandbox_id}") == []


async def test_hibernated_sandbox_survives_a_server_restart(tmp_path, base_image):
    with private_server(tmp_path) as server:
        async with server.client() as api:
            sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
            await run(
                api, sandbox_id, "echo 41 > /workspace/n; nohup sleep 1000 >/dev/null 2>&1 & echo $! > /workspace/pid"
            )
            assert (await api.post(f"/sandboxes/{sandbox_id}/hibernate")).status_code == 200
        assert server.cli("server", "stop").returncode == 0
        assert container_status(sandbox_id) == "paused"
        server.start()
        async with server.client() as api:
            assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "hibernated"
            assert container_status(sandbox_id) == "paused"
            result = await run(api, sandbox_id, "cat /workspace/n; kill -0 $(cat /workspace/pid) && echo alive")
            assert result["stdout"] == "41\nalive\n"
            assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"


@pytest.mark.parametrize("route", ["reboot", "power-cycle"])
async def test_reboot_and_power_cycle_end_processes_and_keep_the_disk(api, made, route):
    sandbox_id = await new_sandbox(api, made)
    await run(api, sandbox_id, "echo disk > /workspace/kept; nohup sleep 1000 >/dev/null 2>&1 &")
    answer = await api.post(f"/sandboxes/{sandbox_id}/{route}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "running"
    result = await run(api, sandbox_id, "cat /workspace/kept; pgrep -x sleep -a | grep -c 1000 || true")
    assert result["stdout"] == "disk\n0\n"


async def test_scale_changes_the_memory_limit_live(api, made):
    sandbox_id = await new_sandbox(api, made)
    answer = await api.post(f"/sandboxes/{sandbox_id}/scale", json={"memoryMB": 384})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sandboxID"] == sandbox_id and body["memoryMB"] == 384 and body["cpuPercent"] >= 100
    limit = engine(
        "exec",
        container_of(sandbox_id),
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    assert limit.stdout.strip() == str(384 * 1024 * 1024)
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["memoryMB"] == 384


async def test_scale_refuses_a_tiny_limit_in_one_sentence(api, made):
    sandbox_id = await new_sandbox(api, made)
    answer = await api.post(f"/sandboxes/{sandbox_id}/scale", json={"memoryMB": 1})
    assert answer.status_code == 400 and "memoryMB" in answer.json()["error"]


async def test_lifecycle_routes_name_an_unknown_sandbox(api):
    for route in ("hibernate", "wake", "reboot", "power-cycle"):
        answer = await api.post(f"/sandboxes/sb-0000000000000000/{route}")
        assert answer.status_code == 404 and "sb-0000000000000000" in answer.json()["error"]


async def test_scale_refuses_more_than_the_host_has(api, made):
    sandbox_id = await new_sandbox(api, made)
    answer = await api.post(f"/sandboxes/{sandbox_id}/scale", json={"memoryMB": 1 << 20})
    assert answer.status_code == 400 and "memoryMB" in answer.json()["error"]
    assert "less than or equal to" in answer.json()["error"]


async def start_session(api, sandbox_id: str, command: str, env: dict | None = None) -> str:
    body = {"cmd": "bash", "args": ["-c", command], **({"envs": env} if env else {})}
    started = await api.post(f"/sandboxes/{sandbox_id}/exec", json=body)
    assert started.status_code == 201, started.text
    return started.json()["sessionID"]


async def test_a_running_session_keeps_its_sandbox_awake(api, made):
    sandbox_id = await new_sandbox(api, made, timeout=2)
    await start_session(api, sandbox_id, "sleep 30")
    await asyncio.sleep(9)  # the timeout and a reaper pass, twice over
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"


async def test_an_interpreter_waiting_for_input_lets_its_sandbox_hibernate_and_input_wakes_it(api, made, local_server):
    sandbox_id = await new_sandbox(api, made, timeout=2)
    session = await start_session(
        api, sandbox_id, "while read line; do echo got:$line; done", env={"OC_JUPYTER_IDLE_SESSION": "1"}
    )
    url = (
        local_server.url.replace("http", "ws", 1)
        + f"/api/sandboxes/{sandbox_id}/exec/{session}"
        + f"?api_key={local_server.key}"
    )
    async with websockets.connect(url) as ws:
        assert await ws.recv() == bytes([0x04])
        await wait_for_status(api, sandbox_id, "hibernated")
        await ws.send(b"\x00hello\n")
        assert await asyncio.wait_for(ws.recv(), 30) == b"\x01got:hello\n"
    assert container_status(sandbox_id) == "running"
