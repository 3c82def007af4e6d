"""What a saved notebook shows without a kernel or widget JavaScript (GitHub, VS Code, nbviewer).

A notebook with a build cell and the snapshot table runs headless in a real
kernel against the session's local server (nbclient), is saved, and is
rendered to static HTML by ``jupyter nbconvert``. Scripts are stripped from
that HTML before reading it, so what the tests find is what a viewer that
runs no widget code displays: the build's result line and steps, the
snapshot table's rows.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import nbformat
import pytest
from bs4 import BeautifulSoup
from nbclient import NotebookClient

JUPYTER = str(Path(sys.executable).parent / "jupyter")


@pytest.fixture(scope="module")
def rendered(local_server, tmp_path_factory) -> dict:
    marker = uuid.uuid4().hex[:8]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext oc_jupyter"),
        nbformat.v4.new_code_cell(
            f"%%oc_image env_{marker} --build\nrun echo built-{marker} > /marker\nenv MARKER={marker}\n"
        ),
        nbformat.v4.new_code_cell(f"%oc_snapshot create snap-{marker} --image env_{marker}"),
        nbformat.v4.new_code_cell("%oc_snapshots"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = tmp_path_factory.mktemp("render")
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        # JupyterLab saves no widget state unless asked to (the widget manager's saveState
        # setting is off), so a shared notebook carries only the outputs' static data.
        store_widget_state=False,
    ).execute()
    path = folder / "saved.ipynb"
    nbformat.write(notebook, path)
    converted = subprocess.run(
        [JUPYTER, "nbconvert", "--to", "html", str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=local_server.env,
        timeout=300,
    )
    assert converted.returncode == 0, converted.stderr
    html = (folder / "saved.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    for script in soup.find_all("script"):
        script.decompose()
    yield {"marker": marker, "notebook": notebook, "soup": soup}
    httpx.delete(f"{local_server.url}/api/snapshots/snap-{marker}", headers={"X-API-Key": local_server.key}, timeout=60)


def _outputs(cell) -> str:
    return cell.outputs and "\n".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)


def test_the_build_cell_leaves_its_result_and_steps_as_static_html(rendered):
    marker, soup = rendered["marker"], rendered["soup"]
    build = rendered["notebook"].cells[1]
    assert not [o for o in build.outputs if o.output_type == "error"], build.outputs
    # The saved cell carries the summary as HTML beside the widget view, so viewers without widgets show it.
    assert f"env_{marker}" in _outputs(build)
    text = soup.get_text(" ", strip=True)
    assert f"env_{marker}" in text
    assert "built 2 steps" in text or "cached" in text, text[-2000:]
    assert f"echo built-{marker}" in text and f"MARKER={marker}" in text


def test_the_snapshot_table_rows_are_in_the_static_html(rendered):
    marker, soup = rendered["marker"], rendered["soup"]
    rows = [[cell.get_text(strip=True) for cell in row.find_all("td")] for row in soup.find_all("tr")]
    mine = [row for row in rows if row and row[0] == f"snap-{marker}"]
    assert len(mine) == 1, rows
    assert mine[0][1] == "ready", mine
    headers = [th.get_text(strip=True) for th in soup.find_all("th")]
    assert {"name", "status", "hash", "created", "last used"} <= set(headers)


def test_every_widget_output_carries_a_static_html_fallback(rendered):
    widget_outputs = [
        o
        for cell in rendered["notebook"].cells
        for o in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widget_outputs, "the snapshot table should be a live widget in a kernel with a front end"
    for output in widget_outputs:
        assert output["data"].get("text/html") and output["data"].get("text/plain"), output
