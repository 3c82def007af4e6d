"""The server's life: CLI start/status/env/stop, one server per home, restarts, kill -9, no engine.

Each test runs a server of its own (``private_server``) so stopping and
killing never touch the session's shared server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

from engine_under_test import ENGINE_NAME

from oc_jupyter.local import daemon

from .conftest import (
    CLI,
    container_of,
    containers,
    engine,
    manifest,
    nonce,
    private_server,
    run_step,
    stream_events,
)


def test_cli_start_status_env_stop(tmp_path):
    with private_server(tmp_path) as server:
        info = server.info()
        again = server.cli("server", "start")
        assert again.returncode == 0 and again.stdout.strip() == info["url"]
        assert server.info()["pid"] == info["pid"]  # idempotent: the same server

        status = server.cli("server", "status")
        assert status.returncode == 0
        shown = json.loads(status.stdout)
        assert {k: shown[k] for k in ("url", "pid", "engine", "version")} == {
            "url": info["url"],
            "pid": info["pid"],
            "engine": ENGINE_NAME,
            "version": info["version"],
        }
        assert info["key"] not in status.stdout

        env = server.cli("server", "env")
        exported = subprocess.run(
            ["bash", "-c", env.stdout + 'echo "$OPENCOMPUTER_API_URL $OPENCOMPUTER_API_KEY"'],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert exported == [info["url"], info["key"]]

        stopped = server.cli("server", "stop")
        assert stopped.returncode == 0
        assert not (server.home / "server.json").exists()
        after = server.cli("server", "status")
        assert after.returncode == 1 and json.loads(after.stdout)["running"] is False


def test_two_starts_at_once_give_one_server(tmp_path):
    home = tmp_path / "race"
    env = {**os.environ, "OC_JUPYTER_HOME": str(home)}
    try:
        procs = [
            subprocess.Popen([CLI, "server", "start"], env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)
        ]
        urls = {p.communicate(timeout=120)[0].strip() for p in procs}
        assert len(urls) == 1
        pid = json.loads((home / "server.json").read_text())["pid"]
        found = subprocess.run(["pgrep", "-f", f"oc_jupyter.local --home {home}"], capture_output=True, text=True)
        assert found.stdout.split() == [str(pid)]
    finally:
        subprocess.run([CLI, "server", "stop"], env=env, capture_output=True)


def test_ensure_running_returns_a_usable_server_and_hides_the_key(tmp_path):
    home = tmp_path / "direct"
    try:
        info = daemon.ensure_running(home)
        assert daemon.ensure_running(home).pid == info.pid
        assert info.key not in repr(info)
        assert daemon.status(home).url == info.url
    finally:
        assert daemon.stop(home) is True
    assert daemon.status(home) is None
    assert daemon.stop(home) is False


async def test_snapshots_and_sandboxes_survive_a_restart(tmp_path):
    with private_server(tmp_path) as server:
        name = f"kept-{nonce()}"
        async with server.client() as api:
            assert (
                await api.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}"))})
            ).status_code == 201
            sandbox_id = (await api.post("/sandboxes", json={"snapshot": name, "timeout": 0})).json()["sandboxID"]
        instance = server.info()["instance"]
        assert server.cli("server", "stop").returncode == 0
        restarted = server.start()
        assert restarted["instance"] == instance
        async with server.client() as api:
            assert (await api.get(f"/snapshots/{name}")).json()["status"] == "ready"
            assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"
            again = await api.post("/sandboxes", json={"snapshot": name, "timeout": 0})
            assert again.status_code == 201


async def test_kill_9_during_a_build_marks_the_snapshot_failed_and_leaves_no_container(tmp_path):
    with private_server(tmp_path) as server:
        name = f"interrupted-{nonce()}"
        image = manifest(run_step(f"echo {nonce()}", "echo building", "sleep 120"))
        async with server.client() as api:
            accepted = await api.post("/snapshots", params={"async": "1"}, json={"name": name, "image": image})
            assert accepted.status_code == 202
            content_hash = accepted.json()["contentHash"]
            for _ in range(300):
                if containers(f"oc-jupyter.build={content_hash}"):
                    break
                await asyncio.sleep(0.1)
            assert containers(f"oc-jupyter.build={content_hash}")
        os.kill(server.info()["pid"], signal.SIGKILL)
        server.start()
        assert containers(f"oc-jupyter.build={content_hash}") == []
        async with server.client() as api:
            info = (await api.get(f"/snapshots/{name}")).json()
            assert info["status"] == "failed"
            assert "server stopped while this snapshot was building" in info["error"]
            assert engine("image", "exists", f"localhost/oc-jupyter/layer:{content_hash}").returncode != 0
            retried = await api.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}"))})
            assert retried.status_code == 201 and retried.json()["status"] == "ready"


async def test_orphan_sandbox_containers_are_removed_on_start(tmp_path, base_image):
    with private_server(tmp_path) as server:
        instance = server.info()["instance"]
        orphan = "oc-jupyter-sb-orphan" + nonce()
        made = engine(
            "run",
            "-d",
            "--name",
            orphan,
            "--label",
            f"oc-jupyter.instance={instance}",
            "--label",
            "oc-jupyter.sandbox=sb-orphan",
            base_image,
            "sleep",
            "600",
        )
        assert made.returncode == 0, made.stderr
        async with server.client() as api:
            kept = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
        assert server.cli("server", "stop").returncode == 0
        server.start()
        names = containers(f"oc-jupyter.instance={instance}")
        assert orphan not in names
        assert container_of(kept) in names


async def test_without_an_engine_requests_needing_one_are_503(tmp_path):
    with private_server(tmp_path, OC_JUPYTER_ENGINE="/nonexistent/bin/podman") as server:
        async with server.client() as api:
            for method, path, body in (
                ("POST", "/sandboxes", {}),
                ("POST", "/snapshots", {"name": "x", "image": manifest()}),
                ("GET", "/sandboxes", None),
            ):
                response = await api.request(method, path, json=body)
                assert response.status_code == 503, response.text
                message = response.json()["error"]
                assert "podman" in message and "docker" in message and "apt-get install podman" in message
            assert (await api.get("/snapshots")).status_code == 200
            assert (await api.get("/snapshots/x")).status_code == 404
        assert server.info()["engine"] is None


def test_help_lists_the_commands():
    shown = subprocess.run([sys.executable, "-m", "oc_jupyter.cli", "--help"], capture_output=True, text=True)
    assert "server" in shown.stdout and "base" in shown.stdout


def test_base_build_is_idempotent_and_says_which_image(tmp_path, base_image):
    built = subprocess.run(
        [CLI, "base", "build"],
        env={**os.environ, "OC_JUPYTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().splitlines()[-1] == f"Base image ready: {base_image}"
    assert engine("image", "exists", base_image).returncode == 0


async def test_silent_steps_get_keepalive_comments(tmp_path):
    with private_server(tmp_path, OC_JUPYTER_SSE_KEEPALIVE="0.5") as server:
        body = {"name": f"quiet-{nonce()}", "image": manifest(run_step(f": {nonce()}", "sleep 2", "echo spoke"))}
        async with server.client() as api:
            async with api.stream("POST", "/snapshots", json=body, headers={"Accept": "text/event-stream"}) as response:
                text = "".join([chunk async for chunk in response.aiter_text()])
    silent_stretch = text[text.index("Step 1/1") : text.index('"message": "spoke"')]
    assert ": keepalive\n\n" in silent_stretch


async def test_base_image_that_cannot_be_pulled_ends_the_stream_with_a_clear_error(tmp_path):
    missing = f"localhost/oc-jupyter-tests/missing-{nonce()}:1"
    with private_server(tmp_path, OC_JUPYTER_BASE_IMAGE=missing) as server:
        async with server.client() as api:
            status, events = await stream_events(api, "POST", "/sandboxes", {"templateID": "base"})
            assert events[0].data["message"] == f"Pulling base image {missing} (from OC_JUPYTER_BASE_IMAGE)"
            assert events[-1].event == "error"
            assert events[-1].data["error"].startswith(f"Pulling the base image {missing!r} failed")
            assert (await api.get("/sandboxes")).json() == []
