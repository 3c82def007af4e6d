"""The measurements: each pairs an oc_jupyter operation with the raw-engine operation it stands on.

Every case returns a list of result rows (plain dicts, see ``row``). Cases
clean up what they create: sandboxes are killed, snapshots deleted, and the
images of builds made unique for the benchmark removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from oc_jupyter.sdk import Image, Sandbox, Snapshots, errors

from . import engine as raw
from .stats import Timer, median, percentile


def row(case, measure, ours, baseline=None, baseline_label="", unit="ms", goal="", met=None, **extra):
    ratio = (ours / baseline) if baseline else None
    return {
        "case": case,
        "measure": measure,
        "ours": ours,
        "baseline": baseline,
        "baseline_label": baseline_label,
        "ratio": ratio,
        "unit": unit,
        "goal": goal,
        "met": met,
        **extra,
    }


def nonce() -> str:
    return uuid.uuid4().hex[:10]


def chain(commands: list[str]) -> list[Image]:
    """Images with one ``run`` step per command, each the previous one plus a step."""
    images, image = [], Image.base()
    for cmd in commands:
        image = image.run_commands(cmd)
        images.append(image)
    return images


def tags_of(images: list[Image]) -> list[str]:
    return [f"localhost/oc-jupyter/layer:{img.cache_key()}" for img in reversed(images)]


# --------------------------------------------------------------------------- exec round trip


async def warm_exec(engine: str, sandbox: Sandbox, repeat: int) -> list[dict]:
    container = raw.container_of(engine, sandbox.id)
    for _ in range(3):  # warm both paths before measuring
        await sandbox.commands.run("true")
        raw.run(engine, "exec", container, "true")
    ours, theirs = Timer(), Timer()
    for _ in range(repeat):
        with ours.time():
            result = await sandbox.commands.run("true")
        assert result.exit_code == 0
        with theirs.time():
            # Blocking on purpose: nothing else runs meanwhile, and a thread hop would add to the baseline.
            subprocess.run([engine, "exec", container, "true"], check=True, capture_output=True)  # noqa: ASYNC221
    return [
        row(
            "exec",
            'Warm command: `commands.run("true")`',
            ours.median * 1000,
            theirs.median * 1000,
            f"`{os.path.basename(engine)} exec <ctr> true`",
            goal="≤ 0.2×",
            met=ours.median <= 0.2 * theirs.median,
        )
    ]


# --------------------------------------------------------------------------- magic from a kernel

_KERNEL_CELL = textwrap.dedent("""
    import json, time
    from oc_jupyter import Sandbox
    _sb = await Sandbox.connect({sid!r})
    _ip = get_ipython()
    for _ in range(3):
        _ip.run_line_magic("oc_run", "true")
        await _sb.commands.run("true")
    _magic, _sdk = [], []
    for _ in range({repeat}):
        _t = time.perf_counter(); _ip.run_line_magic("oc_run", "true"); _magic.append(time.perf_counter() - _t)
        _t = time.perf_counter(); await _sb.commands.run("true"); _sdk.append(time.perf_counter() - _t)
    print("OCBENCH " + json.dumps({{"magic": _magic, "sdk": _sdk}}))
