"""Describes the machine a benchmark ran on, so figures are never quoted without it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys


def _first(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def describe(engine: str) -> dict:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    try:
        engine_version = subprocess.run(
            [engine, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except OSError:
        engine_version = "unknown"
    from oc_jupyter import __version__

    return {
        "os": _first("/etc/os-release", "PRETTY_NAME"),
        "kernel": platform.release(),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "engine": engine_version,
        "python": sys.version.split()[0],
        "oc_jupyter": __version__,
    }


def one_line(m: dict) -> str:
    return (
        f"{m['os']}, kernel {m['kernel']}, {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, "
        f"{m['engine']}, Python {m['python']}, oc_jupyter {m['oc_jupyter']}"
    )
