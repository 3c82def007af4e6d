"""The raw container engine, called the way a user would call it, as the baseline."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABEL = "oc-jupyter.benchmark"


def find() -> str:
    engine = shutil.which("podman") or shutil.which("docker")
    if not engine:
        raise SystemExit("No container engine found: install podman (apt-get install podman) or docker.")
    if os.path.basename(engine) == "podman":
        # The same engine settings the local server uses, so both sides are measured alike.
        os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "oc_jupyter" / "local" / "containers.conf"))
    return engine


def run(engine: str, *args: str, check: bool = True) -> str:
    done = subprocess.run([engine, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{engine} {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def container_of(engine: str, sandbox_id: str) -> str:
    ids = run(engine, "ps", "-q", "--filter", f"label=oc-jupyter.sandbox={sandbox_id}").split()
    if not ids:
        raise RuntimeError(f"No running container is labelled with sandbox {sandbox_id!r}.")
    return ids[0]


def image_of(engine: str, container: str) -> str:
    return run(engine, "inspect", "--format", "{{.Image}}", container)


def remove_images(engine: str, tags) -> None:
    for tag in tags:
        run(engine, "rmi", "-f", tag, check=False)


def remove_labelled(engine: str, value: str) -> None:
    ids = run(engine, "ps", "-aq", "--filter", f"label={LABEL}={value}", check=False).split()
    if ids:
        run(engine, "rm", "-f", "-t", "0", *ids, check=False)
