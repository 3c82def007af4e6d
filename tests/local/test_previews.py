"""Preview URLs on the local server: real servers in a real sandbox, reached over HTTP and WebSocket."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

pytestmark = pytest.mark.asyncio

# A WebSocket echo server with the standard library only (the base image has python3, not websockets).
WS_ECHO = r"""
import base64, hashlib, socket, struct, threading
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
def serve(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    f = conn.makefile("rb")
    while True:
        b0, b1 = f.read(2)
        n = b1 & 0x7F
        if n == 126: n = struct.unpack(">H", f.read(2))[0]
        elif n == 127: n = struct.unpack(">Q", f.read(8))[0]
        mask = f.read(4)
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(f.read(n)))
        op = b0 & 0x0F
        if op == 8:
            conn.sendall(b"\x88\x00"); return
        reply = b"echo:" + data
        size = bytes([len(reply)]) if len(reply) < 126 else b"\x7e" + struct.pack(">H", len(reply))
        conn.sendall(bytes([0x80 | op]) + size + reply)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765)); s.listen()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


async def _sandbox(api, made, **extra) -> str:
    created = await api.post("/sandboxes", json={"templateID": "base", "timeout": 0, **extra})
    assert created.status_code == 201, created.text
    made.append(created.json()["sandboxID"])
    return made[-1]


async def _serve(api, sandbox_id: str, *argv: str) -> None:
    started = await api.post(
        f"/sandboxes/{sandbox_id}/exec", json={"cmd": argv[0], "args": list(argv[1:]), "cwd": "/workspace"}
    )
    assert started.status_code == 201, started.text


async def _until_up(client: httpx.AsyncClient, url: str, **kw) -> httpx.Response:
    for _ in range(150):
        response = await client.get(url, **kw)
        if response.status_code != 502:
            return response
        await asyncio.sleep(0.2)
    return response


@pytest.fixture
async def page(api, made, local_server):
    """A sandbox serving /workspace with ``python3 -m http.server 8000``, a preview URL and a token."""
    sandbox_id = await _sandbox(api, made)
    put = await api.put(
        f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/hello.txt"}, content=b"hello preview"
    )
    assert put.status_code == 204, put.text
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    created = await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 8000})
    assert created.status_code == 201, created.text
    token = (await api.post(f"/sandboxes/{sandbox_id}/preview/rotate")).json()["previewAuthToken"]
    return sandbox_id, created.json(), token


async def test_preview_serves_the_page_with_its_token_only(page, local_server):
    sandbox_id, preview, token = page
    assert preview["sandboxId"] == sandbox_id and preview["port"] == 8000
    assert preview["hostname"].startswith(f"{sandbox_id}-p8000.localhost")
    url = f"{local_server.url}/preview/{sandbox_id}/8000/"
    assert preview["url"] == url
    async with httpx.AsyncClient(timeout=30) as client:
        listing = await _until_up(client, url, headers={"Authorization": f"Bearer {token}"})
        assert listing.status_code == 200 and "hello.txt" in listing.text
        anonymous = await client.get(url)
        assert anonymous.status_code == 401 and "preview token" in anonymous.json()["error"]
        wrong = await client.get(url, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        by_header = await client.get(url + "hello.txt", headers={"X-OC-Preview-Token": token})
        assert by_header.status_code == 200 and by_header.text == "hello preview"
        by_key = await client.get(url + "hello.txt", headers={"X-API-Key": local_server.key})
        assert by_key.text == "hello preview"
        # The cloud's shape: the sandbox and port in the host name.
        by_host = await client.get(
            local_server.url + "/hello.txt", headers={"Host": preview["hostname"], "Authorization": f"Bearer {token}"}
        )
        assert by_host.status_code == 200 and by_host.text == "hello preview"


async def test_rotating_the_token_retires_the_old_one(page, api, local_server):
    sandbox_id, _, token = page
    url = f"{local_server.url}/preview/{sandbox_id}/8000/hello.txt"
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await _until_up(client, url, headers={"X-OC-Preview-Token": token})).status_code == 200
        new = (await api.post(f"/sandboxes/{sandbox_id}/preview/rotate")).json()["previewAuthToken"]
        assert new != token
        assert (await client.get(url, headers={"X-OC-Preview-Token": token})).status_code == 401
        assert (await client.get(url, headers={"X-OC-Preview-Token": new})).status_code == 200


