"""The Jupyter server's proxy to preview URLs: a real JupyterLab, a real local server and real sandboxes."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import httpx
import pytest
import websockets

pytestmark = pytest.mark.asyncio

# The WebSocket echo server the preview tests run in a sandbox (stdlib only).
_spec = importlib.util.spec_from_file_location("preview_tests", Path(__file__).parents[1] / "local" / "test_previews.py")
_previews = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_previews)
WS_ECHO = _previews.WS_ECHO

HEADER_ECHO = ("import http.server\n"
               "class H(http.server.BaseHTTPRequestHandler):\n"
               "    def do_GET(self):\n"
               "        out = (self.path + '\\n' + str(self.headers)).encode()\n"
               "        self.send_response(200); self.send_header('Content-Length', str(len(out)))\n"
               "        self.send_header('Set-Cookie', '_xsrf=planted; Path=/')\n"
               "        self.send_header('Set-Cookie', 'app=1; Path=/')\n"
               "        self.end_headers(); self.wfile.write(out)\n"
               "http.server.HTTPServer(('127.0.0.1', 9000), H).serve_forever()\n")


@pytest.fixture
async def api(local_server):
    async with httpx.AsyncClient(base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key},
                                 timeout=60) as client:
        yield client


@pytest.fixture
async def sandbox(api):
    created = await api.post("/sandboxes", json={"templateID": "base", "timeout": 0})
    assert created.status_code == 201, created.text
    sandbox_id = created.json()["sandboxID"]
    yield sandbox_id
    await api.delete(f"/sandboxes/{sandbox_id}")


async def _serve(api, sandbox_id: str, port: int, *argv: str) -> None:
    started = await api.post(f"/sandboxes/{sandbox_id}/exec", json={"cmd": argv[0], "args": list(argv[1:]),
                                                                     "cwd": "/workspace"})
    assert started.status_code == 201, started.text
    assert (await api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": port})).status_code == 201


async def _until_up(client: httpx.AsyncClient, url: str, **kw) -> httpx.Response:
    for _ in range(150):
        response = await client.get(url, **kw)
        if response.status_code not in (502, 503):
            return response
        await asyncio.sleep(0.2)
    return response


async def test_exposed_page_needs_the_jupyter_login(lab, api, sandbox):
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/hello.txt"}, content=b"hi there")
    await _serve(api, sandbox, 8000, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    url = f"{lab.url}/oc-jupyter/proxy/{sandbox}/8000/"
    async with httpx.AsyncClient(timeout=30) as client:
        listing = await _until_up(client, url, headers=lab.auth)
        assert listing.status_code == 200 and "hello.txt" in listing.text
        assert (await client.get(url + "hello.txt", headers=lab.auth)).text == "hi there"
    # A fresh client: the first one now holds the login cookie Jupyter set after the token.
    async with httpx.AsyncClient(timeout=30) as stranger:
        anonymous = await stranger.get(url)
        assert anonymous.status_code in (302, 403)
        if anonymous.status_code == 302:
            assert "/login" in anonymous.headers["location"]
        assert "hello.txt" not in anonymous.text
    async with httpx.AsyncClient(timeout=30) as client:
        posted = await client.post(url, headers=lab.auth)
        assert posted.status_code == 501  # http.server has no POST: it was asked, and said so
        bare = await client.get(f"{lab.url}/oc-jupyter/proxy/{sandbox}/8000", headers=lab.auth)
        assert bare.status_code in (301, 302) and bare.headers["location"].endswith(f"/{sandbox}/8000/")


async def test_jupyter_credentials_stay_out_of_the_sandbox(lab, api, sandbox, local_server):
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/echo.py"}, content=HEADER_ECHO.encode())
    await _serve(api, sandbox, 9000, "python3", "/workspace/echo.py")
    url = f"{lab.url}/oc-jupyter/proxy/{sandbox}/9000/seen?token={lab.token}&q=1"
    async with httpx.AsyncClient(timeout=30) as client:
        seen = await _until_up(client, url, headers={**lab.auth, "Cookie": "_xsrf=abc; mine=kept"})
    assert seen.status_code == 200, seen.text
    assert seen.text.startswith("/seen?q=1")
    assert lab.token not in seen.text and local_server.key not in seen.text
    assert "mine=kept" in seen.text and "_xsrf" not in seen.text
    cookies = seen.headers.get_list("set-cookie")
    assert "app=1; Path=/" in cookies
    assert not any("planted" in cookie for cookie in cookies)


async def test_websocket_through_the_jupyter_server(lab, api, sandbox):
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/ws.py"}, content=WS_ECHO.encode())
    await _serve(api, sandbox, 8765, "python3", "/workspace/ws.py")
    url = lab.url.replace("http://", "ws://") + f"/oc-jupyter/proxy/{sandbox}/8765/socket"
    for _ in range(150):
        async with websockets.connect(url, additional_headers=lab.auth) as ws:
            try:
                await ws.send("ping")
                answer = await asyncio.wait_for(ws.recv(), 10)
                break
            except websockets.ConnectionClosed:
                await asyncio.sleep(0.2)  # the echo server was not listening yet
    assert answer == "echo:ping"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url)
    # Refused: a 403, or (websockets follows redirects) the redirect to Jupyter's login page.
    response = refused.value.response
    assert response.status_code in (302, 403) or b"login" in response.body.lower()


async def _execute(lab, kernel_id: str, code: str) -> str:
    """Run ``code`` in a kernel of the Jupyter server over its channels socket; its text output."""
    import json
    import uuid

    url = lab.url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                          "version": "5.3"},
               "parent_header": {}, "metadata": {}, "channel": "shell",
               "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                           "allow_stdin": False, "stop_on_error": True}}
    out: list[str] = []
    async with websockets.connect(url, additional_headers=lab.auth, max_size=None) as ws:
        await ws.send(json.dumps(request))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 600))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("display_data", "execute_result"):
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                out.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)


async def test_oc_expose_in_a_lab_kernel_prints_a_working_link(lab):
    import re

    async with httpx.AsyncClient(timeout=60, headers=lab.auth) as client:
        kernel = (await client.post(f"{lab.url}/api/kernels", json={"name": "python3"})).json()
        try:
            await _execute(lab, kernel["id"], "%load_ext oc_jupyter")
            await _execute(lab, kernel["id"], "%oc_run python3 -m http.server 8000 --bind 127.0.0.1 > /dev/null 2>&1 &")
            shown = await _execute(lab, kernel["id"], "%oc_expose 8000")
            match = re.search(r": (/oc-jupyter/proxy/sb-[0-9a-f]+/8000/) ", shown)
            assert match, shown
            page = await _until_up(client, lab.url + match.group(1))
            assert page.status_code == 200 and "Directory listing" in page.text
        finally:
            await client.delete(f"{lab.url}/api/kernels/{kernel['id']}")
