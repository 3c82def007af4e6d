"""exec/run and exec sessions over real HTTP and WebSocket, through the in-sandbox agent."""

from __future__ import annotations

import asyncio
import struct

import pytest
import websockets

STDOUT, STDERR, EXIT, SCROLLBACK_END = 1, 2, 3, 4


async def frames_until_exit(ws) -> list[tuple[int, bytes]]:
    """Every frame as (kind, data) up to and including the exit frame."""
    seen = []
    async for message in ws:
        seen.append((message[0], bytes(message[1:])))
        if message[0] == EXIT:
            break
    return seen


def exit_code(frame: tuple[int, bytes]) -> int:
    assert frame[0] == EXIT
    return struct.unpack(">i", frame[1])[0]


# -- exec/run -----------------------------------------------------------------


async def test_run_returns_output_and_exit_code(run, sandbox):
    result = await run(sandbox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result == {"exitCode": 3, "stdout": "out\n", "stderr": "err\n", "oomKilled": False, "error": None}


async def test_run_merges_env_over_the_sandbox_env_and_honours_cwd(run, sandbox):
    result = await run(sandbox, "sh", "-c", 'echo "$FOO|$PATH"; pwd', envs={"FOO": "bar baz"}, cwd="/tmp")
    foo, path = result["stdout"].splitlines()[0].split("|")
    assert foo == "bar baz"
    assert "/usr/bin" in path  # the image's own environment is still there
    assert result["stdout"].splitlines()[1] == "/tmp"


async def test_run_defaults_to_the_image_workdir_and_sees_the_image_env(run, sandboxes):
    image = {
        "base": "base",
        "steps": [
            {"type": "workdir", "args": {"path": "/opt/work"}},
            {"type": "env", "args": {"vars": {"PROJECT": "demo"}}},
        ],
    }
    sandbox = await sandboxes.create(image=image, envs={"FROM_CREATE": "yes"})
    result = await run(sandbox, "sh", "-c", 'pwd; echo "$PROJECT $FROM_CREATE"')
    assert result["stdout"] == "/opt/work\ndemo yes\n"


async def test_each_run_is_isolated(run, sandbox):
    await run(sandbox, "sh", "-c", "export LEAK=1; cd /tmp")
    result = await run(sandbox, "sh", "-c", 'echo "[$LEAK]"')
    assert result["stdout"] == "[]\n"


async def test_run_timeout_kills_the_whole_process_group(run, sandbox):
    result = await run(sandbox, "sh", "-c", "sleep 300 & echo $!; wait", timeout=1)
    assert result["exitCode"] == -1
    assert "timed out" in result["stderr"]
    child = result["stdout"].strip()
    probe = await run(sandbox, "sh", "-c", f"kill -0 {child} 2>/dev/null && echo alive || echo gone")
    assert probe["stdout"] == "gone\n"


async def test_run_returns_when_the_command_exits_even_if_a_background_child_keeps_its_pipes(run, sandbox):
    result = await run(sandbox, "sh", "-c", "sleep 120 & echo started", timeout=60)
    assert result == {"exitCode": 0, "stdout": "started\n", "stderr": "", "oomKilled": False, "error": None}


async def test_missing_command_is_exit_127_with_a_message(run, sandbox):
    result = await run(sandbox, "no-such-command-xyz")
    assert result["exitCode"] == 127
    assert "no-such-command-xyz" in result["stderr"]


async def test_missing_cwd_is_a_400_sentence(api, sandbox):
    response = await api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "true", "cwd": "/no/such/dir"})
    assert response.status_code == 400
    assert "'/no/such/dir'" in response.json()["error"]


async def test_nul_in_a_command_is_a_400(api, sandbox):
    response = await api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "echo", "args": ["a\u0000b"]})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]


async def test_large_and_non_utf8_output(run, sandbox):
    big = await run(sandbox, "sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' x")
    assert len(big["stdout"]) == 5_000_000 and set(big["stdout"]) == {"x"}
    raw = await run(sandbox, "printf", "a\\377b")
    assert raw["stdout"] == "a\ufffdb"


async def test_unknown_sandbox_is_404(api):
    response = await api.post("/sandboxes/sb-doesnotexist/exec/run", json={"cmd": "true"})
    assert response.status_code == 404
    assert "sb-doesnotexist" in response.json()["error"]


# -- exec sessions ------------------------------------------------------------


async def test_session_streams_in_order_and_replays_scrollback(api, sandbox, ws_url):
    script = 'echo one; echo two >&2; read line; echo "got $line"; echo three >&2; exit 5'
    created = await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "sh", "args": ["-c", script]})
    assert created.status_code == 201
    info = created.json()
    assert info["sandboxID"] == sandbox and info["command"] == "sh" and info["running"] is True
    assert set(info) >= {
        "sessionID",
        "sandboxID",
        "command",
        "args",
        "running",
        "exitCode",
        "startedAt",
        "attachedClients",
    }
    session = info["sessionID"]

    # First client: waits for the output printed before the command blocks on stdin, then leaves.
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        seen = b""
        while b"two" not in seen or b"one" not in seen:
            seen += bytes(await ws.recv())

    # Second client: gets that output replayed, the end-of-scrollback marker, then live output.
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        replay = []
        while True:
            message = await ws.recv()
            if message[0] == SCROLLBACK_END:
                break
            replay.append((message[0], bytes(message[1:])))
        assert replay == [(STDOUT, b"one\n"), (STDERR, b"two\n")]
        await ws.send(b"\x00hello\n")
        live = await frames_until_exit(ws)
    assert live[:-1] == [(STDOUT, b"got hello\n"), (STDERR, b"three\n")]
    assert exit_code(live[-1]) == 5

    listed = (await api.get(f"/sandboxes/{sandbox}/exec")).json()
    mine = [s for s in listed if s["sessionID"] == session]
    assert mine and mine[0]["running"] is False and mine[0]["exitCode"] == 5


