"""Every route of the local server, the WebSocket included, refuses a missing or wrong key.

Routes are enumerated from the server's own OpenAPI schema (so a route added
later is covered without editing this file) plus the exec attach WebSocket,
which OpenAPI cannot describe.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

WRONG_KEYS = {"missing": None, "wrong": "not-the-key-0123456789abcdef", "empty": "", "key with a suffix": None}
PATH_VALUES = {
    "sandbox_id": "sb-0000000000000000",
    "name": "some-snapshot",
    "session_id": "sess-0",
    "exec_id": "exec-0",
    "port": "8000",
    "checkpoint_id": "00000000-0000-0000-0000-000000000000",
}
# Signed file URLs: their signature is the credential (tests/local/test_signed_files.py refuses bad ones).
SIGNED = {("GET", "/api/sandboxes/{sandbox_id}/files/download"), ("PUT", "/api/sandboxes/{sandbox_id}/files/upload")}


def _routes(anonymous) -> list[tuple[str, str]]:
    schema = anonymous.get("/openapi.json").json()
    found = []
    for path, operations in schema["paths"].items():
        for method in operations:
            if (method.upper(), path) in SIGNED:
                continue
            found.append((method.upper(), re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x-0"), path)))
    return found


def test_only_the_signed_file_urls_go_without_the_key(anonymous):
    schema = anonymous.get("/openapi.json").json()
    keyless = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api/") and operation.get("security") == []
    }
    assert keyless == SIGNED
    # Without a signature they refuse, naming what is missing, and never serve a file.
    response = anonymous.get("/api/sandboxes/sb-0000000000000000/files/download", params={"path": "/etc/passwd"})
    assert response.status_code == 400 and "expires" in response.json()["error"]


def test_the_schema_lists_every_resource(anonymous):
    paths = {path for _, path in _routes(anonymous)}
    assert {
        "/api/sandboxes",
        "/api/snapshots",
        "/api/sandboxes/sb-0000000000000000/exec/run",
        "/api/sandboxes/sb-0000000000000000/files",
        "/api/x-oc-jupyter/v1/cache-preview",
    } <= paths
    assert len(_routes(anonymous)) >= 20


@pytest.mark.parametrize("how", list(WRONG_KEYS))
def test_every_api_route_refuses_a_missing_or_wrong_key(anonymous, local_server, how):
    routes = [(m, p) for m, p in _routes(anonymous) if p.startswith("/api/")]
    key = WRONG_KEYS[how] if how != "key with a suffix" else local_server.key + "x"
    headers = {} if key is None else {"X-API-Key": key}
    refused = []
    for method, path in routes:
        response = anonymous.request(
            method, path, headers={**headers, "Content-Type": "application/json"}, content=b"{}"
        )
        if response.status_code != 401:
            refused.append((method, path, response.status_code, response.text[:200]))
            continue
        body = response.json()
        assert set(body) == {"error", "code"} and body["code"] == "unauthorized", body
        assert "key" in body["error"].lower()
        assert local_server.key not in response.text
    assert refused == [], f"routes that did not answer 401 ({how} key): {refused}"


def test_the_key_in_the_query_string_is_not_accepted_for_http_routes(anonymous, local_server):
    response = anonymous.get("/api/snapshots", params={"api_key": local_server.key})
    assert response.status_code == 401


def test_only_liveness_and_the_schema_answer_without_a_key(anonymous, local_server):
    open_routes = [(m, p) for m, p in _routes(anonymous) if not p.startswith("/api/")]
    assert open_routes == [("GET", "/health")]
    health = anonymous.get("/health")
    assert health.status_code == 200 and health.json() == {"ok": True}
    assert anonymous.get("/docs").status_code == 404 and anonymous.get("/redoc").status_code == 404


@pytest.mark.parametrize("how", ["missing", "wrong", "empty"])
async def test_the_exec_websocket_refuses_a_missing_or_wrong_key(local_server, api, live_sandbox, how):
    session = api.post(f"/sandboxes/{live_sandbox}/exec", json={"cmd": "sleep", "args": ["30"]})
    assert session.status_code == 201, session.text
    session_id = session.json()["sessionID"]
    base = local_server.url.replace("http://", "ws://") + f"/api/sandboxes/{live_sandbox}/exec/{session_id}"
    url = {"missing": base, "wrong": base + "?api_key=not-the-key", "empty": base + "?api_key="}[how]
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(url, open_timeout=15):
            pass
    assert caught.value.response.status_code == 401
    assert local_server.key.encode() not in (caught.value.response.body or b"")
    # The right key is let in, and sees the session.
    async with websockets.connect(base + f"?api_key={local_server.key}", open_timeout=15) as ws:
        frame = await ws.recv()
        assert isinstance(frame, bytes)
    api.post(f"/sandboxes/{live_sandbox}/exec/{session_id}/kill", json={"signal": 9})


async def test_the_websocket_refuses_before_revealing_whether_a_sandbox_exists(local_server):
    url = local_server.url.replace("http://", "ws://") + "/api/sandboxes/sb-0000000000000000/exec/x?api_key=bad"
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(url, open_timeout=15):
            pass
    assert caught.value.response.status_code == 401


def _listening(port: int) -> list[tuple[str, str]]:
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.append((table, address))
    return found


def test_the_server_listens_on_loopback_only(local_server):
    port = int(local_server.url.rsplit(":", 1)[1])
    sockets = _listening(port)
    assert sockets == [("/proc/net/tcp", "0100007F")], sockets  # 127.0.0.1, and no IPv6 or wildcard socket
    pid = json.loads((local_server.home / "server.json").read_text())["pid"]
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert any(i.startswith("socket:") for i in inodes)


def test_server_json_is_readable_by_its_owner_only(local_server):
    mode = stat.S_IMODE((local_server.home / "server.json").stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_the_key_is_not_on_the_server_command_line(local_server):
    pid = json.loads((local_server.home / "server.json").read_text())["pid"]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert "oc_jupyter.local" in cmdline
    assert local_server.key not in cmdline