async def test_credentials_do_not_reach_the_sandbox(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    # A server that answers each request with the headers it received.
    script = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))\n"
        "        out = (str(self.headers) + '\\n' + body.decode()).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(out))); self.end_headers()\n"
        "        self.wfile.write(out)\n"
        "    do_GET = do_POST\n"
        "http.server.HTTPServer(('127.0.0.1', 9000), H).serve_forever()\n"
    )
    await api.put(f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/echo.py"}, content=script.encode())
    await _serve(api, sandbox_id, "python3", "/workspace/echo.py")
    await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 9000})
    token = (await api.post(f"/sandboxes/{sandbox_id}/preview/rotate")).json()["previewAuthToken"]
    url = f"{local_server.url}/preview/{sandbox_id}/9000/x?q=%2F1"
    async with httpx.AsyncClient(timeout=30) as client:
        await _until_up(client, url, headers={"X-API-Key": local_server.key})
        seen = await client.post(
            url,
            content=b"the body",
            headers={
                "X-API-Key": local_server.key,
                "Authorization": f"Bearer {token}",
                "X-OC-Preview-Token": token,
                "X-Mine": "kept",
            },
        )
    assert seen.status_code == 200 and seen.text.endswith("the body")
    assert local_server.key not in seen.text and token not in seen.text
    assert "x-mine: kept" in seen.text.lower()


async def test_a_chunked_upload_and_keep_alive(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8001", "--bind", "127.0.0.1")
    await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 8001})
    url = f"{local_server.url}/preview/{sandbox_id}/8001/"
    headers = {"X-API-Key": local_server.key}
    async with httpx.AsyncClient(timeout=30) as client:
        await _until_up(client, url, headers=headers)
        answers = [await client.get(url, headers=headers) for _ in range(5)]
        assert all(a.status_code == 200 for a in answers)

        async def chunks():
            for part in (b"a" * 1000, b"b" * 1000):
                yield part

        # http.server has no POST: a 501 from it proves the chunked request crossed the tunnel and back.
        posted = await client.post(url, content=chunks(), headers=headers)
        assert posted.status_code == 501


async def test_websocket_through_the_preview(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    await api.put(f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/ws.py"}, content=WS_ECHO.encode())
    await _serve(api, sandbox_id, "python3", "/workspace/ws.py")
    await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 8765})
    token = (await api.post(f"/sandboxes/{sandbox_id}/preview/rotate")).json()["previewAuthToken"]
    url = local_server.url.replace("http://", "ws://") + f"/preview/{sandbox_id}/8765/socket"
    for _ in range(150):
        try:
            ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"})
            break
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 502
            await asyncio.sleep(0.2)
    async with ws:
        await ws.send("hello")
        assert await ws.recv() == "echo:hello"
        await ws.send(b"\x00\x01" * 200)
        assert await ws.recv() == b"echo:" + b"\x00\x01" * 200
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 401


async def test_preview_api_shapes_and_errors(api, made, local_server):
    sandbox_id = await _sandbox(api, made)
    first = await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 3000})
    again = await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 3000})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert set(first.json()) >= {"id", "sandboxId", "hostname", "port", "authConfig", "createdAt"}
    listed = (await api.get(f"/sandboxes/{sandbox_id}/preview")).json()
    assert [p["port"] for p in listed] == [3000]
    bad = await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 70000})
    assert bad.status_code == 400 and "port" in bad.json()["error"]
    async with httpx.AsyncClient(timeout=30) as client:
        unexposed = await client.get(
            f"{local_server.url}/preview/{sandbox_id}/3001/", headers={"X-API-Key": local_server.key}
        )
        assert unexposed.status_code == 404 and "create_preview_url(3001)" in unexposed.json()["error"]
        nothing = await client.get(
            f"{local_server.url}/preview/{sandbox_id}/3000/", headers={"X-API-Key": local_server.key}
        )
        assert nothing.status_code == 502 and "port 3000" in nothing.json()["error"]
    assert (await api.delete(f"/sandboxes/{sandbox_id}/preview/3000")).status_code == 204
    assert (await api.delete(f"/sandboxes/{sandbox_id}/preview/3000")).status_code == 404
    assert (await api.get(f"/sandboxes/{sandbox_id}/preview")).json() == []


