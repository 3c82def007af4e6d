"""The container engine the tests drive: ``OC_JUPYTER_ENGINE`` (a name or a path), else podman.

Tests inspect containers with the engine's own CLI, as a user would. The few
podman-only spellings they use are translated here so the same test runs
under docker: ``image exists`` (docker has only ``image inspect``),
``untag`` (docker's ``rmi`` of a tag), ``top NAME args`` (docker's
``top NAME -o pid,args``) and ``rm -t 0`` (docker's ``rm -f`` kills at once and
knows no ``-t``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

_CONTAINERS_CONF = str(Path(__file__).resolve().parents[1] / "oc_jupyter" / "local" / "containers.conf")
ENGINE = shutil.which(os.environ.get("OC_JUPYTER_ENGINE", "").strip() or "podman") or "podman"
ENGINE_NAME = "docker" if "docker" in Path(ENGINE).name else "podman"


def engine_args(*args: str) -> list[str]:
    """``args`` spelled for the engine under test."""
    words = list(args)
    if ENGINE_NAME == "docker":
        if words[:2] == ["image", "exists"]:
            words[1] = "inspect"
            words.insert(2, "--format={{.Id}}")
        if words[:1] == ["top"] and len(words) > 2 and not words[2].startswith("-"):
            # podman takes ps format descriptors (``top NAME args``); docker runs the host's ps with the
            # options given, and needs its PID column (``-o pid,args``).
            words[2:] = ["-o", ",".join(["pid", *words[2:]])]
        if words[:1] == ["untag"]:
            # docker removes a tag with rmi; -f keeps an image a container still uses (as untag does).
            words[0:1] = ["rmi", "-f"]
        if words[:1] == ["rm"]:
            for i in range(len(words) - 1):
                if words[i] == "-t" and words[i + 1] == "0":
                    del words[i : i + 2]
                    break
    return [ENGINE, *words]


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    if ENGINE_NAME == "podman":
        env.setdefault("CONTAINERS_CONF", _CONTAINERS_CONF)
    return env


def run_engine(*args: str, check: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run the engine's CLI with ``args`` (translated for it) and capture its output as text."""
    return subprocess.run(
        engine_args(*args), capture_output=True, text=True, check=check, env=engine_env(), timeout=timeout
    )


def image_of(container: str) -> str:
    """The image reference a container was started from (podman and docker keep it in different fields)."""
    field = "{{.ImageName}}" if ENGINE_NAME == "podman" else "{{.Config.Image}}"
    return run_engine("inspect", "--format", field, container).stdout.strip()