""")


def magic_in_kernel(sandbox_id: str, repeat: int) -> list[dict]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ), stderr=subprocess.DEVNULL)
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    try:
        for code in (
            "%load_ext oc_jupyter",
            f"%oc_sandbox use {sandbox_id}",
            _KERNEL_CELL.format(sid=sandbox_id, repeat=repeat),
        ):
            reply = kc.execute_interactive(code, output_hook=hook, timeout=600)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"Kernel cell failed: {code.splitlines()[0]!r}\n" + "".join(out)[-2000:])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    data = json.loads(re.search(r"OCBENCH (.*)", "".join(out)).group(1))
    magic, sdk = median(data["magic"]), median(data["sdk"])
    return [
        row(
            "magic",
            "`%oc_run true` in a kernel",
            magic * 1000,
            sdk * 1000,
            "SDK round trip in the same kernel",
            goal="≤ 1.5×",
            met=magic <= 1.5 * sdk,
        )
    ]


# --------------------------------------------------------------------------- sandbox create


async def _time_creates(image: Image, snapshot: str, config, repeat: int, pause: float) -> tuple[Timer, Timer]:
    """Create-and-kill from the image and from the snapshot; ``pause`` lets a warm pool refill in between."""
    from_image, from_snapshot = Timer(), Timer()
    for timer, kwargs in ((from_image, {"image": image}), (from_snapshot, {"snapshot": snapshot})):
        sb = await Sandbox.create(config=config, **kwargs)  # warm-up, not timed
        await sb.kill()
        for _ in range(repeat):
            await asyncio.sleep(pause)
            with timer.time():
                sb = await Sandbox.create(config=config, **kwargs)
            await sb.kill()
    return from_image, from_snapshot


@contextlib.contextmanager
def _server_without_pool(engine: str):
    """A second local server, in its own state folder, with the warm pool turned off."""
    from oc_jupyter.local import daemon
    from oc_jupyter.sdk import Config

    with tempfile.TemporaryDirectory(prefix="oc-bench-home-") as home:
        saved = os.environ.get("OC_JUPYTER_WARM_POOL")
        os.environ["OC_JUPYTER_WARM_POOL"] = "0"
        try:
            info = daemon.ensure_running(home)
        finally:
            if saved is None:
                os.environ.pop("OC_JUPYTER_WARM_POOL", None)
            else:
                os.environ["OC_JUPYTER_WARM_POOL"] = saved
        try:
            yield Config(info.url, info.key, "local")
        finally:
            daemon.stop(home)
            ids = raw.run(
                engine, "ps", "-aq", "--filter", f"label=oc-jupyter.instance={info.instance}", check=False
            ).split()
            if ids:
                raw.run(engine, "rm", "-f", "-t", "0", *ids, check=False)


async def create(engine: str, image: Image, snapshot: str, sandbox: Sandbox, repeat: int) -> list[dict]:
    engine_image = raw.image_of(engine, raw.container_of(engine, sandbox.id))
    tag = nonce()
    engine_run = Timer()
    for _ in range(repeat):
        with engine_run.time():
            ctr = raw.run(engine, "run", "-d", "--label", f"{raw.LABEL}={tag}", engine_image, "sleep", "infinity")
        raw.run(engine, "rm", "-f", "-t", "0", ctr, check=False)
    raw.remove_labelled(engine, tag)

    pooled_image, pooled_snapshot = await _time_creates(image, snapshot, sandbox.config, repeat, pause=2.0)
    with _server_without_pool(engine) as cold_config:
        await Snapshots(config=cold_config).create(name=snapshot, image=image)
        cold_image, cold_snapshot = await _time_creates(image, snapshot, cold_config, repeat, pause=0.0)

    base = engine_run.median
    label = f"`{os.path.basename(engine)} run -d` of the image"
    rows = []
    for measure, timer, goal, factor in (
        ("Sandbox create from a cached image, warm pool off", cold_image, "≤ 1.2×", 1.2),
        ("Sandbox create from a snapshot, warm pool off", cold_snapshot, "≤ 1.2×", 1.2),
        ("Sandbox create from a cached image, warm pool on (default)", pooled_image, "≤ 0.2×", 0.2),
        ("Sandbox create from a snapshot, warm pool on (default)", pooled_snapshot, "≤ 0.2×", 0.2),
    ):
        rows.append(
            row(
                "create", measure, timer.median * 1000, base * 1000, label, goal=goal, met=timer.median <= factor * base
            )
        )
    return rows


# --------------------------------------------------------------------------- incremental rebuild


async def rebuild(engine: str, snaps: Snapshots, repeat: int) -> list[dict]:
    full_t, re_t, last_step = [], [], []
    for _ in range(repeat):
        run_id = nonce()
        commands = [f"sleep 1 && echo step {i} {run_id}" for i in range(1, 6)]
        first = chain(commands)
        edited = chain(commands[:4] + [f"sleep 1 && echo step 5 edited {run_id}"])
        elapsed: dict[int, float] = {}

        def on_log(log, elapsed=elapsed):
            if getattr(log, "phase", None) == "done" and getattr(log, "elapsed", None) is not None:
                elapsed[log.step] = log.elapsed

        names = [f"bench-full-{run_id}", f"bench-edit-{run_id}"]
        try:
            start = time.perf_counter()
            await snaps.create(name=names[0], image=first[-1])
            full_t.append(time.perf_counter() - start)
            elapsed.clear()
            start = time.perf_counter()
            await snaps.create(name=names[1], image=edited[-1], on_build_logs=on_log)
            re_t.append(time.perf_counter() - start)
            last_step.append(elapsed.get(5, float("nan")))
        finally:
            for name in names:
                with contextlib.suppress(errors.NotFound):
                    await snaps.delete(name)
            raw.remove_images(engine, tags_of(edited[-1:]) + tags_of(first))
    full, again, step = median(full_t), median(re_t), median(last_step)
    return [
        row(
            "rebuild",
            "Rebuild after editing the last of 5 steps",
            again * 1000,
            full * 1000,
            "full build of the 5 steps",
            goal="≤ last step + 1 s",
            met=again <= step + 1.0,
            last_step_ms=step * 1000,
        )
    ]


# --------------------------------------------------------------------------- cache key of a big folder

_HASH_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    from oc_jupyter.sdk import Image
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    key = Image.base().add_local_dir(sys.argv[1], "/data").cache_key()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kb": peak, "before_kb": before, "key": key}))
""")


