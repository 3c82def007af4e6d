"""Faults a user meets, each with the outcome they see and nothing lost.

Every fault here is produced for real: the server process is SIGKILLed, the
client really hangs up, the engine really stops a container, the engine is
really absent from the server's PATH. The one exception is the cloud's
429/5xx answers: no OpenComputer cloud is reachable from CI, so a real HTTP
server on 127.0.0.1 plays a cloud that answers 429/503 (a test double for a
fault that cannot be produced for real here).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from ownserver import (
    LAYER_REPOSITORY,
    container_of,
    containers_with,
    image_exists,
    podman,
    processes_in,
)

from oc_jupyter.sdk import Config, Image, Sandbox, Snapshots, errors

SUPPORTED_SENTENCE = "supported engines are podman, docker"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` (a hang guard)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


async def await_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# ── the server SIGKILLed (or stopped) during a snapshot build ──────────────
@pytest.mark.parametrize("how", ["SIGKILL", "oc-jupyter server stop"])
def test_server_killed_during_snapshot_build_marks_it_failed_and_a_retry_succeeds(
    own_server, unique_images, nonce, how
):
    server = own_server()
    image = unique_images(Image.base().run_commands(f"echo begin-{nonce}; sleep 8; echo end-{nonce}"))
    content_hash = image.cache_key()
    name = f"rel-kill-{nonce}"
    with server.client() as api:
        # A sandbox already running when the server dies must live on, usable, after the restart.
        survivor = api.post("/sandboxes", json={"timeout": 0}).json()["sandboxID"]
        wrote = api.put(f"/sandboxes/{survivor}/files", params={"path": "/workspace/kept.txt"}, content=nonce)
        assert wrote.status_code == 204, wrote.text
        accepted = api.post("/snapshots", params={"async": "1"}, json={"name": name, "image": image.to_dict()})
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["status"] == "building"
        build = wait_until(
            lambda: containers_with(f"oc-jupyter.build={content_hash}", all_=False),
            90,
            "the build container of the step to run",
        )
        assert "sleep 8" in " ".join(processes_in(build[0])), "the step is not running yet"

    if how == "SIGKILL":
        server.kill9()
    else:
        stopped = server.cli("server", "stop")
        assert stopped.returncode == 0, stopped.stderr
    server.start()

    with server.client() as api:
        info = api.get(f"/snapshots/{name}").json()
        assert api.get(f"/sandboxes/{survivor}").json()["status"] == "running"
        kept = api.post(f"/sandboxes/{survivor}/exec/run", json={"cmd": "cat", "args": ["/workspace/kept.txt"]})
        assert kept.json()["stdout"] == nonce, kept.text
    assert info["status"] == "failed", info
    assert "stopped while this snapshot was building" in info["error"] or "server is stopping" in info["error"], info
    assert "again" in info["error"], info
    # The restarted server removed the interrupted build's container and committed nothing of it.
    assert containers_with(f"oc-jupyter.build={content_hash}") == []
    assert not image_exists(f"{LAYER_REPOSITORY}:{content_hash}")

    async def retry():
        snaps = Snapshots(config=server.config())
        logs = []
        ready = await snaps.create(name, image, on_build_logs=logs.append)
        return ready, logs, await snaps.list()

    ready, logs, listed = asyncio.run(retry())
    assert ready.status == "ready"
    assert ready.content_hash == content_hash
    assert f"end-{nonce}" in [str(entry) for entry in logs]
    assert [s["name"] for s in listed] == [name]
    assert image_exists(f"{LAYER_REPOSITORY}:{content_hash}")
    assert containers_with(f"oc-jupyter.build={content_hash}") == []


# ── the client drops the SSE stream mid-build ──────────────────────────────
async def test_snapshot_build_goes_on_when_the_client_drops_the_stream(local_server, sdk_config, unique_images, nonce):
    image = unique_images(Image.base().run_commands(f"echo begin-{nonce}; sleep 3; echo end-{nonce}"))
    name = f"rel-drop-{nonce}"
    async with httpx.AsyncClient(
        base_url=local_server.url + "/api",
        headers={"X-API-Key": local_server.key},
        timeout=httpx.Timeout(60, read=120),
        trust_env=False,
    ) as api:
        async with api.stream(
            "POST", "/snapshots", json={"name": name, "image": image.to_dict()}, headers={"Accept": "text/event-stream"}
        ) as stream:
            assert stream.status_code == 200
            seen = []
            async for line in stream.aiter_lines():
                seen.append(line)
                if f'"begin-{nonce}"' in line:
                    break  # hang up in the middle of the step, right after its first output line
        assert any(f'"begin-{nonce}"' in line for line in seen)
        assert not any(f'"end-{nonce}"' in line for line in seen)

    snaps = Snapshots(config=sdk_config)
    building = await snaps.get(name)
    assert building.status == "building"
    ready = await snaps.wait_until_ready(name, timeout=120)
    assert ready.status == "ready"
    assert ready["contentHash"] == image.cache_key()
    assert containers_with(f"oc-jupyter.build={image.cache_key()}") == []
    await snaps.delete(name)


async def test_sandbox_create_dropped_mid_build_finishes_the_build_and_leaves_no_sandbox(
    local_server, sdk_config, unique_images, nonce
):
    image = unique_images(Image.base().run_commands(f"echo begin-{nonce}; sleep 2; echo end-{nonce}"))
    async with httpx.AsyncClient(
        base_url=local_server.url + "/api",
        headers={"X-API-Key": local_server.key},
        timeout=httpx.Timeout(60, read=120),
        trust_env=False,
    ) as api:
        async with api.stream(
            "POST", "/sandboxes", json={"image": image.to_dict(), "timeout": 0}, headers={"Accept": "text/event-stream"}
        ) as stream:
            async for line in stream.aiter_lines():
                if f'"begin-{nonce}"' in line:
                    break
    layer = f"{LAYER_REPOSITORY}:{image.cache_key()}"
    await await_until(lambda: asyncio.to_thread(image_exists, layer), 120, "the abandoned build to finish")
    await asyncio.sleep(2)  # time for a sandbox that should not exist to appear
    made = [s for s in await Sandbox.list(config=sdk_config) if s["contentHash"] == image.cache_key()]
    assert made == [], f"a sandbox was left for a client that hung up: {made}"
    # The cache now serves the next create at once.
    logs = []
    sandbox = await Sandbox.create(image=image, config=sdk_config, timeout=0, on_build_log=logs.append)
    try:
        assert [log.type for log in logs] == ["cache_hit"]
    finally:
        await sandbox.kill()


# ── engine missing ─────────────────────────────────────────────────────────
@pytest.mark.parametrize("how", ["OC_JUPYTER_ENGINE=/nonexistent", "PATH without an engine"])
def test_engine_missing_answers_503_with_the_supported_engines(own_server, tmp_path, how, nonce):
    if how.startswith("OC_JUPYTER_ENGINE"):
        server = own_server(OC_JUPYTER_ENGINE="/nonexistent/podman")
    else:
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        server = own_server(PATH=str(empty))
    image = Image.base().run_commands(f"echo {nonce}")
    with server.client(timeout=httpx.Timeout(30)) as api:
        health = api.get("/x-oc-jupyter/v1/health").json()
        assert health["engine"] is None
        for method, path, body in [
            ("POST", "/sandboxes", {}),
            ("POST", "/sandboxes", {"image": image.to_dict()}),
            ("POST", "/snapshots", {"name": f"rel-noengine-{nonce}", "image": image.to_dict()}),
            ("POST", "/x-oc-jupyter/v1/cache-preview", {"image": image.to_dict()}),
        ]:
            response = api.request(method, path, json=body)
            assert response.status_code == 503, (path, response.text)
            message = response.json()["error"]
            assert SUPPORTED_SENTENCE in message, message
            assert "install podman" in message, message
        # Nothing half-made was stored.
        assert api.get("/snapshots").json() == []
        assert api.get("/sandboxes").status_code in (200, 503)

    async def through_sdk():
        with pytest.raises(errors.BackendUnavailable) as caught:
            await Sandbox.create(config=server.config())
        return str(caught.value)

    message = asyncio.run(through_sdk())
    assert SUPPORTED_SENTENCE in message
    assert server.key not in message


# ── the engine stops the container mid-command ─────────────────────────────
@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_container_stopped_mid_run_is_a_sandbox_error_naming_the_cause(sdk_config, how):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        ctr = await asyncio.to_thread(container_of, sandbox.id)
        running = asyncio.ensure_future(sandbox.commands.run("sleep 131", timeout=200))
        await await_until(
            lambda: asyncio.to_thread(lambda: "sleep 131" in " ".join(processes_in(ctr))), 30, "the command to start"
        )
        await asyncio.to_thread(podman, how, *(["-t", "1"] if how == "stop" else []), ctr)
        with pytest.raises(errors.OCError) as caught:
            await asyncio.wait_for(running, 60)
        message = str(caught.value)
        assert "no longer running" in message and "stopped outside oc_jupyter" in message, message
        assert isinstance(caught.value, errors.SandboxError), (
            f"expected SandboxError for a sandbox stopped mid-command, got {type(caught.value).__name__}: {message}"
        )
    finally:
        await sandbox.kill()


async def test_container_stopped_mid_session_ends_it_with_the_cause_on_stderr(sdk_config):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        ctr = await asyncio.to_thread(container_of, sandbox.id)
        stderr: list[bytes] = []
        session = await sandbox.exec.start("sleep", ["132"], on_stderr=stderr.append)
        await await_until(
            lambda: asyncio.to_thread(lambda: "sleep 132" in " ".join(processes_in(ctr))),
            30,
            "the session's command to start",
        )
        await asyncio.to_thread(podman, "kill", ctr)
        code = await asyncio.wait_for(session.wait(), 60)
        assert code != 0
        assert b"sandbox stopped while this command was running" in b"".join(stderr)
    finally:
        await sandbox.kill()


# ── a sandbox removed from outside ─────────────────────────────────────────
async def test_sandbox_removed_outside_is_reported_by_every_next_call(sdk_config):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    assert (await sandbox.commands.run("echo up")).stdout == "up\n"
    ctr = await asyncio.to_thread(container_of, sandbox.id)
    await asyncio.to_thread(podman, "rm", "-f", "-t", "0", ctr)

    for call in (
        lambda: sandbox.commands.run("true"),
        lambda: sandbox.exec.start("true"),
        lambda: sandbox.files.write("/tmp/x", "x"),
    ):
        with pytest.raises(errors.OCError) as caught:
            await asyncio.wait_for(call(), 60)
        message = str(caught.value)
        assert sandbox.id in message
        assert "stopped outside oc_jupyter" in message, message
    info = await sandbox.info()
    assert info.status == "stopped"
    listed = {s.sandbox_id: s.status for s in await Sandbox.list(config=sdk_config)}
    assert listed[sandbox.id] == "stopped"
    await sandbox.kill()
    assert sandbox.id not in {s.sandbox_id for s in await Sandbox.list(config=sdk_config)}


async def test_file_read_in_a_removed_sandbox_names_the_sandbox_not_a_missing_file(sdk_config):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    ctr = await asyncio.to_thread(container_of, sandbox.id)
    await asyncio.to_thread(podman, "rm", "-f", "-t", "0", ctr)
    try:
        with pytest.raises(errors.OCError) as caught:
            await sandbox.files.read_bytes("/etc/hostname")
        message = str(caught.value)
        assert "stopped outside oc_jupyter" in message
        assert not message.startswith("No such file"), (
            f"a read in a removed sandbox blames the file instead of the sandbox: {message}"
        )
    finally:
        await sandbox.kill()


# ── the cloud answers 429 / 5xx ────────────────────────────────────────────
class FaultyCloud:
    """A real HTTP server on 127.0.0.1 that answers each route with a scripted list of statuses."""

    def __init__(self, script: dict[tuple[str, str], list[tuple[int, dict, dict]]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.hits: list[tuple[str, str, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                outer.hits.append((self.command, path, time.monotonic()))
                queue = outer.script.get((self.command, path)) or [(404, {"error": "no such route"}, {})]
                status, body, headers = queue.pop(0) if len(queue) > 1 else queue[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def config(self) -> Config:
        return Config(self.url, "cloud-test-key", "cloud")

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.hits if (m, p) == (method, path))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SNAPSHOT = {
    "id": "snap-1",
    "name": "s",
    "status": "ready",
    "contentHash": "ab" * 32,
    "manifest": {},
    "createdAt": "2026-01-01T00:00:00Z",
}


@pytest.fixture
def faulty_cloud():
    clouds = []

    def make(script):
        cloud = FaultyCloud(script)
        clouds.append(cloud)
        return cloud

    yield make
    for cloud in clouds:
        cloud.close()


async def test_idempotent_calls_retry_429_and_503_with_backoff_then_succeed(faulty_cloud):
    cloud = faulty_cloud(
        {
            ("GET", "/api/snapshots"): [
                (429, {"error": "quota: slow down"}, {"Retry-After": "1"}),
                (503, {"error": "maintenance"}, {}),
                (200, [SNAPSHOT], {}),
            ],
            ("GET", "/api/sandboxes/sb-x"): [
                (502, {"error": "bad gateway"}, {}),
                (200, {"sandboxID": "sb-x", "status": "running", "templateID": "base"}, {}),
            ],
        }
    )
    listed = await Snapshots(config=cloud.config()).list()
    assert [s.name for s in listed] == ["s"]
    assert cloud.count("GET", "/api/snapshots") == 3
    times = [t for m, p, t in cloud.hits if p == "/api/snapshots"]
    assert times[1] - times[0] >= 1.0, "Retry-After: 1 was not honoured"
    sandbox = await Sandbox.connect("sb-x", config=cloud.config())
    assert sandbox.status == "running"
    assert cloud.count("GET", "/api/sandboxes/sb-x") == 2


async def test_idempotent_calls_give_up_after_bounded_retries_with_the_server_message(faulty_cloud):
    cloud = faulty_cloud({("GET", "/api/snapshots"): [(503, {"error": "cloud is down for maintenance"}, {})]})
    with pytest.raises(errors.BackendUnavailable) as caught:
        await asyncio.wait_for(Snapshots(config=cloud.config()).list(), 60)
    assert "cloud is down for maintenance" in str(caught.value)
    assert "503" in str(caught.value)
    assert 2 <= cloud.count("GET", "/api/snapshots") <= 6
    assert "cloud-test-key" not in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_posts_are_never_retried_and_fail_with_the_server_message(faulty_cloud, status):
    message = f"server says no ({status})"
    cloud = faulty_cloud(
        {
            ("POST", "/api/sandboxes"): [(status, {"error": message}, {})],
            ("POST", "/api/snapshots"): [(status, {"error": message}, {})],
            ("POST", "/api/sandboxes/sb-x/exec/run"): [(status, {"error": message}, {})],
        }
    )
    config = cloud.config()
    calls = {
        "/api/sandboxes": lambda: Sandbox.create(config=config),
        "/api/snapshots": lambda: Snapshots(config=config).create("s", Image.base().run_commands("true")),
        "/api/sandboxes/sb-x/exec/run": lambda: Sandbox("sb-x", config).commands.run("true"),
    }
    for path, call in calls.items():
        with pytest.raises(errors.OCError) as caught:
            await asyncio.wait_for(call(), 60)
        assert message in str(caught.value), (path, str(caught.value))
        assert cloud.count("POST", path) == 1, f"POST {path} was sent {cloud.count('POST', path)} times"


# ── many kernels starting the server at once ───────────────────────────────
def test_concurrent_starts_of_one_home_give_one_server(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ownserver import OwnServer

    server = OwnServer(tmp_path / "home")
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(lambda _: server.cli("server", "start"), range(4)))
        assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
        urls = {r.stdout.strip() for r in runs}
        assert len(urls) == 1, urls
        info = json.loads((server.home / "server.json").read_text())
        server.pid, server.instance = info["pid"], info["instance"]
        server.instances.add(server.instance)
        processes = [p for p in __import__("os").listdir("/proc") if p.isdigit()]
        serving = []
        for pid in processes:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"oc_jupyter.local" in b" ".join(cmd) and str(server.home).encode() in cmd:
                serving.append(pid)
        assert serving == [str(info["pid"])], serving
    finally:
        server.cleanup()


# ── a sandbox hibernated after its idle timeout ────────────────────────────
async def test_an_idle_sandbox_hibernates_and_the_next_call_wakes_it(sdk_config):
    sandbox = await Sandbox.create(config=sdk_config, timeout=1)
    try:
        ctr = await asyncio.to_thread(container_of, sandbox.id)
        await sandbox.commands.run("echo kept > /workspace/f")

        async def hibernated() -> bool:
            return (await sandbox.info()).status == "hibernated"

        await await_until(hibernated, 60, "the idle timeout to hibernate the sandbox", interval=0.5)
        assert (await sandbox.commands.run("cat /workspace/f")).stdout == "kept\n"
        assert await asyncio.to_thread(container_of, sandbox.id) == ctr
    finally:
        await sandbox.kill()


# ── the connection drops mid-stream: the SDK falls back to polling ─────────
class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that cuts the first build stream once a marker went through.

    A test double for a network drop in the middle of a stream, which cannot
    be produced for real between two processes on one machine; every other
    byte is the real server's.
    """

    def __init__(self, target_port: int, marker: bytes) -> None:
        self.target_port = target_port
        self.marker = marker
        self.cuts = 0
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        cut = asyncio.Event()

        async def pump(src, dst, watch: bool) -> None:
            seen = b""
            try:
                while not cut.is_set():
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
                    if watch and self.cuts == 0:
                        seen = (seen + data)[-4096:]
                        if self.marker in seen:
                            self.cuts += 1
                            cut.set()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                cut.set()

        tasks = [
            asyncio.ensure_future(pump(reader, upstream_writer, False)),
            asyncio.ensure_future(pump(upstream_reader, writer, True)),
        ]
        await cut.wait()
        for w in (writer, upstream_writer):
            w.transport.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_the_sdk_polls_to_the_end_when_the_build_stream_breaks(local_server, unique_images, nonce):
    image = unique_images(Image.base().run_commands(f"echo begin-{nonce}; sleep 3; echo end-{nonce}"))
    proxy = CuttingProxy(int(local_server.url.rsplit(":", 1)[1]), f'"begin-{nonce}"'.encode())
    url = await proxy.start()
    try:
        snaps = Snapshots(config=Config(url, local_server.key, "local"))
        logs = []
        info = await asyncio.wait_for(snaps.create(f"rel-cut-{nonce}", image, on_build_logs=logs.append), 180)
        assert proxy.cuts == 1, "the stream was never cut"
        assert info.status == "ready"
        assert info.content_hash == image.cache_key()
        assert f"begin-{nonce}" in [str(entry) for entry in logs]
        await snaps.delete(f"rel-cut-{nonce}")
    finally:
        await proxy.close()
