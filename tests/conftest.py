"""Fixtures shared by every test: one real local server for the session.

The server runs in its own ``OC_JUPYTER_HOME`` so a test run never touches a
user's state. The layer images every server of the run built (the session's,
the private ones, the badinput one) are removed when the run ends, and the
run fails if any is left: they are found by their ``oc-jupyter.built-by``
label, whose value is the instance id kept in each server home's
``state.sqlite``, so the base image, layers that existed before the run and
layers other runs build meanwhile are never touched. Set
``OC_JUPYTER_TEST_KEEP_LAYERS=1`` to keep them for a faster next run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _support import CLI, ENGINE, LAYER_REPOSITORY, ROOT, engine

BUILT_BY_LABEL = "oc-jupyter.built-by"

os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "oc_jupyter" / "local" / "containers.conf"))
for _var in ("OPENCOMPUTER_API_KEY", "OPENCOMPUTER_API_URL"):
    os.environ.pop(_var, None)


@dataclass
class LocalServer:
    url: str
    key: str
    home: Path
    instance: str
    env: dict = field(default_factory=dict)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, check=check)


@pytest.fixture(scope="session")
def oc_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("oc-home")
    os.environ["OC_JUPYTER_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def local_server(oc_home) -> LocalServer:
    env = dict(os.environ)
    started = subprocess.run([CLI, "server", "start"], env=env, capture_output=True, text=True)
    assert started.returncode == 0, f"oc-jupyter server start failed:\n{started.stdout}\n{started.stderr}"
    info = json.loads((oc_home / "server.json").read_text())
    server = LocalServer(url=info["url"], key=info["key"], home=oc_home, instance=info.get("instance", ""), env=env)
    yield server
    subprocess.run([CLI, "server", "stop"], env=env, capture_output=True, text=True)
    if server.instance:
        ids = engine("ps", "-aq", "--filter", f"label=oc-jupyter.instance={server.instance}").stdout.split()
        if ids:
            engine("rm", "-f", "-t", "0", *ids)


def _instances_under(folder: Path) -> set[str]:
    """The instance ids of every server home under ``folder`` (read from their ``state.sqlite``)."""
    found = set()
    for db in folder.rglob("state.sqlite"):
        with (
            contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn,
            contextlib.suppress(sqlite3.Error),
        ):
            row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
            if row:
                found.add(row[0])
    return found


def _layers_built_by(instances: set[str]) -> dict[str, list[str]]:
    """Image id -> what to remove it by, for the images any of ``instances`` built.

    Layer images are removed by their tags (an image may carry several); one whose tag moved to a
    rebuilt layer is left untagged and is removed by its id.
    """
    images: dict[str, list[str]] = {}
    for instance in sorted(instances):
        listed = engine(
            "images", "--filter", f"label={BUILT_BY_LABEL}={instance}", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
        ).stdout
        for line in listed.splitlines():
            image_id, _, ref = line.partition(" ")
            if ref.startswith(LAYER_REPOSITORY + ":"):
                images.setdefault(image_id, []).append(ref)
            elif ref == "<none>:<none>":
                images.setdefault(image_id, []).append(image_id)
    return images


@pytest.fixture(scope="session", autouse=True)
def removes_the_layers_it_built(tmp_path_factory):
    """After the run: remove the layer images this run's servers built, and fail if any remains."""
    yield
    if os.environ.get("OC_JUPYTER_TEST_KEEP_LAYERS") == "1":
        return
    instances = _instances_under(tmp_path_factory.getbasetemp())
    if not instances:
        return
    for refs in _layers_built_by(instances).values():
        # No -f: a layer a still-running container uses must not vanish under it; the check below reports it.
        engine("rmi", *refs)
    left = _layers_built_by(instances)
    assert not left, (
        f"{len(left)} layer image(s) built by this run are still in {ENGINE}'s store "
        f"(first: {sorted(left.values())[0]}); a container still uses them, see `{ENGINE} ps -a`."
    )


@pytest.fixture(scope="session")
def sdk_config(local_server):
    from oc_jupyter.sdk import Config

    return Config.resolve(api_key=local_server.key, api_url=local_server.url)
