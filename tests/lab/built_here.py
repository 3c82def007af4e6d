"""A JupyterLab that loads the labextension built in this checkout, not the one installed in the venv.

The venv's ``share/jupyter/labextensions/oc-jupyter`` may point at another
checkout; JupyterLab takes the first ``oc-jupyter`` it finds on
``JUPYTER_PATH``, so a data folder holding this checkout's build goes first,
for this lab process only.
"""

from __future__ import annotations

import os

import pytest

from .conftest import ROOT, start_lab, stop_lab

BUILD = ROOT / "oc_jupyter" / "labextension"


def lab_env(env: dict[str, str], data) -> dict[str, str]:
    assert (BUILD / "package.json").exists(), (
        f"{BUILD} holds no build; run `jlpm build` in {ROOT / 'labextension'} first."
    )
    target = data / "labextensions" / "oc-jupyter"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(BUILD, target_is_directory=True)
    return {**env, "JUPYTER_PATH": os.pathsep.join(filter(None, [str(data), env.get("JUPYTER_PATH")]))}


@pytest.fixture(scope="session", name="lab_here")
def lab_here_fixture(local_server, tmp_path_factory):
    """JupyterLab with this checkout's labextension, wired to the test run's local server."""
    home = tmp_path_factory.mktemp("lab-here")
    root = home / "notebooks"
    root.mkdir()
    started = start_lab(root, lab_env(dict(local_server.env), home / "data"), home)
    yield started
    stop_lab(started)
