"""Terminals on the local server: a real shell on a pseudo-terminal in a real sandbox, over a WebSocket."""

from __future__ import annotations

import asyncio
import re

import pytest
import websockets

from .conftest import private_server

pytestmark = pytest.mark.asyncio


def _connect(url: str):
    # A generous handshake bound: on a loaded machine the sandbox lookup behind it can be slow.
    return websockets.connect(url, open_timeout=60)


async def _sandbox(api, made) -> str:
    created = await api.post("/sandboxes", json={"templateID": "base", "timeout": 0})
    assert created.status_code == 201, created.text
    made.append(created.json()["sandboxID"])
    return made[-1]


def _socket_url(base: str, key: str, sandbox_id: str, session_id: str, prefix: str = "/api") -> str:
    return base.replace("http://", "ws://") + f"{prefix}/sandboxes/{sandbox_id}/pty/{session_id}?api_key={key}"


async def _read_until(ws, pattern: str, limit: float = 30.0) -> str:
    seen = b""

    async def loop() -> str:
        nonlocal seen
        while not re.search(pattern, seen.decode(errors="replace")):
            seen += await ws.recv()
        return seen.decode(errors="replace")

    try:
        return await asyncio.wait_for(loop(), limit)
    except asyncio.TimeoutError:
        raise AssertionError(f"{pattern!r} never appeared; the terminal showed {seen[-500:]!r}") from None


