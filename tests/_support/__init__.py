"""Helpers shared by the test folders: the CLI, the container engine, fresh tokens, container names.

Import as ``from _support import CLI, ENGINE, nonce`` (``tests/`` is on
``sys.path`` because its ``conftest.py`` sits in a folder without
``__init__.py``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

__all__ = [
    "CLI",
    "CONTAINERS_CONF",
    "ENGINE",
    "LAYER_REPOSITORY",
    "ROOT",
    "apoll",
    "container_name",
    "engine",
    "nonce",
    "poll",
]

ROOT = Path(__file__).resolve().parents[2]
#: The ``oc-jupyter`` command of the interpreter running the tests.
CLI = str(Path(sys.executable).parent / "oc-jupyter")
# The engine under test (OC_JUPYTER_ENGINE, else podman), with podman-only spellings translated for docker.
from engine_under_test import ENGINE, engine_args, engine_env  # noqa: E402

CONTAINERS_CONF = str(ROOT / "oc_jupyter" / "local" / "containers.conf")
#: Where the local server tags the image of every built layer.
LAYER_REPOSITORY = "localhost/oc-jupyter/layer"


def nonce() -> str:
    """A fresh token: put it in a step so the manifest was never built before."""
    return uuid.uuid4().hex[:12]


def container_name(sandbox_id: str) -> str:
    """The engine's name for a sandbox's container."""
    return f"oc-jupyter-{sandbox_id}"


def engine(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the container engine's CLI with the test suite's engine configuration."""
    return subprocess.run(engine_args(*args), capture_output=True, text=True, env=engine_env(), timeout=timeout)


def poll(check, *, timeout: float = 60.0, interval: float = 0.2, what: str = "the condition") -> None:
    """Call ``check()`` until it is truthy; fail with ``what`` after ``timeout`` seconds.

    The deadline only bounds a hang; no test depends on how soon the condition holds.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(interval)


async def apoll(check, *, timeout: float = 60.0, interval: float = 0.2, what: str = "the condition") -> None:
    """:func:`poll` for an async ``check``."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        await asyncio.sleep(interval)
