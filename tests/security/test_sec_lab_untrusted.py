"""In a real JupyterLab and Chromium: sandbox output shown through ``safe_bundle`` cannot reach the page.

A notebook cell publishes bundles that went through ``safe_bundle``, as the
remote display path does, and is run from the browser, so JupyterLab treats
the output as trusted (the case an attack needs). The HTML probe is a script
that tries what an attacker would: read the page's and its own cookies,
retitle the page, and call the Jupyter API with the page's credentials. It
writes what it got into its own DOM, which the test reads through a frame
locator. The probe itself running shows that scripts in the frame (plots)
still work.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, open_lab, open_panel, start_lab, stop_lab  # noqa: E402

PROBE = """
<div id="result">pending</div>
<script>
(async () => {
  const r = {ran: true, fetch: {}};
  const attempt = (name, fn) => { try { r[name] = fn(); } catch (e) { r[name] = "blocked: " + e.name; } };
  attempt("parentCookie", () => parent.document.cookie);
  attempt("topCookie", () => top.document.cookie);
  attempt("cookie", () => document.cookie);
  attempt("title", () => { parent.document.title = "owned-MARKER"; return "set"; });
  attempt("parentUrl", () => parent.location.href);
  attempt("storage", () => { localStorage.setItem("k", "v"); return "open"; });
  attempt("opened", () => String(window.open("/api/contents")));
  for (const path of ["/api/contents", "/api/kernels", "/api/sessions", "/lab/api/settings"]) {
    try {
      // A srcdoc frame resolves relative URLs against the notebook page's address.
      const response = await fetch(new URL(path, document.baseURI), {credentials: "include"});
      r.fetch[path] = "answered " + response.status + ": " + (await response.text()).slice(0, 300);
    } catch (e) { r.fetch[path] = "blocked: " + e.name; }
  }
  document.getElementById("result").textContent = JSON.stringify(r);
})();
</script>
"""

MARKDOWN = "**md-MARKER** <img src=x onerror=\"parent.document.title='md-owned-MARKER'\"> [go](javascript:alert(1))"
SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40' onload=\"parent.document.title='svg-owned-MARKER'\">"
    "<circle cx='20' cy='20' r='15' fill='teal'/></svg>"
)
JS = "document.title = 'js-owned-MARKER'; document.body.dataset.owned = 'MARKER';"


@pytest.fixture(scope="module")
def lab(local_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("lab-untrusted")
    root = home / "notebooks"
    root.mkdir()
    started = start_lab(root, dict(local_server.env), home)
    yield started
    stop_lab(started)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing; install Debian's chromium package."
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _notebook(marker: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    sub = lambda text: text.replace("MARKER", marker)  # noqa: E731
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from IPython.display import display\n"
            "from oc_jupyter.untrusted import safe_bundle\n"
            "def show(bundle):\n"
            "    data, metadata, notes = safe_bundle(bundle)\n"
            "    for note in notes:\n"
            "        print(note)\n"
            "    display(data, metadata=metadata, raw=True)\n"
            f"print('ready-{marker}')"
        ),
        nbformat.v4.new_code_cell(f"show({{'text/html': {sub(PROBE)!r}, 'text/plain': 'probe'}})"),
        nbformat.v4.new_code_cell(f"show({{'text/markdown': {sub(MARKDOWN)!r}}})"),
        nbformat.v4.new_code_cell(f"show({{'image/svg+xml': {sub(SVG)!r}}})"),
        nbformat.v4.new_code_cell(f"show({{'application/javascript': {sub(JS)!r}, 'text/plain': 'js-{marker}'}})"),
        nbformat.v4.new_code_cell(
            "import pandas as pd\n"
            f"frame = pd.DataFrame({{'city': ['Lyon', 'Oslo', 'df-{marker}'], 'temp': [12.5, 3.0, 21.25]}})\n"
            "show({'text/html': frame._repr_html_(), 'text/plain': repr(frame)})"
        ),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _run_all(page, cells: int) -> None:
    page.locator(".jp-Notebook .jp-CodeCell").first.locator(".jp-InputPrompt").click()
    for _ in range(cells):
        page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:run-cell-and-select-next"]').click()
        page.wait_for_timeout(300)


def test_sandbox_html_in_lab_cannot_reach_the_page_but_its_scripts_run(lab, browser):
    marker = uuid.uuid4().hex[:8]
    name = f"untrusted-{marker}.ipynb"
    nbformat.write(_notebook(marker), lab.root / name)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        open_lab(page, lab, name)
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=60_000)
        expect(page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"\| Idle$"))).to_have_count(
            1, timeout=120_000
        )
        # The page does hold credentials a script would want.
        page_cookies = [c for c in context.cookies() if c["value"]]
        assert page_cookies, "JupyterLab set no cookie; the test would prove nothing"
        assert page.evaluate("document.cookie")

        _run_all(page, 6)
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        expect(cells.nth(5).locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)

        frame = page.frame_locator(".jp-OutputArea iframe.oc-untrusted-frame").first
        result = frame.locator("#result")
        expect(result).not_to_have_text("pending", timeout=30_000)
        report = json.loads(result.inner_text())

        # The frame's own script ran (interactive output keeps working) ...
        assert report["ran"] is True
        # ... but it reached nothing of the page.
        for key in ("parentCookie", "topCookie", "title", "parentUrl"):
            assert str(report[key]).startswith("blocked"), (key, report[key])
        assert report["cookie"] == "" or str(report["cookie"]).startswith("blocked"), report["cookie"]
        assert report["storage"].startswith("blocked"), report["storage"]
        assert report["opened"] in ("null",) or report["opened"].startswith("blocked"), report["opened"]
        for path, outcome in report["fetch"].items():
            assert outcome.startswith("blocked"), (path, outcome)
        text = json.dumps(report)
        for cookie in page_cookies:
            assert cookie["value"] not in text
        assert lab.token not in text

        # The frame is sandboxed without same-origin, as the browser sees it.
        attrs = page.locator(".jp-OutputArea iframe.oc-untrusted-frame").first.evaluate(
            "f => [f.getAttribute('sandbox'), f.sandbox.contains('allow-same-origin')]"
        )
        assert attrs == ["allow-scripts", False]
        # Its static copy (for a sanitizer that drops the frame) is not shown beside it.
        assert "pending" not in cells.nth(1).locator(".jp-OutputArea").inner_text()

        # Markdown rendered, its HTML shown as text; the SVG framed; the JS bundle dropped with a note.
        markdown = cells.nth(2).locator(".jp-OutputArea")
        expect(markdown.locator("strong")).to_have_text(f"md-{marker}")
        assert markdown.locator("img").count() == 1  # kept, without its handler
        assert markdown.locator("img[onerror]").count() == 0
        assert markdown.locator("a[href^='javascript' i]").count() == 0
        svg_output = cells.nth(3).locator(".jp-OutputArea")
        expect(svg_output.locator("iframe.oc-untrusted-frame")).to_have_count(1)
        assert svg_output.locator("circle").count() == 0  # only inside the frame, not in the page
        js_output = cells.nth(4).locator(".jp-OutputArea")
        expect(js_output).to_contain_text("application/javascript")
        expect(js_output).to_contain_text(f"js-{marker}")

        page.wait_for_timeout(1000)  # let any handler that could still fire do so before the final look
        assert marker not in page.title(), page.title()
        assert page.evaluate("document.body.dataset.owned") is None
        # A table from the sandbox (a DataFrame's HTML) shows in its frame.
        table = cells.nth(5).frame_locator("iframe.oc-untrusted-frame").locator("table")
        expect(table.locator("td", has_text=f"df-{marker}")).to_have_count(1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        cells.nth(1).screenshot(path=str(ARTIFACTS / "untrusted-html-frame.png"))
        cells.nth(5).screenshot(path=str(ARTIFACTS / "untrusted-dataframe-frame.png"))
    finally:
        context.close()
        (lab.root / name).unlink(missing_ok=True)


def test_a_reopened_notebook_shows_the_static_copy_and_runs_nothing(lab, browser):
    from oc_jupyter.untrusted import safe_bundle

    marker = uuid.uuid4().hex[:8]
    data, metadata, _ = safe_bundle(
        {
            "text/html": (
                f"<table><tr><td>static-{marker}</td></tr></table>"
                f"<script>parent.document.title = 'owned-{marker}'</script>"
                f"<img src=x onerror=\"document.title = 'img-owned-{marker}'\">"
            ),
            "text/plain": "table",
        }
    )
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show(table)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    notebook.cells = [cell]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    name = f"reopened-{marker}.ipynb"
    nbformat.write(notebook, lab.root / name)  # not signed: JupyterLab opens it untrusted
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        open_lab(page, lab, name)
        output = page.locator(".jp-Notebook .jp-CodeCell").first.locator(".jp-OutputArea")
        expect(output.locator("td")).to_have_text(f"static-{marker}")
        assert output.locator("iframe").count() == 0  # JupyterLab's sanitizer dropped the frame
        assert output.locator("img[onerror]").count() == 0
        page.wait_for_timeout(1000)  # let any handler that could still fire do so before the final look
        assert marker not in page.title(), page.title()
    finally:
        context.close()
        (lab.root / name).unlink(missing_ok=True)


def test_the_panel_shows_a_failed_build_s_hostile_output_as_text(lab, browser, sdk_config):
    from oc_jupyter.sdk import Image, Snapshots, errors, sync

    marker = uuid.uuid4().hex[:8]
    payload = f"<img src=x onerror=\"document.title='panel-owned-{marker}'\"><b>bold-{marker}</b>"
    name = f"hostile-{marker}"
    snaps = Snapshots(config=sdk_config)
    try:
        sync.run(snaps.create(name, Image.base().run_commands(f"echo {shlex.quote(payload)} && exit 3")))
    except errors.BuildFailed:
        pass
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        open_lab(page, lab)
        panel = open_panel(page)
        row = panel.locator(f'.oc-SnapshotRow[data-name="{name}"]')
        expect(row.locator(".oc-Badge")).to_have_text("failed", timeout=60_000)
        expect(row.locator(".oc-Row-error")).to_contain_text(f"<b>bold-{marker}</b>")  # the markup, as text
        assert panel.locator("img").count() == 0 and panel.locator("b", has_text=f"bold-{marker}").count() == 0
        page.wait_for_timeout(1000)  # let any handler that could still fire do so before the final look
        assert marker not in page.title(), page.title()
    finally:
        context.close()
        try:
            sync.run(snaps.delete(name))
        except errors.SnapshotNotFound:
            pass
