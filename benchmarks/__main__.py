"""``python -m benchmarks``: run every measurement once, side by side, and print the table."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from oc_jupyter.sdk import Config, Image, Sandbox, Snapshots

from . import buildcache, cases
from . import engine as raw
from .machine import describe
from .report import render, save

CASES = ["exec", "magic", "create", "wake", "rebuild", "cache_key", "log", "build_cache"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="runs per timed operation (default 20)")
    parser.add_argument("--build-repeat", type=int, default=2, help="runs per build measurement (default 2)")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of: {', '.join(CASES)}")
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


async def measure(args, engine: str) -> list[dict]:
    only = set(args.only.split(","))
    unknown = only - set(CASES)
    if unknown:
        raise SystemExit(f"Unknown case(s) {sorted(unknown)}; choose from {', '.join(CASES)}.")
    config = Config.resolve()
    if config.backend != "local":
        raise SystemExit(
            f"The benchmarks compare the local backend with the container engine it drives, but "
            f"{config.api_url} is remote; unset OPENCOMPUTER_API_KEY and OPENCOMPUTER_API_URL to use the local one."
        )
    progress(f"backend: {config.api_url} ({config.backend})")
    rows: list[dict] = []
    image = Image.base()
    snaps = Snapshots(config=config)
    snapshot = f"bench-{cases.nonce()}"
    progress("starting a sandbox from the base image")
    sandbox = await Sandbox.create(image=image, config=config)
    try:
        if "exec" in only:
            progress("warm command round trip")
            rows += await cases.warm_exec(engine, sandbox, args.repeat)
        if "magic" in only:
            progress("%oc_run in a kernel")
            rows += await asyncio.to_thread(cases.magic_in_kernel, sandbox.id, args.repeat)
        if "create" in only:
            progress("sandbox create")
            await snaps.create(name=snapshot, image=image)
            try:
                rows += await cases.create(engine, image, snapshot, sandbox, max(3, args.repeat // 2))
            finally:
                await snaps.delete(snapshot)
        if "wake" in only:
            progress("wake from hibernation")
            rows += await cases.wake(engine, sandbox, args.repeat)
    finally:
        await sandbox.kill()
    if "rebuild" in only:
        progress("incremental rebuild (builds with 1 s steps)")
        rows += await cases.rebuild(engine, snaps, args.build_repeat)
    if "cache_key" in only:
        progress("cache_key() of a 100 MB folder")
        rows += await asyncio.to_thread(cases.cache_key_folder, max(3, args.build_repeat))
    if "log" in only:
        progress("build-log latency")
        rows += await cases.log_latency(engine, snaps)
    if "build_cache" in only:
        progress(f"cold build and middle-step rebuild ({', '.join(buildcache.PIP_PACKAGES)}) vs podman build")
        rows += await buildcache.build_cache(engine)
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    engine = raw.find()
    machine = describe(engine)
    started = time.perf_counter()
    rows = asyncio.run(measure(args, engine))
    settings = {
        "repeat": args.repeat,
        "build_repeat": args.build_repeat,
        "cases": args.only,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = render(rows, machine, settings)
    print(text)
    path = save(rows, machine, settings, text)
    print(f"\nSaved {path} (and latest.md / latest.json beside it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