async def test_this_sdk_manages_preview_urls(local_server, sdk_config, api, made):
    from oc_jupyter.sdk import Sandbox

    sandbox_id = await _sandbox(api, made)
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    sandbox = await Sandbox.connect(sandbox_id, config=sdk_config)
    assert sandbox.preview_auth_token == ""
    made_url = await sandbox.create_preview_url(8000)
    assert made_url["port"] == 8000 and made_url["sandboxId"] == sandbox_id
    assert [p["port"] for p in await sandbox.list_preview_urls()] == [8000]
    token = await sandbox.rotate_preview_auth_token()
    assert token and sandbox.preview_auth_token == token and token not in repr(sandbox)
    async with httpx.AsyncClient(timeout=30) as client:
        page = await _until_up(client, made_url["url"], headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "Directory listing" in page.text
    with pytest.raises(ValueError, match="65535"):
        await sandbox.create_preview_url(0)
    await sandbox.delete_preview_url(8000)
    await sandbox.delete_preview_url(8000)  # already gone: no error, as upstream
    assert await sandbox.list_preview_urls() == []


async def test_opencomputer_sdk_manages_a_preview_url(local_server, api, made):
    from opencomputer import Sandbox as UpstreamSandbox

    sandbox_id = await _sandbox(api, made)
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    sandbox = await UpstreamSandbox.connect(sandbox_id, api_key=local_server.key, api_url=local_server.url)
    try:
        preview = await sandbox.create_preview_url(8000)
        token = await sandbox.rotate_preview_auth_token()
        assert sandbox.preview_auth_token == token
        assert [p["port"] for p in await sandbox.list_preview_urls()] == [8000]
        async with httpx.AsyncClient(timeout=30) as client:
            # As the official docs show it: the preview's host name, the token as a bearer.
            page = await _until_up(
                client,
                local_server.url + "/",
                headers={"Host": preview["hostname"], "Authorization": f"Bearer {token}"},
            )
            assert page.status_code == 200 and "Directory listing" in page.text
            refused = await client.get(local_server.url + "/", headers={"Host": preview["hostname"]})
            assert refused.status_code == 401
        await sandbox.delete_preview_url(8000)
        assert await sandbox.list_preview_urls() == []
    finally:
        await sandbox.close()


async def test_a_hit_without_the_token_does_not_wake_a_hibernated_sandbox(page, api, local_server):
    # Needs hibernation (POST /sandboxes/:id/hibernate), which another branch adds: this test is meant
    # to run once both are merged, and fails with a 404 on hibernate before that.
    sandbox_id, _, token = page
    url = f"{local_server.url}/preview/{sandbox_id}/8000/"
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await _until_up(client, url, headers={"X-OC-Preview-Token": token})).status_code == 200
        slept = await api.post(f"/sandboxes/{sandbox_id}/hibernate")
        assert slept.status_code == 200, slept.text
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-OC-Preview-Token": token[:-1]}):
            assert (await client.get(url, headers=headers)).status_code == 401
        by_host = await client.get(local_server.url + "/", headers={"Host": f"{sandbox_id}-p8000.localhost"})
        assert by_host.status_code == 401
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "hibernated"


