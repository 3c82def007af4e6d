"""Formats benchmark rows as a markdown table and saves them with the machine description."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .machine import one_line

RESULTS = Path(__file__).resolve().parent / "results"


def _num(value: float, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms" and value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"


def table(rows: list[dict]) -> str:
    lines = [
        "| Measurement (median) | oc_jupyter | Baseline | Ratio | Goal |",
        "|---|---:|---|---:|---|",
    ]
    for r in rows:
        base = f"{_num(r['baseline'], r['unit'])} ({r['baseline_label']})" if r["baseline"] is not None else ""
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] is not None else ""
        goal = r["goal"]
        if goal and r["met"] is not None:
            goal += " ✓" if r["met"] else " ✗"
        if "last_step_ms" in r:
            goal += f" (last step: {_num(r['last_step_ms'], 'ms')})"
        lines.append(f"| {r['measure']} | {_num(r['ours'], r['unit'])} | {base} | {ratio} | {goal} |")
    return "\n".join(lines)


def render(rows: list[dict], machine: dict, settings: dict) -> str:
    return "\n".join(
        [
            table(rows),
            "",
            f"Machine: {one_line(machine)}.",
            (
                f"Runs: {settings['repeat']} per timing, {settings['build_repeat']} per build; "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
            ),
        ]
    )


def save(rows: list[dict], machine: dict, settings: dict, text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    data = {"machine": machine, "settings": settings, "rows": rows}
    for name in (f"{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(data, indent=2) + "\n")
    for name in (f"{stamp}.md", "latest.md"):
        (RESULTS / name).write_text(text + "\n")
    return RESULTS / f"{stamp}.json"
