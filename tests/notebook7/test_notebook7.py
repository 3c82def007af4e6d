"""The extension in Notebook 7: the OpenComputer panel, the build-log widget and the snapshot table."""

from __future__ import annotations

import re
import uuid

import httpx
import nbformat
import pytest
from playwright.sync_api import expect

PANEL_ITEM = "Show OpenComputer: backend, snapshots and sandboxes"


def _new_notebook(root, name: str, *sources: str) -> str:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / name)
    return name


def _open(page, notebook7, name: str) -> None:
    page.goto(notebook7.page_url(f"notebooks/{name}"))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
    # A cell run before the kernel is connected is dropped, so wait for the kernel itself.
    expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_have_count(1, timeout=120_000)


def _menu(page, *labels: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=labels[0]).click()
    for label in labels[1:-1]:
        _item(page, label).hover()
    _item(page, labels[-1]).click()


def _item(page, label: str):
    return page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$"))


def test_the_panel_opens_from_the_view_menu_and_shows_the_backend(notebook7, page, local_server):
    _open(page, notebook7, _new_notebook(notebook7.root, f"panel-{uuid.uuid4().hex[:6]}.ipynb", "1 + 1"))
    panel = page.locator("#oc-jupyter-panel")
    expect(panel).to_be_hidden()
    # Notebook 7 lists every left-area widget under View > Left Sidebar, by its caption.
    _menu(page, "View", "Left Sidebar", PANEL_ITEM)
    expect(panel).to_be_visible()
    expect(panel.locator(".oc-Header-title")).to_have_text("OpenComputer")
    backend = panel.locator(".oc-Backend-ok")
    expect(backend).to_be_visible(timeout=60_000)
    expect(backend.locator(".oc-Backend-title")).to_have_text("Local backend")
    expect(backend.locator(".oc-Backend-url")).to_have_text(local_server.url.rstrip("/"))
    assert local_server.key not in page.content()


@pytest.fixture
def marker(local_server):
    value = uuid.uuid4().hex[:8]
    yield value
    httpx.delete(f"{local_server.url}/api/snapshots/nb7-{value}", headers={"X-API-Key": local_server.key}, timeout=60)


def test_build_log_and_snapshot_table_render_from_cells_run_in_the_page(notebook7, page, marker, artifacts):
    name = _new_notebook(
        notebook7.root,
        f"build-{marker}.ipynb",
        "%load_ext oc_jupyter",
        f"%%oc_image env_{marker} --build\nrun echo nb7-{marker} > /marker\nenv MARKER={marker}\n",
        f"%oc_snapshot create nb7-{marker} --image env_{marker}",
        "%oc_snapshots",
    )
    _open(page, notebook7, name)
    _menu(page, "Run", "Run All Cells")
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    last = cells.nth(3)
    expect(last.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=900_000)

    build = cells.nth(1).locator(".jp-OutputArea")
    expect(build).to_contain_text(f"env_{marker}")
    expect(build).to_contain_text(re.compile(r"built 2 steps|cached"))
    expect(build).to_contain_text(f"echo nb7-{marker}")
    expect(build).not_to_contain_text("failed")

    table = last.locator(".jp-OutputArea")
    # The live widget (a grid of cells with Refresh and Delete), not its static HTML fallback.
    expect(table.get_by_role("button", name="Refresh")).to_be_visible()
    # The table lists every snapshot of the backend, other tests' too.
    expect(table).to_contain_text(re.compile(r"\d+ snapshots?"))
    expect(table.get_by_text(f"nb7-{marker}", exact=True)).to_be_visible()
    expect(table.get_by_text("ready", exact=True).first).to_be_visible()
    expect(table.get_by_role("button", name="Delete").first).to_be_visible()
    page.screenshot(path=str(artifacts / "notebook7-build-and-snapshots.png"))


@pytest.fixture(scope="session")
def artifacts():
    from .conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
