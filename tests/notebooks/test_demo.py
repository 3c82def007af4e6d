"""`oc-jupyter demo`, the main job of the README's first command, runs the quick start and says what to do next."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
from _support import CLI

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_demo_runs_the_quickstart_and_points_to_jupyterlab(local_server, quickstart):
    # After the quickstart fixture, so both runs never share the notebook's snapshot names at once.
    done = subprocess.run(
        [CLI, "demo"], env=local_server.env, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"quickstart.ipynb on the local backend at {local_server.url}" in out.splitlines()[0]
    assert "[1] %load_ext oc_jupyter" in out
    assert "    /usr/bin/curl" in out
    assert "dev_image = image: cache key " in out
    code_cells = sum(c.cell_type == "code" for c in nbformat.read(QUICKSTART, as_version=4).cells)
    assert f"All {code_cells} code cells ran" in out
    assert "Open the notebooks in JupyterLab:" in out
    assert out.rstrip().splitlines()[-1].strip().split()[1:2] == ["lab"]
    assert local_server.key not in out + done.stderr
    assert (local_server.home / "demo" / "quickstart.ipynb").is_file()
