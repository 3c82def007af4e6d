"""End to end in the browser: a notebook's ``%%oc_image`` cell builds, and its build-log widget shows it."""

from __future__ import annotations

import re
import time
import uuid

import nbformat
from playwright.sync_api import expect

from .conftest import open_lab

DONE = re.compile(r"\[\d+\]")


def _code_cell(page, source_start: str):
    """The notebook cell whose source starts with ``source_start`` (cells render progressively)."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for i in range(cells.count()):
            cell = cells.nth(i)
            if cell.locator(".cm-content").inner_text().startswith(source_start):
                return cell
        page.wait_for_timeout(500)
    raise AssertionError(f"No code cell starts with {source_start!r}.")


def _run(page, cell) -> None:
    """Select the cell and run it with the notebook toolbar's Run button."""
    cell.locator(".jp-InputPrompt").click()
    page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:run-cell-and-select-next"]').click()


def _open_notebook(page, lab, name: str) -> None:
    open_lab(page, lab, name)
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=60_000)
    # A cell run before the kernel is connected is dropped, so wait for the kernel itself.
    expect(page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\| Idle$"))).to_have_count(1, timeout=120_000)


def test_quickstart_recipe_cell_builds_with_its_log(lab, page, artifacts):
    _open_notebook(page, lab, "quickstart.ipynb")

    recipe = _code_cell(page, "%%oc_image dev_image\n")
    # Recipe keywords are highlighted in the editor.
    keywords = recipe.locator(".oc-recipe-keyword")
    expect(keywords.first).to_have_text("apt")
    assert {keywords.nth(i).inner_text() for i in range(keywords.count())} >= {"apt", "pip", "file", "env", "workdir"}
    expect(recipe.locator(".oc-recipe-magic")).to_have_text("%%oc_image")
    recipe.screenshot(path=str(artifacts / "recipe-highlight.png"))

    load = _code_cell(page, "%load_ext oc_jupyter")
    _run(page, load)
    expect(load.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=120_000)

    build = _code_cell(page, "%%oc_image dev_image --build")
    _run(page, build)
    output = build.locator(".jp-OutputArea")
    expect(build.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=900_000)
    expect(output).to_contain_text("dev_image")
    expect(output).to_contain_text(re.compile(r"\b(done|cached)\b"))
    expect(output).not_to_contain_text("failed")
    build.scroll_into_view_if_needed()
    build.screenshot(path=str(artifacts / "quickstart-build-log.png"))


def test_build_log_widget_streams_a_real_build_and_finishes(lab, page, artifacts):
    marker = uuid.uuid4().hex[:8]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext oc_jupyter"),
        nbformat.v4.new_code_cell(
            "%%oc_image demo --build\n"
            f"run for i in 1 2 3 4 5 6; do echo line $i of {marker}; sleep 1; done\n"
            f"env MARKER={marker}\n"
        ),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / f"lab-build-{marker}.ipynb")

    _open_notebook(page, lab, f"lab-build-{marker}.ipynb")
    load = _code_cell(page, "%load_ext oc_jupyter")
    _run(page, load)
    expect(load.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=120_000)

    build = _code_cell(page, "%%oc_image demo --build")
    _run(page, build)
    output = build.locator(".jp-OutputArea")
    # While the build runs, the live widget shows a progress bar and the step table.
    expect(
        output.locator(".jupyter-widgets .widget-progress, .jupyter-widgets progress, .widget-hprogress").first
    ).to_be_visible(timeout=600_000)
    # A line of the step's own output (the step description says "line $i"), live.
    expect(output).to_contain_text(f"line 1 of {marker}", timeout=600_000)
    build.screenshot(path=str(artifacts / "build-log-widget-running.png"))

    expect(build.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=900_000)
    expect(output).to_contain_text(re.compile(r"\bdone\b"))
    expect(output).not_to_contain_text("failed")
    build.screenshot(path=str(artifacts / "build-log-widget-done.png"))
