"""Cross-check: every route of the JupyterLab server extension requires Jupyter's auth, and never shows the key.

A real ``jupyter server`` runs with a random token and the extension enabled
as installed; each ``/oc-jupyter/`` route is requested without a token, with
a wrong one, and with the right one.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

JUPYTER = str(Path(sys.executable).parent / "jupyter")
ROUTES = [
    ("GET", "oc-jupyter/backend"),
    ("GET", "oc-jupyter/snapshots"),
    ("DELETE", "oc-jupyter/snapshots/no-such-snapshot"),
    ("GET", "oc-jupyter/sandboxes"),
    ("DELETE", "oc-jupyter/sandboxes/sb-0000000000000000"),
]


@pytest.fixture(scope="module")
def jupyter(local_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("sec-lab")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = dict(local_server.env, JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    log = open(root / "jupyter.log", "wb")  # noqa: SIM115 -- the server writes to it until it is stopped below
    process = subprocess.Popen(
        [
            JUPYTER,
            "server",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if (
                httpx.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2).status_code
                == 200
            ):
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (root / "jupyter.log").read_text()
        assert time.monotonic() < deadline, "jupyter server did not start"
        time.sleep(0.3)
    yield url, token, root
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
    log.close()


@pytest.mark.parametrize("method,route", ROUTES)
@pytest.mark.parametrize("how", ["no token", "wrong token", "token in a wrong header"])
def test_every_extension_route_requires_jupyter_auth(jupyter, method, route, how):
    url, token, _ = jupyter
    headers = {
        "no token": {},
        "wrong token": {"Authorization": "token " + secrets.token_hex(16)},
        "token in a wrong header": {"X-API-Key": token},
    }[how]
    response = httpx.request(method, f"{url}/{route}", headers=headers, timeout=30, follow_redirects=False)
    assert response.status_code in (401, 403), (response.status_code, response.text[:300])


@pytest.mark.parametrize("method,route", ROUTES)
def test_with_the_token_the_routes_answer_and_never_show_the_key(jupyter, local_server, method, route):
    url, token, root = jupyter
    response = httpx.request(method, f"{url}/{route}", headers={"Authorization": f"token {token}"}, timeout=60)
    assert response.status_code in (200, 204, 404), (response.status_code, response.text[:300])
    assert local_server.key not in response.text
    assert local_server.key not in (root / "jupyter.log").read_text(errors="replace")
