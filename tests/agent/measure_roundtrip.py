"""Measure a warm command round trip through the local server against the engine's own exec.

Run: ``CONTAINERS_CONF=oc_jupyter/local/containers.conf .venv/bin/python tests/agent/measure_roundtrip.py``

Starts (or reuses) the local server of ``$OC_JUPYTER_HOME``, creates one
sandbox from the base image, then times, on that same container:
``POST /exec/run`` of ``true`` over a kept-alive HTTP connection, the SDK's
``commands.run("true")`` when the SDK is importable, and ``<engine> exec
<container> true``. Prints medians and p95 in milliseconds and the ratios.
A measurement, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("oc-jupyter"))


def server() -> tuple[str, str]:
    subprocess.run([CLI, "server", "start"], check=True, capture_output=True)
    exports = subprocess.run([CLI, "server", "env"], check=True, capture_output=True, text=True).stdout
    found = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if "=" in line)
    return found["OPENCOMPUTER_API_URL"].strip("'\""), found["OPENCOMPUTER_API_KEY"].strip("'\"")


def summary(label: str, samples: list[float]) -> float:
    ms = sorted(s * 1000 for s in samples)
    median = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{label:<38} median {median:8.2f} ms   p95 {p95:8.2f} ms   (n={len(ms)})")
    return median


async def time_http(api: httpx.AsyncClient, sandbox: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = await api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "true"})
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200 and response.json()["exitCode"] == 0, response.text
    return samples


async def time_sdk(url: str, key: str, sandbox: str, n: int) -> list[float] | None:
    try:
        from oc_jupyter.sdk import Config, Sandbox
    except ImportError:
        return None
    box = await Sandbox.connect(sandbox, config=Config.resolve(api_key=key, api_url=url))
    for _ in range(10):
        await box.commands.run("true")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await box.commands.run("true")
        samples.append(time.perf_counter() - start)
    return samples


def time_engine(engine: str, container: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([engine, "exec", container, "true"], check=True)
        samples.append(time.perf_counter() - start)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="round trips through the server (default 200)")
    parser.add_argument("--engine-n", type=int, default=20, help="engine execs (default 20)")
    args = parser.parse_args()

    url, key = server()
    engine = shutil.which("podman") or shutil.which("docker")
    async with httpx.AsyncClient(base_url=url + "/api", headers={"X-API-Key": key}, timeout=600) as api:
        created = await api.post("/sandboxes", json={"templateID": "base", "timeout": 600})
        created.raise_for_status()
        sandbox = created.json()["sandboxID"]
        try:
            container = subprocess.run(  # noqa: ASYNC221 - nothing else runs while measuring
                [engine, "ps", "-q", "--filter", f"label=oc-jupyter.sandbox={sandbox}"],
                check=True, capture_output=True, text=True,
            ).stdout.split()[0]
            start = time.perf_counter()
            await api.post(f"/sandboxes/{sandbox}/exec/run", json={"cmd": "true"})
            print(f"{'first exec/run (starts the agent)':<38} {1000 * (time.perf_counter() - start):8.2f} ms")
            await time_http(api, sandbox, 20)  # warm-up
            http = summary("HTTP POST exec/run true (warm)", await time_http(api, sandbox, args.n))
            sdk_samples = await time_sdk(url, key, sandbox, args.n)
            sdk = summary("SDK commands.run('true') (warm)", sdk_samples) if sdk_samples else None
            raw = summary(f"{Path(engine).name} exec <container> true", time_engine(engine, container, args.engine_n))
            print(f"ratio HTTP / engine exec: {http / raw:.3f}  (goal <= 0.2)")
            if sdk is not None:
                print(f"ratio SDK  / engine exec: {sdk / raw:.3f}  (goal <= 0.2)")
        finally:
            await api.delete(f"/sandboxes/{sandbox}")


if __name__ == "__main__":
    asyncio.run(main())
