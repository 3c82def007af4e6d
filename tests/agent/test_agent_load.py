"""Many commands at once across many sandboxes, all answered correctly."""

from __future__ import annotations

import asyncio


async def test_50_concurrent_runs_across_10_sandboxes(run, sandboxes):
    boxes = await asyncio.gather(*(sandboxes.create(templateID="base") for _ in range(10)))
    jobs = [(boxes[i % 10], i) for i in range(50)]
    results = await asyncio.gather(
        *(run(box, "sh", "-c", f'echo "{i} $(hostname)"; echo "err{i}" >&2; exit {i % 7}') for box, i in jobs)
    )
    for (box, i), result in zip(jobs, results, strict=True):
        assert result == {
            "exitCode": i % 7,
            "stdout": f"{i} {box}\n",
            "stderr": f"err{i}\n",
            "oomKilled": False,
            "error": None,
        }
