"""Measure sandbox create, incremental rebuild and build-log latency against the raw engine.

Run: ``CONTAINERS_CONF=oc_jupyter/local/containers.conf .venv/bin/python tests/local/measure_create.py``

Starts two private servers (warm pool off, then on) in temporary homes and
times, through the SDK: create from a cached image and from a snapshot
(each sandbox killed before the next create, with a pause so a background
pool refill can finish), against ``<engine> run -d`` of the same image; a
rebuild after editing the last of five steps against the full build and the
last step's own time; and the delay from a build step printing a timestamped
line to ``on_build_log`` receiving it. A measurement, not a test: it asserts
nothing and prints medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CLI = str(Path(sys.executable).with_name("oc-jupyter"))
ENGINE = shutil.which("podman") or "podman"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile_ms(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


class Server:
    def __init__(self, pool: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="oc-measure-"))
        self.env = {**os.environ, "OC_JUPYTER_HOME": str(self.home), "OC_JUPYTER_WARM_POOL": pool}

    def __enter__(self):
        subprocess.run([CLI, "server", "start"], check=True, capture_output=True, env=self.env)
        exports = subprocess.run([CLI, "server", "env"], check=True, capture_output=True, text=True, env=self.env).stdout
        found = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines() if "=" in line)
        from oc_jupyter.sdk import Config

        self.config = Config.resolve(api_key=found["OPENCOMPUTER_API_KEY"].strip("'\""),
                                     api_url=found["OPENCOMPUTER_API_URL"].strip("'\""))
        return self

    def __exit__(self, *exc):
        subprocess.run([CLI, "server", "stop"], capture_output=True, env=self.env)
        shutil.rmtree(self.home, ignore_errors=True)


def engine_run(image: str, n: int) -> list[float]:
    label = f"oc-measure={uuid.uuid4().hex[:8]}"
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        ctr = subprocess.run([ENGINE, "run", "-d", "--label", label, image, "sleep", "infinity"],
                             check=True, capture_output=True, text=True).stdout.strip()
        samples.append(time.perf_counter() - start)
        subprocess.run([ENGINE, "rm", "-f", "-t", "0", ctr], capture_output=True)
    return samples


async def creates(config, n: int, pause: float) -> tuple[list[float], list[float], list[float]]:
    """Creates from an image and from a snapshot, interleaved with ``run -d`` of that image (so load hits all alike)."""
    from oc_jupyter.sdk import Image, Sandbox, Snapshots

    image = Image.base().run_commands("echo measure-create > /tmp/m")
    snaps = Snapshots(config=config)
    name = "measure-" + uuid.uuid4().hex[:8]
    await snaps.create(name=name, image=Image.base().run_commands("echo measure-snap > /tmp/m"))
    first = await Sandbox.create(image=image, config=config)  # builds (or finds) the image
    ref = subprocess.run([ENGINE, "inspect", "--format", "{{.ImageName}}", f"oc-jupyter-{first.id}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    await first.kill()
    from_image, from_snapshot, engine = [], [], []
    try:
        for _ in range(n):
            for samples, kwargs in ((from_image, {"image": image}), (from_snapshot, {"snapshot": name})):
                await asyncio.sleep(pause)
                start = time.perf_counter()
                box = await Sandbox.create(config=config, **kwargs)
                samples.append(time.perf_counter() - start)
                await box.kill()
            await asyncio.sleep(pause)
            engine += await asyncio.to_thread(engine_run, ref, 1)
    finally:
        await snaps.delete(name)
    return from_image, from_snapshot, engine


async def rebuild(config) -> tuple[float, float, float]:
    from oc_jupyter.sdk import Image, Snapshots

    run_id = uuid.uuid4().hex[:8]
    commands = [f"sleep 1 && echo step {i} {run_id}" for i in range(1, 6)]
    snaps = Snapshots(config=config)
    first = Image.base().run_commands(*commands[:1])
    for command in commands[1:]:
        first = first.run_commands(command)
    edited = Image.base()
    for command in commands[:4] + [f"sleep 1 && echo step 5 edited {run_id}"]:
        edited = edited.run_commands(command)
    elapsed: dict[int, float] = {}

    def on_log(log):
        if getattr(log, "phase", None) == "done" and getattr(log, "elapsed", None) is not None:
            elapsed[log.step] = log.elapsed

    start = time.perf_counter()
    await snaps.create(name=f"measure-full-{run_id}", image=first)
    full = time.perf_counter() - start
    start = time.perf_counter()
    await snaps.create(name=f"measure-edit-{run_id}", image=edited, on_build_logs=on_log)
    again = time.perf_counter() - start
    for name in (f"measure-full-{run_id}", f"measure-edit-{run_id}"):
        await snaps.delete(name)
    return full, again, elapsed.get(5, float("nan"))


async def log_latency(config, lines: int = 50) -> list[float]:
    from oc_jupyter.sdk import Image, Snapshots

    run_id = uuid.uuid4().hex[:8]
    image = Image.base().run_commands(
        f'for i in $(seq {lines}); do echo "TS $(date +%s.%N) {run_id}"; sleep 0.05; done')
    pattern = re.compile(r"TS (\d+\.\d+) " + run_id)
    delays: list[float] = []

    def on_log(log):
        received = time.time()
        match = pattern.search(str(log))
        if match:
            delays.append(received - float(match.group(1)))

    snaps = Snapshots(config=config)
    await snaps.create(name=f"measure-log-{run_id}", image=image, on_build_logs=on_log)
    await snaps.delete(f"measure-log-{run_id}")
    return delays


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=7, help="creates per kind and per pool setting")
    parser.add_argument("--pause", type=float, default=1.5, help="seconds between creates (pool refill)")
    parser.add_argument("--skip-builds", action="store_true")
    args = parser.parse_args()
    results: dict[str, float] = {}
    runs: list[float] = []
    for pool in ("0", "2"):
        with Server(pool) as server:
            image, snapshot, engine = await creates(server.config, args.n, args.pause)
            runs += engine
            results[f"create image pool={pool}"] = median_ms(image)
            results[f"create snapshot pool={pool}"] = median_ms(snapshot)
            if pool == "0" and not args.skip_builds:
                full, again, last = await rebuild(server.config)
                results.update({"full build of 5": full * 1000, "rebuild last of 5": again * 1000,
                                "last step alone": last * 1000})
                delays = await log_latency(server.config)
                results.update({"log latency p50": percentile_ms(delays, 50),
                                "log latency p95": percentile_ms(delays, 95), "log lines": len(delays)})
    run = median_ms(runs)
    results["podman run -d"] = run
    for key, value in results.items():
        ratio = f"  ({value / run:.2f}x podman run -d)" if key.startswith("create") else ""
        print(f"{key:<28} {value:9.1f}{'' if key == 'log lines' else ' ms'}{ratio}")


if __name__ == "__main__":
    asyncio.run(main())
