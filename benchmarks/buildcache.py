"""Builds with the shared download caches against ``podman build`` of the equivalent Dockerfile.

A five-step recipe (a unique first step, apt packages, a ``pip`` step with
real packages, two steps after it) is built cold, then rebuilt after an edit
of the ``pip`` step, by a server of the benchmark's own (with fresh, empty
cache volumes, removed afterwards) and by ``podman build`` of a Dockerfile
with the same steps. Both sides keep the layers before the edit; only our
side keeps downloads across the edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import tempfile
import time

from oc_jupyter.local.baseimage import base_image_ref
from oc_jupyter.sdk import Image, Snapshots

from . import engine as raw
from .cases import nonce, row

APT_PACKAGES = ["jq"]
PIP_PACKAGES = ["pandas", "scikit-learn"]
#: The edit: one more package in the middle ``pip`` step.
PIP_EDIT = ["tabulate"]
VOLUME_KINDS = ("pip", "apt-archives", "apt-lists")


def _image(run_id: str, pip: list[str]) -> Image:
    return (
        Image.base()
        .run_commands(f"echo {run_id} > /etc/bench-id")
        .apt_install(APT_PACKAGES)
        .pip_install(pip)
        .run_commands("python -c 'import pandas, sklearn'")
        .run_commands("echo done > /done")
    )


def _dockerfile(base: str, run_id: str, pip: list[str]) -> str:
    return "\n".join(
        [
            f"FROM {base}",
            "ENV DEBIAN_FRONTEND=noninteractive",
            f"RUN echo {run_id} > /etc/bench-id",
            "RUN apt-get update && apt-get install -y --no-install-recommends "
            + " ".join(APT_PACKAGES)
            + " && rm -rf /var/lib/apt/lists/*",
            "RUN pip install " + " ".join(pip),
            "RUN python -c 'import pandas, sklearn'",
            "RUN echo done > /done",
            "",
        ]
    )


def _podman_build(engine: str, folder: str, text: str, tag: str, made: set[str]) -> float:
    """Seconds to build; the ids of the images each step made (the build's own cache) go into ``made``."""
    path = os.path.join(folder, f"Dockerfile.{tag.rsplit(':', 1)[-1]}")
    with open(path, "w") as f:
        f.write(text)
    start = time.perf_counter()
    done = subprocess.run(
        [engine, "build", "--layers", "-f", path, "-t", tag, folder], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    made.update(re.findall(r"^--> (?:Using cache )?([0-9a-f]{12,})", done.stdout, re.MULTILINE))
    if done.returncode != 0:
        raise RuntimeError(f"{engine} build failed: {done.stderr.strip()[-2000:]}")
    return elapsed


@contextlib.contextmanager
def _server_with_fresh_caches(engine: str):
    """A second local server with cache volumes of its own, which start empty and are removed after."""
    from oc_jupyter.local import daemon
    from oc_jupyter.sdk import Config

    prefix = f"oc-bench-{nonce()}-cache"
    with tempfile.TemporaryDirectory(prefix="oc-bench-home-") as home:
        saved = {k: os.environ.get(k) for k in ("OC_JUPYTER_CACHE_VOLUMES", "OC_JUPYTER_WARM_POOL")}
        os.environ.update({"OC_JUPYTER_CACHE_VOLUMES": prefix, "OC_JUPYTER_WARM_POOL": "0"})
        try:
            info = daemon.ensure_running(home)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        try:
            yield Config(info.url, info.key, "local")
        finally:
            daemon.stop(home)
            raw.run(engine, "volume", "rm", "-f", *[f"{prefix}-{kind}" for kind in VOLUME_KINDS], check=False)


async def build_cache(engine: str) -> list[dict]:
    run_id = nonce()
    first, edited = _image(run_id, PIP_PACKAGES), _image(run_id, PIP_PACKAGES + PIP_EDIT)
    ours: dict[str, float] = {}
    with _server_with_fresh_caches(engine) as config:
        snaps = Snapshots(config=config)
        names = {"cold": f"bench-cold-{run_id}", "edit": f"bench-edit-{run_id}"}
        try:
            for key, image in (("cold", first), ("edit", edited)):
                start = time.perf_counter()
                await snaps.create(name=names[key], image=image)
                ours[key] = time.perf_counter() - start
        finally:
            for name in names.values():
                with contextlib.suppress(Exception):
                    await snaps.delete(name)
    theirs: dict[str, float] = {}
    tags = {"cold": f"localhost/oc-bench-{run_id}:cold", "edit": f"localhost/oc-bench-{run_id}:edit"}
    made: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="oc-bench-ctx-") as folder:
            for key, pip in (("cold", PIP_PACKAGES), ("edit", PIP_PACKAGES + PIP_EDIT)):
                text = _dockerfile(base_image_ref(), run_id, pip)
                theirs[key] = await asyncio.to_thread(_podman_build, engine, folder, text, tags[key], made)
    finally:
        raw.remove_images(engine, [tags["edit"], tags["cold"]])
        # Newest first: a step's image goes after the images built on it.
        for image_id in sorted(
            made,
            key=lambda i: raw.run(engine, "image", "inspect", "--format", "{{.Created}}", i, check=False),
            reverse=True,
        ):
            raw.run(engine, "rmi", image_id, check=False)
        _remove_layer_chain(engine, first, edited)
    label = f"`{os.path.basename(engine)} build` of the same Dockerfile"
    packages = ", ".join(PIP_PACKAGES)
    return [
        row(
            "build_cache_edit",
            f"Rebuild after editing the middle `pip` step of 5 ({packages} + {PIP_EDIT[0]})",
            ours["edit"] * 1000,
            theirs["edit"] * 1000,
            label,
            goal="≤ 0.3×",
            met=ours["edit"] <= 0.3 * theirs["edit"],
        ),
        row(
            "build_cache_cold",
            f"Cold build of that 5-step recipe ({packages}), empty caches",
            ours["cold"] * 1000,
            theirs["cold"] * 1000,
            label,
            goal="≤ 1.0×",
            met=ours["cold"] <= theirs["cold"],
        ),
    ]


def _remove_layer_chain(engine: str, *images: Image) -> None:
    """Every layer tag the benchmark's recipes made (their first step is unique to this run)."""
    from oc_jupyter.local.manifest import Manifest

    refs = []
    for image in images:
        for h in Manifest.model_validate(image.to_dict()).layer_hashes():
            refs.append(f"localhost/oc-jupyter/layer:{h}")
    raw.remove_images(engine, sorted(set(refs), key=refs.index)[::-1])
