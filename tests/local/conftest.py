"""Helpers for the local server tests: an HTTP client, SSE parsing, engine queries, private servers.

Most tests use the session's shared server (``local_server``). Tests that
stop, restart or kill a server, or run one without an engine, start their own
in a private ``OC_JUPYTER_HOME`` with :func:`private_server`, so the shared
one is never disturbed.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from _support import CLI, ENGINE, nonce  # noqa: F401 - re-exported to the tests of this folder
from engine_under_test import run_engine  # noqa: F401 - for the tests of this folder


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def run_step(*commands: str) -> dict:
    return {"type": "run", "args": {"commands": list(commands)}}


def file_step(path: str, content: str | bytes) -> dict:
    return {"type": "add_file", "args": {"path": path, "content": b64(content), "encoding": "base64"}}


def manifest(*steps: dict) -> dict:
    return {"base": "base", "steps": list(steps)}


@dataclass
class SSEEvent:
    event: str
    data: dict


def parse_sse(text: str) -> list[SSEEvent]:
    """Events of a complete SSE body (comments such as keepalives skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append(SSEEvent(name, json.loads("\n".join(data))))
    return events


async def stream_events(client: httpx.AsyncClient, method: str, path: str, body: dict) -> tuple[int, list[SSEEvent]]:
    """Send a request asking for SSE and collect the events as they arrive."""
    async with client.stream(method, path, json=body, headers={"Accept": "text/event-stream"}) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])
        return response.status_code, parse_sse(text) if response.status_code < 300 else []


def engine(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return run_engine(*args, check=check)


def containers(*labels: str) -> list[str]:
    """Names of containers (running or not) carrying every ``key=value`` label."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    return engine("ps", "-a", "--format", "{{.Names}}", *filters).stdout.split()


def in_container(name: str, command: str) -> subprocess.CompletedProcess:
    return engine("exec", name, "bash", "-lc", command)


def container_of(sandbox_id: str) -> str:
    return f"oc-jupyter-{sandbox_id}"


@pytest.fixture
async def api(local_server):
    async with httpx.AsyncClient(
        base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, timeout=httpx.Timeout(60, read=600)
    ) as client:
        yield client


@pytest.fixture
async def made(api):
    """Sandbox ids a test created; killed when it ends."""
    ids: list[str] = []
    yield ids
    for sandbox_id in ids:
        await api.delete(f"/sandboxes/{sandbox_id}")


@dataclass
class PrivateServer:
    home: Path
    env: dict

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, timeout=120)

    def info(self) -> dict:
        return json.loads((self.home / "server.json").read_text())

    def client(self) -> httpx.AsyncClient:
        info = self.info()
        return httpx.AsyncClient(
            base_url=info["url"] + "/api", headers={"X-API-Key": info["key"]}, timeout=httpx.Timeout(60, read=600)
        )

    def start(self) -> dict:
        started = self.cli("server", "start")
        assert started.returncode == 0, started.stderr
        return self.info()


@contextmanager
def private_server(tmp_path: Path, **env: str):
    """A server of its own in ``tmp_path`` (with extra environment ``env``), stopped and cleaned afterwards."""
    home = tmp_path / "oc-home"
    server = PrivateServer(home, {**os.environ, "OC_JUPYTER_HOME": str(home), **env})
    instance = ""
    try:
        server.start()
        instance = server.info()["instance"]
        yield server
    finally:
        server.cli("server", "stop")
        if instance:
            leftovers = containers(f"oc-jupyter.instance={instance}")
            if leftovers:
                engine("rm", "-f", "-t", "0", *leftovers)


@pytest.fixture(scope="session")
def base_image(oc_home) -> str:
    """The base image's reference, built first if this engine store lacks it (as set-up does)."""
    built = subprocess.run([CLI, "base", "build"], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr
    return built.stdout.strip().splitlines()[-1].split(": ", 1)[1]
