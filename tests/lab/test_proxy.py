"""The Jupyter server's proxy to preview URLs: a real JupyterLab, a real local server and real sandboxes.

Synchronous on purpose: the package's browser fixture runs Playwright's loop in
the main thread, where asyncio tests could not run.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

# The WebSocket echo server the preview tests run in a sandbox (stdlib only).
_spec = importlib.util.spec_from_file_location(
    "preview_tests", Path(__file__).parents[1] / "local" / "test_previews.py"
)
_previews = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_previews)
WS_ECHO = _previews.WS_ECHO

HEADER_ECHO = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        out = (self.path + '\\n' + str(self.headers)).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(out)))\n"
    "        self.send_header('Set-Cookie', '_xsrf=planted; Path=/')\n"
    "        self.send_header('Set-Cookie', 'app=1; Path=/')\n"
    "        self.end_headers(); self.wfile.write(out)\n"
    "http.server.HTTPServer(('127.0.0.1', 9000), H).serve_forever()\n"
)


@pytest.fixture
def api(local_server):
    with httpx.Client(
        base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def sandbox(api):
    created = api.post("/sandboxes", json={"templateID": "base", "timeout": 0})
    assert created.status_code == 201, created.text
    sandbox_id = created.json()["sandboxID"]
    yield sandbox_id
    api.delete(f"/sandboxes/{sandbox_id}")


def _serve(api, sandbox_id: str, port: int, *argv: str) -> None:
    started = api.post(
        f"/sandboxes/{sandbox_id}/exec", json={"cmd": argv[0], "args": list(argv[1:]), "cwd": "/workspace"}
    )
    assert started.status_code == 201, started.text
    assert api.post(f"/sandboxes/{sandbox_id}/preview", json={"port": port}).status_code == 201


def _until_up(client: httpx.Client, url: str, **kw) -> httpx.Response:
    for _ in range(150):
        response = client.get(url, **kw)
        if response.status_code not in (502, 503):
            return response
        time.sleep(0.2)
    return response


def test_exposed_page_needs_the_jupyter_login(lab, api, sandbox):
    api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/hello.txt"}, content=b"hi there")
    _serve(api, sandbox, 8000, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    url = f"{lab.url}/oc-jupyter/proxy/{sandbox}/8000/"
    with httpx.Client(timeout=30) as client:
        listing = _until_up(client, url, headers=lab.auth)
        assert listing.status_code == 200 and "hello.txt" in listing.text
        assert client.get(url + "hello.txt", headers=lab.auth).text == "hi there"
    # A fresh client: the first one now holds the login cookie Jupyter set after the token.
    with httpx.Client(timeout=30) as stranger:
        anonymous = stranger.get(url)
        assert anonymous.status_code in (302, 403)
        if anonymous.status_code == 302:
            assert "/login" in anonymous.headers["location"]
        assert "hello.txt" not in anonymous.text
    with httpx.Client(timeout=30) as client:
        posted = client.post(url, headers=lab.auth)
        assert posted.status_code == 501  # http.server has no POST: it was asked, and said so
        bare = client.get(f"{lab.url}/oc-jupyter/proxy/{sandbox}/8000", headers=lab.auth)
        assert bare.status_code in (301, 302) and bare.headers["location"].endswith(f"/{sandbox}/8000/")


def test_jupyter_credentials_stay_out_of_the_sandbox(lab, api, sandbox, local_server):
    api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/echo.py"}, content=HEADER_ECHO.encode())
    _serve(api, sandbox, 9000, "python3", "/workspace/echo.py")
    url = f"{lab.url}/oc-jupyter/proxy/{sandbox}/9000/seen?token={lab.token}&q=1"
    with httpx.Client(timeout=30) as client:
        seen = _until_up(client, url, headers={**lab.auth, "Cookie": "_xsrf=abc; mine=kept"})
    assert seen.status_code == 200, seen.text
    assert seen.text.startswith("/seen?q=1")
    assert lab.token not in seen.text and local_server.key not in seen.text
    assert "mine=kept" in seen.text and "_xsrf" not in seen.text
    cookies = seen.headers.get_list("set-cookie")
    assert "app=1; Path=/" in cookies
    assert not any("planted" in cookie for cookie in cookies)


def test_websocket_through_the_jupyter_server(lab, api, sandbox):
    api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/ws.py"}, content=WS_ECHO.encode())
    _serve(api, sandbox, 8765, "python3", "/workspace/ws.py")
    url = lab.url.replace("http://", "ws://") + f"/oc-jupyter/proxy/{sandbox}/8765/socket"
    answer = None
    for _ in range(150):
        with connect(url, additional_headers=lab.auth) as ws:
            try:
                ws.send("ping")
                answer = ws.recv(timeout=10)
                break
            except ConnectionClosed:
                time.sleep(0.2)  # the echo server was not listening yet
    assert answer == "echo:ping"
    with pytest.raises(InvalidStatus) as refused:
        connect(url)
    # Refused: a 403, or (the client follows redirects) the redirect to Jupyter's login page.
    response = refused.value.response
    assert response.status_code in (302, 403) or b"login" in response.body.lower()


def _execute(lab, kernel_id: str, code: str) -> str:
    """Run ``code`` in a kernel of the Jupyter server over its channels socket; its text output."""
    url = lab.url.replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "username": "test",
            "session": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }
    out: list[str] = []
    with connect(url, additional_headers=lab.auth, max_size=None) as ws:
        ws.send(json.dumps(request))
        while True:
            message = json.loads(ws.recv(timeout=600))
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


def test_oc_expose_in_a_lab_kernel_prints_a_working_link(lab):
    with httpx.Client(timeout=60, headers=lab.auth) as client:
        kernel = client.post(f"{lab.url}/api/kernels", json={"name": "python3"}).json()
        try:
            _execute(lab, kernel["id"], "%load_ext oc_jupyter")
            _execute(lab, kernel["id"], "%oc_run python3 -m http.server 8000 --bind 127.0.0.1 > /dev/null 2>&1 &")
            shown = _execute(lab, kernel["id"], "%oc_expose 8000")
            match = re.search(r": (/oc-jupyter/proxy/sb-[0-9a-f]+/8000/) ", shown)
            assert match, shown
            page = _until_up(client, lab.url + match.group(1))
            assert page.status_code == 200 and "Directory listing" in page.text
        finally:
            client.delete(f"{lab.url}/api/kernels/{kernel['id']}")


def test_a_browser_opens_the_exposed_page_and_its_websocket(lab, api, sandbox, page):
    api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/ws.py"}, content=WS_ECHO.encode())
    api.put(
        f"/sandboxes/{sandbox}/files",
        params={"path": "/workspace/index.html"},
        content=b"<html><body><h1 id='t'>served from the sandbox</h1></body></html>",
    )
    _serve(api, sandbox, 8765, "python3", "/workspace/ws.py")
    _serve(api, sandbox, 8000, "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1")
    proxied = f"/oc-jupyter/proxy/{sandbox}"
    with httpx.Client(timeout=30) as client:
        assert _until_up(client, f"{lab.url}{proxied}/8000/", headers=lab.auth).status_code == 200
    page.goto(f"{lab.url}{proxied}/8000/?token={lab.token}")
    assert page.locator("#t").inner_text() == "served from the sandbox"
    # Same origin as Jupyter, so the login cookie the token set carries the WebSocket too.
    # Retried while the echo server in the sandbox may still be starting.
    echoed = page.evaluate(
        """async (path) => {
        for (let attempt = 0; attempt < 100; attempt++) {
            const answer = await new Promise((resolve) => {
                const ws = new WebSocket(location.origin.replace(/^http/, "ws") + path);
                ws.onopen = () => ws.send("from the browser");
                ws.onmessage = (event) => { resolve(event.data); ws.close(); };
                ws.onclose = () => resolve(null);
            });
            if (answer !== null) return answer;
            await new Promise((r) => setTimeout(r, 200));
        }
        return "never answered";
    }""",
        f"{proxied}/8765/socket",
    )
    assert echoed == "echo:from the browser"
