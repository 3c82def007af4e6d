"""Fixtures shared by every test: one real local server for the session.

The server runs in its own ``OC_JUPYTER_HOME`` so a test run never touches a
user's state; images live in the engine's store and are reused across runs,
which is what makes the second run of the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from engine_under_test import run_engine

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "oc-jupyter")

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
        ids = run_engine("ps", "-aq", "--filter", f"label=oc-jupyter.instance={server.instance}").stdout.split()
        if ids:
            run_engine("rm", "-f", "-t", "0", *ids)


@pytest.fixture(scope="session")
def sdk_config(local_server):
    from oc_jupyter.sdk import Config

    return Config.resolve(api_key=local_server.key, api_url=local_server.url)
