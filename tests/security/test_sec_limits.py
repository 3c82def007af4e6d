"""Adversarial sandboxes: a memory hog, a fork bomb, and secrets watched for on the host's process list.

Each case is bounded (a 128 MB limit, a 64-process cap, ``timeout 20``) and
ends by checking that the server still answers and a fresh sandbox runs a
command.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading

import httpx
import pytest
from ownserver import OwnServer, container_of, podman


def _run(api: httpx.Client, sandbox_id: str, script: str, timeout: float = 60) -> dict:
    response = api.post(
        f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "sh", "args": ["-c", script], "timeout": timeout}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _server_and_fresh_sandbox_work(api: httpx.Client) -> None:
    assert api.get("/x-oc-jupyter/v1/health").status_code == 200
    fresh = api.post("/sandboxes", json={"timeout": 0})
    assert fresh.status_code == 201, fresh.text
    sandbox_id = fresh.json()["sandboxID"]
    try:
        assert _run(api, sandbox_id, "echo fresh")["stdout"] == "fresh\n"
    finally:
        api.delete(f"/sandboxes/{sandbox_id}")


def test_allocation_over_the_limit_is_reported_as_out_of_memory(api):
    sandbox_id = api.post("/sandboxes", json={"timeout": 0, "memoryMB": 128}).json()["sandboxID"]
    try:
        result = api.post(
            f"/sandboxes/{sandbox_id}/exec/run",
            json={"cmd": "python3", "args": ["-c", "b = bytearray(256 << 20); print(1)"]},
        ).json()
        assert result["exitCode"] == 137 and result["oomKilled"] is True
        assert result["stdout"] == ""
        assert result["error"] == (
            "Command `python3 -c 'b = bytearray(256 << 20); print(1)'` was killed: it ran out of memory "
            "(limit 128 MB); create the sandbox with more memory (memory_mb=256, or %oc_run --memory 256)."
        )
        assert result["error"] in result["stderr"]
        # A plain SIGKILL is not mistaken for an out-of-memory kill.
        killed = _run(api, sandbox_id, "kill -9 $$")
        assert killed["exitCode"] == 137 and killed["oomKilled"] is False and killed["error"] is None
        # The sandbox stays usable, and its info counts the kill.
        assert _run(api, sandbox_id, "echo still-here")["stdout"] == "still-here\n"
        assert api.get(f"/sandboxes/{sandbox_id}").json()["oomKills"] >= 1
        assert api.get(f"/sandboxes/{sandbox_id}", params={"usage": "true"}).json()["oomKills"] >= 1
    finally:
        api.delete(f"/sandboxes/{sandbox_id}")
    _server_and_fresh_sandbox_work(api)


def test_sdk_result_carries_the_out_of_memory_sentence(sdk_config):
    from oc_jupyter.sdk import Sandbox, sync

    async def scenario():
        sandbox = await Sandbox.create(config=sdk_config, memory_mb=128, cpu_count=1, network=False)
        try:
            info = await sandbox.info()
            assert (info.memory_mb, info.cpu_count, info.network_enabled) == (128, 1, False)
            result = await sandbox.commands.run("python3 -c 'b = bytearray(256 << 20)'")
            plain = await sandbox.commands.run("exit 3")
            return result, plain
        finally:
            await sandbox.kill()

    result, plain = sync.run(scenario())
    assert result.exit_code == 137 and result.oom_killed is True
    assert result.error == (
        "Command `python3 -c 'b = bytearray(256 << 20)'` was killed: it ran out of memory (limit 128 MB); "
        "create the sandbox with more memory (memory_mb=256, or %oc_run --memory 256)."
    )
    assert "error=" in repr(result)
    assert plain.exit_code == 3 and plain.oom_killed is False and plain.error is None


def test_fork_bomb_meets_the_process_cap(tmp_path):
    server = OwnServer(tmp_path / "home", OC_JUPYTER_SANDBOX_PIDS="64", OC_JUPYTER_WARM_POOL="0")
    try:
        server.start()
        with server.client(timeout=httpx.Timeout(60, read=120)) as api:
            sandbox_id = api.post("/sandboxes", json={"timeout": 0, "cpuCount": 1}).json()["sandboxID"]
            pids = podman("inspect", "--format", "{{.HostConfig.PidsLimit}}", container_of(sandbox_id)).stdout
            assert pids.strip() == "64"
            answered: list[int] = []
            stop = threading.Event()

            def watch() -> None:
                with server.client(timeout=10) as probe:
                    while True:  # at least once, however fast the bomb burns out
                        try:
                            answered.append(probe.get("/x-oc-jupyter/v1/health").status_code)
                        except httpx.HTTPError as exc:  # recorded, so the assertion below says what happened
                            answered.append(type(exc).__name__)
                        if stop.wait(0.5):
                            break

            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                # The bomb's first shell returns at once, its forks go on as orphans: it stays (busy with
                # builtins only, which need no fork) until they have met the cap and said so on stderr.
                bomb = _run(
                    api,
                    sandbox_id,
                    "timeout -s KILL 20 bash -c ':(){ :|:& };:; while ((SECONDS < 5)); do true; done'; echo bomb-over",
                    timeout=60,
                )
            finally:
                stop.set()
                watcher.join()
            assert "bomb-over" in bomb["stdout"]
            # The server answered all along; forks failed inside the sandbox instead of filling the host.
            assert answered and set(answered) == {200}, answered
            assert "fork" in bomb["stderr"].lower() or "resource temporarily unavailable" in bomb["stderr"].lower()
            after = api.get(f"/sandboxes/{sandbox_id}")
            assert after.status_code == 200 and after.json()["status"] == "running"
            assert _run(api, sandbox_id, "echo alive")["stdout"] == "alive\n"
            api.delete(f"/sandboxes/{sandbox_id}")
            _server_and_fresh_sandbox_work(api)
    finally:
        server.cleanup()


def _command_lines() -> list[str]:
    """Every process's command line, read from /proc as ``ps -eo args`` does (but fast enough to poll tightly)."""
    lines = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    lines.append(handle.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return lines


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_sandbox_envs_never_appear_on_the_host_process_list(api, warm):
    secret = "sv-" + secrets.token_hex(12)
    seen: list[str] = []
    stop = threading.Event()

    def watch_ps() -> None:
        while not stop.is_set():
            listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            seen.extend(line for line in listing.splitlines() if secret in line)

    def watch_proc() -> None:
        while not stop.is_set():
            seen.extend(line for line in _command_lines() if secret in line)

    watchers = [threading.Thread(target=watch_ps), threading.Thread(target=watch_proc)]
    for watcher in watchers:
        watcher.start()
    # Custom limits force a cold start (warm containers carry the defaults); no limits may take a warm one.
    # Three creates, so the engine's short-lived `run` is on the process list long enough to be looked at.
    body = {"timeout": 0, "envs": {"API_TOKEN": secret}, **({} if warm else {"memoryMB": 300})}
    made = []
    try:
        for _ in range(3):
            created = api.post("/sandboxes", json=body)
            assert created.status_code == 201, created.text
            made.append(created.json()["sandboxID"])
            assert _run(api, made[-1], 'printf %s "$API_TOKEN"')["stdout"] == secret
    finally:
        stop.set()
        for watcher in watchers:
            watcher.join()
        for sandbox_id in made:
            api.delete(f"/sandboxes/{sandbox_id}")
    assert seen == [], seen
