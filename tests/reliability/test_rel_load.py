"""Load: many commands at once across sandboxes, concurrent creates of one manifest, a huge build log.

Throughput and memory figures are printed and written to
``tests/artifacts/reliability-load.json`` for the README; the tests assert
correctness (every output right, one build, a bounded server), never speed.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import httpx
from ownserver import containers_with, record_figures, rss_kb

from oc_jupyter.sdk import Image, Sandbox

FIGURES: dict[str, object] = {}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


async def test_50_concurrent_runs_across_10_sandboxes_all_correct(sdk_config):
    sandboxes = await asyncio.gather(*(Sandbox.create(config=sdk_config, timeout=0) for _ in range(10)))
    try:

        async def one(i: int):
            sandbox = sandboxes[i % len(sandboxes)]
            result = await sandbox.commands.run(f"echo $(({i} * {i})) $(hostname); echo err-{i} >&2; exit {i % 7}")
            return i, sandbox.id, result

        # Warm every sandbox's command channel once, as a notebook's first cell does.
        await asyncio.gather(*(s.commands.run("true") for s in sandboxes))

        started = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(50)), return_exceptions=True)
        burst = time.monotonic() - started
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == [], f"{len(errors)} of 50 runs failed: {errors[:3]}"
        for i, sandbox_id, result in results:
            assert result.stdout == f"{i * i} {sandbox_id}\n", (i, result)
            assert result.stderr == f"err-{i}\n", (i, result)
            assert result.exit_code == i % 7, (i, result)

        # Sustained: 500 runs, 50 in flight at any time.
        gate = asyncio.Semaphore(50)

        async def gated(i: int):
            async with gate:
                return await one(i)

        started = time.monotonic()
        results = await asyncio.gather(*(gated(i) for i in range(500)), return_exceptions=True)
        sustained = time.monotonic() - started
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == [], f"{len(errors)} of 500 runs failed: {errors[:3]}"
        assert all(r.stdout == f"{i * i} {sid}\n" and r.exit_code == i % 7 for i, sid, r in results)
        FIGURES.update(
            {
                "burst_runs": 50,
                "burst_sandboxes": 10,
                "burst_seconds": round(burst, 3),
                "burst_runs_per_second": round(50 / burst, 1),
                "sustained_runs": 500,
                "sustained_concurrency": 50,
                "sustained_seconds": round(sustained, 3),
                "sustained_runs_per_second": round(500 / sustained, 1),
                "errors": 0,
            }
        )
    finally:
        await asyncio.gather(*(s.kill() for s in sandboxes), return_exceptions=True)
        record_figures("reliability-load", FIGURES)


async def test_5_concurrent_creates_of_one_uncached_manifest_share_one_build(sdk_config, unique_images, nonce):
    # Each run of the step prints a fresh random id: two builds would show two ids.
    image = unique_images(
        Image.base().run_commands(f"echo build-{nonce}", "cat /proc/sys/kernel/random/uuid", "sleep 3")
    )
    logs: list[list] = [[] for _ in range(5)]
    most_build_containers = 0
    watching = True

    def watch() -> None:
        nonlocal most_build_containers
        while watching:
            most_build_containers = max(
                most_build_containers, len(containers_with(f"oc-jupyter.build={image.cache_key()}"))
            )
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sandboxes = await asyncio.gather(
            *(Sandbox.create(image=image, config=sdk_config, timeout=0, on_build_log=logs[i].append) for i in range(5)),
            return_exceptions=True,
        )
    finally:
        watching = False
        watcher.join()
    made = [s for s in sandboxes if isinstance(s, Sandbox)]
    try:
        failures = [s for s in sandboxes if not isinstance(s, Sandbox)]
        assert failures == [], failures
        ids = set()
        for log in logs:
            starts = [
                entry
                for entry in log
                if str(entry).startswith("Step 1/1:")
                and not str(entry).endswith("(cached)")
                and "done in" not in str(entry)
            ]
            hits = [entry for entry in log if entry.type == "cache_hit"]
            assert len(starts) + len(hits) == 1, [str(e) for e in log]
            ids |= {str(entry) for entry in log if UUID.match(str(entry))}
        assert len(ids) == 1, f"the step ran {len(ids)} times: {ids}"
        assert most_build_containers == 1
        assert len({s.id for s in made}) == 5
        outputs = await asyncio.gather(*(s.commands.run("hostname") for s in made))
        assert sorted(o.stdout.strip() for o in outputs) == sorted(s.id for s in made)
        FIGURES["concurrent_creates"] = 5
        FIGURES["concurrent_creates_builds"] = len(ids)
    finally:
        await asyncio.gather(*(s.kill() for s in made), return_exceptions=True)


def test_a_build_printing_a_million_lines_streams_to_the_end_with_bounded_server_memory(
    own_server, unique_images, nonce
):
    server = own_server()
    lines = 1_000_000
    image = unique_images(Image.base().run_commands(f"echo first-{nonce}; seq 1 {lines}; echo last-{nonce}"))
    before = rss_kb(server.pid)
    peak = before
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, rss_kb(server.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    outputs = 0
    numbers_in_order = True
    expected = 1
    seen_first = seen_last = False
    result = None
    started = time.monotonic()
    try:
        with httpx.Client(
            base_url=server.url + "/api", headers=server.headers, trust_env=False, timeout=httpx.Timeout(60, read=300)
        ) as api:
            with api.stream(
                "POST",
                "/snapshots",
                json={"name": f"rel-million-{nonce}", "image": image.to_dict()},
                headers={"Accept": "text/event-stream"},
            ) as stream:
                event = None
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "build_log":
                        data = json.loads(line[6:])
                        if data.get("phase") == "output" and data["step"] == 1:
                            outputs += 1
                            message = data["message"]
                            if message == f"first-{nonce}":
                                seen_first = True
                            elif message == f"last-{nonce}":
                                seen_last = True
                            elif numbers_in_order:
                                numbers_in_order = message == str(expected)
                                expected += 1
                    elif line.startswith("data: ") and event in ("result", "error"):
                        result = (event, json.loads(line[6:]))
    finally:
        sampling = False
        sampler.join()
    elapsed = time.monotonic() - started
    after = rss_kb(server.pid)
    FIGURES.update(
        {
            "million_line_build_seconds": round(elapsed, 1),
            "million_line_lines_received": outputs,
            "million_line_server_rss_before_mb": round(before / 1024, 1),
            "million_line_server_rss_peak_mb": round(peak / 1024, 1),
            "million_line_server_rss_after_mb": round(after / 1024, 1),
        }
    )
    record_figures("reliability-load", FIGURES)
    assert result is not None and result[0] == "result", result
    assert result[1]["status"] == "ready"
    assert (peak - before) < 200 * 1024, f"server RSS grew by {(peak - before) // 1024} MB"
    assert seen_first and seen_last
    assert outputs == lines + 2, f"the stream lost {lines + 2 - outputs} of {lines + 2} output lines"
    assert numbers_in_order
