"""Sandboxes on the real local server for the command and file tests, and clients to reach them."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from _support import ENGINE

# An image whose python3 is gone, so the server must fall back to the engine's exec.
NO_PYTHON_IMAGE = {
    "base": "base",
    "steps": [
        {
            "type": "run",
            "args": {"commands": ["rm -f /usr/bin/python3* /usr/local/bin/python3*", "! command -v python3"]},
        },
        {"type": "env", "args": {"vars": {"GREETING": "hello"}}},
        {"type": "workdir", "args": {"path": "/srv"}},
    ],
}


@pytest.fixture(scope="session")
async def api(local_server):
    async with httpx.AsyncClient(
        base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, timeout=httpx.Timeout(60, read=900)
    ) as client:
        yield client


class Sandboxes:
    """Creates sandboxes through the API and kills them when the session ends."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self.made: list[str] = []

    async def create(self, **body) -> str:
        response = await self.api.post("/sandboxes", json={"timeout": 0, **body})
        assert response.status_code == 201, response.text
        sandbox_id = response.json()["sandboxID"]
        self.made.append(sandbox_id)
        return sandbox_id

    async def kill_all(self) -> None:
        for sandbox_id in self.made:
            await self.api.delete(f"/sandboxes/{sandbox_id}")


@pytest.fixture(scope="session")
async def sandboxes(api):
    made = Sandboxes(api)
    yield made
    await made.kill_all()


@pytest.fixture(scope="session")
async def sandbox(sandboxes) -> str:
    """A sandbox of the base image, shared by the tests that do not break it."""
    return await sandboxes.create(templateID="base")


@pytest.fixture(scope="session")
async def nopython_sandbox(sandboxes) -> str:
    return await sandboxes.create(image=NO_PYTHON_IMAGE)


def _container_of(sandbox_id: str) -> str:
    """The engine's id of a sandbox's container, found by its label as any engine user would."""
    found = subprocess.run(
        [ENGINE, "ps", "-q", "--no-trunc", "--filter", f"label=oc-jupyter.sandbox={sandbox_id}"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    ).stdout.split()
    assert len(found) == 1, f"expected one container for {sandbox_id}, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def engine_cli() -> str:
    return ENGINE


@pytest.fixture(scope="session")
def container_of():
    return _container_of


@pytest.fixture(scope="session")
def run(api):
    """``await run(sandbox_id, cmd, *args, **body)``: exec/run that must answer 200; returns its JSON."""

    async def run(sandbox_id: str, cmd: str, *args: str, **body) -> dict:
        response = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": cmd, "args": list(args), **body})
        assert response.status_code == 200, response.text
        return response.json()

    return run


@pytest.fixture(scope="session")
def ws_url(local_server):
    """``ws_url(sandbox_id, session_id, key=…)``: the attach URL, with the server's key unless told."""

    def ws_url(sandbox_id: str, session_id: str, key: str | None = None) -> str:
        base = local_server.url.replace("http://", "ws://", 1)
        url = f"{base}/api/sandboxes/{sandbox_id}/exec/{session_id}"
        key = local_server.key if key is None else key
        return f"{url}?api_key={key}" if key else url

    return ws_url