def make_folder(root: Path, files: int = 10_000, size: int = 10_000) -> int:
    for i in range(files):
        sub = root / f"d{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    return files * size


def cache_key_folder(repeat: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        total = make_folder(folder)
        sha = ["bash", "-c", f"cd {folder} && find . -type f -print0 | sort -z | xargs -0 sha256sum > /dev/null"]
        subprocess.run(sha, check=True)  # both sides read from a warm page cache
        ours, theirs, peaks, keys = [], Timer(), [], set()
        for _ in range(repeat):
            done = subprocess.run(
                [sys.executable, "-c", _HASH_SCRIPT, str(folder)], capture_output=True, text=True, check=True
            )
            data = json.loads(done.stdout.strip().splitlines()[-1])
            ours.append(data["seconds"])
            peaks.append((data["peak_kb"] - data["before_kb"]) / 1024)
            keys.add(data["key"])
            with theirs.time():
                subprocess.run(sha, check=True)
    size_mb = total / 1e6
    peak = max(peaks)
    return [
        row(
            "cache_key",
            "`cache_key()` of 10,000 files, 100 MB",
            median(ours) * 1000,
            theirs.median * 1000,
            "`sha256sum` over the same files",
            goal="≤ 3×",
            met=median(ours) <= 3 * theirs.median,
            stable=len(keys) == 1,
        ),
        row(
            "cache_key_memory",
            "Memory for that `cache_key()` (peak RSS growth)",
            peak,
            size_mb,
            "the folder's size",
            unit="MB",
            goal="≤ 3×",
            met=peak <= 3 * size_mb,
        ),
    ]


# --------------------------------------------------------------------------- build-log latency


async def log_latency(engine: str, snaps: Snapshots, lines: int = 60) -> list[dict]:
    run_id = nonce()
    cmd = f'for i in $(seq 1 {lines}); do echo "OCTS $(date +%s.%N) {run_id}"; sleep 0.05; done'
    image = Image.base().run_commands(cmd)
    delays: list[float] = []
    pattern = re.compile(r"OCTS (\d+\.\d+) " + run_id)

    def on_log(log):
        received = time.time()
        match = pattern.search(str(log))
        if match:
            delays.append(received - float(match.group(1)))

    name = f"bench-log-{run_id}"
    try:
        await snaps.create(name=name, image=image, on_build_logs=on_log)
    finally:
        with contextlib.suppress(errors.NotFound):
            await snaps.delete(name)
        raw.remove_images(engine, tags_of([image]))
    if not delays:
        raise RuntimeError("No timestamped build-log line reached the callback.")
    p50, p95 = percentile(delays, 50) * 1000, percentile(delays, 95) * 1000
    return [
        row("log_p50", "Build-log line to callback, p50", p50, unit="ms", goal="", lines=len(delays)),
        row(
            "log_p95",
            "Build-log line to callback, p95",
            p95,
            unit="ms",
            goal="≤ 100 ms",
            met=p95 <= 100,
            lines=len(delays),
        ),
    ]


# --------------------------------------------------------------------------- hibernate and wake


async def wake(engine: str, sandbox: Sandbox, repeat: int) -> list[dict]:
    """Waking a hibernated sandbox (and its first command) beside unpausing a bare container of the same image."""
    image = raw.image_of(engine, raw.container_of(engine, sandbox.id))
    bare = raw.run(engine, "run", "-d", "--label", f"{raw.LABEL}=1", "--entrypoint", "sleep", image, "infinity")
    woke, first, unpause, unpause_exec = Timer(), Timer(), Timer(), Timer()
    try:
        await sandbox.commands.run("true")
        for _ in range(repeat):
            await sandbox.hibernate()
            with woke.time():
                await sandbox.wake()
            await sandbox.hibernate()
            with first.time():
                result = await sandbox.commands.run("true")
            assert result.exit_code == 0
            raw.run(engine, "pause", bare)
            with unpause.time():
                raw.run(engine, "unpause", bare)
            raw.run(engine, "pause", bare)
            with unpause_exec.time():
                raw.run(engine, "unpause", bare)
                raw.run(engine, "exec", bare, "true")
    finally:
        raw.run(engine, "rm", "-f", "-t", "0", bare, check=False)
    return [
        row(
            "wake",
            "`sandbox.wake()` of a hibernated sandbox",
            woke.median * 1000,
            unpause.median * 1000,
            f"`{os.path.basename(engine)} unpause <ctr>`",
        ),
        row(
            "wake",
            'First `commands.run("true")` after hibernation (wakes it)',
            first.median * 1000,
            unpause_exec.median * 1000,
            f"`{os.path.basename(engine)} unpause` + `exec <ctr> true`",
        ),
    ]