async def test_preview_auth_at_create_with_opencomputer_sdk(local_server, api, made):
    from opencomputer import Sandbox as UpstreamSandbox

    sandbox = await UpstreamSandbox.create(
        template="base", api_key=local_server.key, api_url=local_server.url, preview_auth={"token": "auto"}
    )
    made.append(sandbox.sandbox_id)
    try:
        token = sandbox.preview_auth_token
        assert len(token) >= 32
        # Shown once: reading the sandbox again does not tell it.
        assert token not in (await api.get(f"/sandboxes/{sandbox.sandbox_id}")).text
        await _serve(api, sandbox.sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
        await sandbox.create_preview_url(8000)
        url = f"{local_server.url}/preview/{sandbox.sandbox_id}/8000/"
        async with httpx.AsyncClient(timeout=30) as client:
            page = await _until_up(client, url, headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200 and "Directory listing" in page.text
    finally:
        await sandbox.close()


async def test_bad_preview_auth_at_create_is_one_sentence(api):
    short = await api.post("/sandboxes", json={"previewAuth": {"scheme": "bearer", "token": "short"}})
    assert short.status_code == 400 and "at least 16 characters" in short.json()["error"]
    scheme = await api.post("/sandboxes", json={"previewAuth": {"scheme": "basic"}})
    assert scheme.status_code == 400 and "'basic'" in scheme.json()["error"]
    shape = await api.post("/sandboxes", json={"previewAuth": "yes"})
    assert shape.status_code == 400 and "previewAuth must be an object" in shape.json()["error"]


async def test_a_large_download_arrives_whole_and_secrets_stay_out_of_the_log(api, made, local_server):
    import hashlib
    import os

    sandbox_id = await _sandbox(api, made)
    # Larger than the terminal agent's 1 MiB window: it arrives only if the host's acknowledgements flow.
    blob = os.urandom(3 * 1024 * 1024 + 17)
    put = await api.put(f"/sandboxes/{sandbox_id}/files", params={"path": "/workspace/big.bin"}, content=blob)
    assert put.status_code == 204
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 8000})
    token = (await api.post(f"/sandboxes/{sandbox_id}/preview/rotate")).json()["previewAuthToken"]
    url = f"{local_server.url}/preview/{sandbox_id}/8000/big.bin"
    async with httpx.AsyncClient(timeout=60) as client:
        got = await _until_up(client, url, headers={"X-OC-Preview-Token": token})
        ws_url = (
            local_server.url.replace("http://", "ws://") + f"/preview/{sandbox_id}/8000/x?api_key={local_server.key}"
        )
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(ws_url)  # http.server refuses the upgrade; the URL still reaches the log
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(blob).hexdigest()
    log = (local_server.home / "server.log").read_text(errors="replace")
    assert f"/preview/{sandbox_id}/8000/big.bin" in log
    assert token not in log and local_server.key not in log


async def test_previews_work_in_a_sandbox_without_a_network(api, made, local_server):
    sandbox_id = await _sandbox(api, made, networkEnabled=False)
    # Really cut off: only the loopback interface (a sysfs listing needs no tools from the image).
    links = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "ls", "args": ["/sys/class/net"]})
    assert links.json()["stdout"].split() == ["lo"], links.text
    await _serve(api, sandbox_id, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": 8000})
    async with httpx.AsyncClient(timeout=30) as client:
        listing = await _until_up(
            client, f"{local_server.url}/preview/{sandbox_id}/8000/", headers={"X-API-Key": local_server.key}
        )
    assert listing.status_code == 200 and "Directory listing" in listing.text


async def test_this_sdk_gets_the_preview_token_at_create(local_server, sdk_config, made):
    from oc_jupyter.sdk import Sandbox

    sandbox = await Sandbox.create(timeout=0, config=sdk_config, preview_auth={"token": "auto"})
    made.append(sandbox.id)
    token = sandbox.preview_auth_token
    assert len(token) >= 32 and token not in repr(sandbox)
    await sandbox.info()  # the sandbox's record no longer carries the token; the object keeps it
    assert sandbox.preview_auth_token == token
    await sandbox.create_preview_url(8000)
    async with httpx.AsyncClient(timeout=30) as client:
        # Nothing listens yet: a 502 says the token passed the gate.
        reached = await client.get(
            f"{local_server.url}/preview/{sandbox.id}/8000/", headers={"Authorization": f"Bearer {token}"}
        )
    assert reached.status_code == 502