async def test_attaching_after_exit_replays_everything_then_the_exit(api, sandbox, ws_url):
    created = (await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "sh", "args": ["-c", "echo done"]})).json()
    session = created["sessionID"]
    for _ in range(200):
        listed = (await api.get(f"/sandboxes/{sandbox}/exec")).json()
        if not next(s for s in listed if s["sessionID"] == session)["running"]:
            break
        await asyncio.sleep(0.05)
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        frames = await frames_until_exit(ws)
    assert frames[:2] == [(STDOUT, b"done\n"), (SCROLLBACK_END, b"")]
    assert exit_code(frames[2]) == 0


async def test_kill_sends_the_signal_to_the_session(api, sandbox, ws_url):
    session = (await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "sleep", "args": ["300"]})).json()["sessionID"]
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        assert (await ws.recv())[0] == SCROLLBACK_END
        killed = await api.post(f"/sandboxes/{sandbox}/exec/{session}/kill", json={"signal": 15})
        assert killed.status_code == 204
        frames = await frames_until_exit(ws)
    assert exit_code(frames[-1]) == 128 + 15


async def test_session_is_killed_after_max_run_after_disconnect(api, sandbox, ws_url):
    body = {"cmd": "sleep", "args": ["300"], "maxRunAfterDisconnect": 1}
    session = (await api.post(f"/sandboxes/{sandbox}/exec", json=body)).json()["sessionID"]
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        assert (await ws.recv())[0] == SCROLLBACK_END
    for _ in range(300):
        listed = (await api.get(f"/sandboxes/{sandbox}/exec")).json()
        state = next(s for s in listed if s["sessionID"] == session)
        if not state["running"]:
            break
        await asyncio.sleep(0.1)
    assert state["running"] is False and state["exitCode"] == 128 + 9


async def test_session_without_max_run_after_disconnect_keeps_running(api, sandbox, ws_url):
    session = (
        await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "sh", "args": ["-c", "read x; echo $x"]})
    ).json()["sessionID"]
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        assert (await ws.recv())[0] == SCROLLBACK_END
    async with websockets.connect(ws_url(sandbox, session)) as ws:
        assert (await ws.recv())[0] == SCROLLBACK_END
        await ws.send(b"\x00still here\n")
        frames = await frames_until_exit(ws)
    assert frames[0] == (STDOUT, b"still here\n") and exit_code(frames[-1]) == 0


@pytest.mark.parametrize("key", ["", "wrong-key"])
async def test_websocket_refuses_a_missing_or_wrong_key(api, sandbox, ws_url, key):
    session = (await api.post(f"/sandboxes/{sandbox}/exec", json={"cmd": "true"})).json()["sessionID"]
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(sandbox, session, key=key)):
            pass
    assert refused.value.response.status_code == 401


async def test_unknown_session_is_404_for_attach_and_kill(api, sandbox, ws_url):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(sandbox, "nosuchid")):
            pass
    assert refused.value.response.status_code == 404
    killed = await api.post(f"/sandboxes/{sandbox}/exec/nosuchid/kill", json={"signal": 9})
    assert killed.status_code == 404
    assert "'nosuchid'" in killed.json()["error"]


async def test_a_client_hanging_up_stops_its_command(api, run, sandbox, local_server):
    import httpx

    script = "echo $$ > /tmp/hangup.pid; exec sleep 300"
    async with httpx.AsyncClient(
        base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, timeout=600
    ) as other:
        request = asyncio.create_task(
            other.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "sh", "args": ["-c", script]})
        )
        for _ in range(400):
            pid_file = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/hangup.pid"})
            if pid_file.status_code == 200 and pid_file.content.strip():
                break
            await asyncio.sleep(0.05)
        request.cancel()  # what an interrupted notebook cell does to its HTTP request
    pid = pid_file.content.decode().strip()
    for _ in range(400):
        probe = await run(sandbox, "sh", "-c", f"kill -0 {pid} 2>/dev/null && echo alive || echo gone")
        if probe["stdout"] == "gone\n":
            break
        await asyncio.sleep(0.05)
    assert probe["stdout"] == "gone\n"


async def test_a_quiet_command_keeps_its_sandbox_from_the_idle_reaper(api, run, sandboxes):
    sandbox = await sandboxes.create(templateID="base")
    assert (await api.post(f"/sandboxes/{sandbox}/timeout", json={"timeout": 2})).status_code in (200, 204)
    result = await run(sandbox, "sh", "-c", "sleep 12; echo survived", timeout=60)
    assert result["stdout"] == "survived\n"
    assert (await api.get(f"/sandboxes/{sandbox}")).status_code == 200


async def test_session_stdin_carries_megabytes_in_order(api, sandbox, ws_url):
    import hashlib
    import os

    data = os.urandom(3 * 1024 * 1024)
    body = {"cmd": "sh", "args": ["-c", f"head -c {len(data)} | sha256sum"]}
    session = (await api.post(f"/sandboxes/{sandbox}/exec", json=body)).json()["sessionID"]
    async with websockets.connect(ws_url(sandbox, session), max_size=None) as ws:
        assert (await ws.recv())[0] == SCROLLBACK_END
        for start in range(0, len(data), 64 * 1024):
            await ws.send(b"\x00" + data[start : start + 64 * 1024])
        frames = await frames_until_exit(ws)
    out = b"".join(data for kind, data in frames if kind == STDOUT)
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert exit_code(frames[-1]) == 0
