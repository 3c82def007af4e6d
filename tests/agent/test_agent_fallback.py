"""An image without python3: commands, sessions and files fall back to the engine's exec."""

from __future__ import annotations

import struct

import websockets


async def test_run_works_without_python(run, nopython_sandbox):
    result = await run(
        nopython_sandbox, "sh", "-c", 'echo "$GREETING $EXTRA"; pwd; echo e >&2; exit 4', envs={"EXTRA": "there"}
    )
    assert result == {
        "exitCode": 4,
        "stdout": "hello there\n/srv\n",
        "stderr": "e\n",
        "oomKilled": False,
        "error": None,
    }
    assert (await run(nopython_sandbox, "sh", "-c", "command -v python3 || echo none"))["stdout"] == "none\n"


async def test_timeout_and_cwd_without_python(api, run, nopython_sandbox):
    timed = await run(nopython_sandbox, "sh", "-c", "sleep 300", timeout=1)
    assert timed["exitCode"] == -1 and "timed out" in timed["stderr"]
    assert (await run(nopython_sandbox, "pwd", cwd="/tmp"))["stdout"] == "/tmp\n"
    missing = await api.post(f"/sandboxes/{nopython_sandbox}/exec/run", json={"cmd": "true", "cwd": "/nope"})
    assert missing.status_code == 400


async def test_session_without_python(api, nopython_sandbox, ws_url):
    body = {"cmd": "sh", "args": ["-c", 'echo ready; read x; echo "got $x" >&2; exit 2']}
    session = (await api.post(f"/sandboxes/{nopython_sandbox}/exec", json=body)).json()["sessionID"]
    async with websockets.connect(ws_url(nopython_sandbox, session)) as ws:
        seen = []
        async for message in ws:
            seen.append((message[0], bytes(message[1:])))
            if message[0] == 1 and b"ready" in message:
                await ws.send(b"\x00hi\n")
            if message[0] == 3:
                break
    assert (1, b"ready\n") in seen and (2, b"got hi\n") in seen
    assert struct.unpack(">i", seen[-1][1])[0] == 2


async def test_files_without_python(api, nopython_sandbox):
    data = bytes(range(256)) * 1000
    path = "/tmp/fb/deep/data.bin"
    assert (
        await api.put(f"/sandboxes/{nopython_sandbox}/files", params={"path": path}, content=data)
    ).status_code == 204
    assert (await api.get(f"/sandboxes/{nopython_sandbox}/files", params={"path": path})).content == data
    assert (
        await api.post(f"/sandboxes/{nopython_sandbox}/files/mkdir", params={"path": "/tmp/fb/dir one"})
    ).status_code == 204
    listed = (await api.get(f"/sandboxes/{nopython_sandbox}/files/list", params={"path": "/tmp/fb"})).json()
    assert listed == [
        {"name": "deep", "isDir": True, "size": 0, "path": "/tmp/fb/deep"},
        {"name": "dir one", "isDir": True, "size": 0, "path": "/tmp/fb/dir one"},
    ]
    assert (await api.delete(f"/sandboxes/{nopython_sandbox}/files", params={"path": "/tmp/fb"})).status_code == 204
    assert (await api.get(f"/sandboxes/{nopython_sandbox}/files", params={"path": path})).status_code == 404
    assert (await api.get(f"/sandboxes/{nopython_sandbox}/files", params={"path": "/dev/zero"})).status_code == 409