async def test_typed_keys_are_echoed_and_run(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    opened = await api.post(f"/sandboxes/{sandbox_id}/pty", json={"cols": 100, "rows": 30})
    assert opened.status_code == 201, opened.text
    info = opened.json()
    assert info["sandboxID"] == sandbox_id and info["sessionID"]
    async with _connect(_socket_url(local_server.url, local_server.key, sandbox_id, info["sessionID"])) as ws:
        await ws.send(b"echo h''i; hostname; echo $TERM; tput colors\r")
        text = await _read_until(ws, r"\r\n256\r\n")
    assert "echo h''i" in text  # the terminal echoed the keystrokes
    assert re.search(r"[\r\n]hi\r\n", text)
    assert f"\r\n{sandbox_id}\r\n" in text
    assert "\r\nxterm-256color\r\n" in text


async def test_resize_is_seen_by_stty(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
    async with _connect(_socket_url(local_server.url, local_server.key, sandbox_id, session_id)) as ws:
        await ws.send(b"stty size\r")
        await _read_until(ws, r"[\r\n]24 80\r\n")
        resized = await api.post(f"/sandboxes/{sandbox_id}/pty/{session_id}/resize", json={"cols": 132, "rows": 43})
        assert resized.status_code == 204, resized.text
        await ws.send(b"stty size\r")
        await _read_until(ws, r"[\r\n]43 132\r\n")


async def test_delete_ends_the_shell_and_closes_the_socket(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
    async with _connect(_socket_url(local_server.url, local_server.key, sandbox_id, session_id)) as ws:
        await ws.send(b"echo ready\r")
        await _read_until(ws, r"[\r\n]ready\r\n")
        assert (await api.delete(f"/sandboxes/{sandbox_id}/pty/{session_id}")).status_code == 204
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)
    again = await api.post(f"/sandboxes/{sandbox_id}/pty/{session_id}/resize", json={"cols": 10, "rows": 10})
    assert again.status_code == 404 and session_id in again.json()["error"]


async def test_exit_in_the_shell_closes_the_socket(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
    async with _connect(_socket_url(local_server.url, local_server.key, sandbox_id, session_id)) as ws:
        await ws.send(b"exit 3\r")
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)


async def test_socket_without_key_is_refused(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
    for prefix in ("/api", ""):
        url = local_server.url.replace("http://", "ws://") + f"{prefix}/sandboxes/{sandbox_id}/pty/{session_id}"
        for query in ("", "?api_key=not-the-key"):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with _connect(url + query):
                    pass
            assert refused.value.response.status_code == 401


async def test_bad_sizes_and_shells_are_one_sentence(api, made):
    sandbox_id = await _sandbox(api, made)
    bad = await api.post(f"/sandboxes/{sandbox_id}/pty", json={"cols": 0})
    assert bad.status_code == 400 and "cols" in bad.json()["error"]
    relative = await api.post(f"/sandboxes/{sandbox_id}/pty", json={"shell": "bash"})
    assert relative.status_code == 400 and "'bash'" in relative.json()["error"]
    missing = await api.post(f"/sandboxes/{sandbox_id}/pty", json={"shell": "/bin/nosuchshell"})
    assert missing.status_code == 400 and "'/bin/nosuchshell' does not exist in sandbox" in missing.json()["error"]


async def test_terminal_with_no_client_ends_after_the_grace_period(tmp_path, base_image):
    with private_server(tmp_path, OC_JUPYTER_PTY_GRACE="1") as server:
        async with server.client() as api:
            created = await api.post("/sandboxes", json={"templateID": "base", "timeout": 0})
            sandbox_id = created.json()["sandboxID"]
            session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
            info = server.info()
            async with _connect(_socket_url(info["url"], info["key"], sandbox_id, session_id)) as ws:
                await ws.send(b"echo attached\r")
                await _read_until(ws, r"[\r\n]attached\r\n")
            for _ in range(100):
                gone = await api.post(f"/sandboxes/{sandbox_id}/pty/{session_id}/resize", json={"cols": 9, "rows": 9})
                if gone.status_code == 404:
                    break
                await asyncio.sleep(0.2)
            assert gone.status_code == 404
            await api.delete(f"/sandboxes/{sandbox_id}")


async def _collect_until(session, pattern: str) -> str:
    seen = b""

    async def loop() -> str:
        nonlocal seen
        while not re.search(pattern, seen.decode(errors="replace")):
            seen += await session.recv()
        return seen.decode(errors="replace")

    return await asyncio.wait_for(loop(), 30)


async def test_this_sdk_drives_a_terminal(local_server, sdk_config, api, made):
    from oc_jupyter.sdk import Sandbox

    sandbox_id = await _sandbox(api, made)
    sandbox = await Sandbox.connect(sandbox_id, config=sdk_config)
    shown: list[bytes] = []
    session = await sandbox.pty.create(cols=90, rows=20, on_output=shown.append)
    await session.send("stty size; echo $((6*7))\r")
    for _ in range(300):
        if re.search(r"[\r\n]42\r\n", b"".join(shown).decode(errors="replace")):
            break
        await asyncio.sleep(0.1)
    text = b"".join(shown).decode(errors="replace")
    assert re.search(r"[\r\n]20 90\r\n", text) and re.search(r"[\r\n]42\r\n", text)
    await session.resize(100, 30)
    await session.kill()
    await session.close()
    assert local_server.key not in repr(session)


async def test_opencomputer_sdk_drives_a_terminal(local_server, api, made):
    from opencomputer import Sandbox as UpstreamSandbox

    sandbox_id = await _sandbox(api, made)
    sandbox = await UpstreamSandbox.connect(sandbox_id, api_key=local_server.key, api_url=local_server.url)
    try:
        session = await sandbox.pty.create(cols=80, rows=24)
        await session.send("hostname\r")
        assert sandbox_id in await _collect_until(session, rf"[\r\n]{sandbox_id}\r\n")
        await session.close()
    finally:
        await sandbox.close()


async def test_a_late_client_gets_the_scrollback_and_both_see_what_either_types(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    session_id = (await api.post(f"/sandboxes/{sandbox_id}/pty", json={})).json()["sessionID"]
    url = _socket_url(local_server.url, local_server.key, sandbox_id, session_id)
    async with _connect(url) as first:
        await first.send(b"echo first-$((1+1))\r")
        await _read_until(first, r"[\r\n]first-2\r\n")
        async with _connect(url) as second:
            assert "first-2" in await _read_until(second, r"[\r\n]first-2\r\n")
            await second.send(b"echo second-$((2+2))\r")
            await _read_until(first, r"[\r\n]second-4\r\n")
            await _read_until(second, r"[\r\n]second-4\r\n")
