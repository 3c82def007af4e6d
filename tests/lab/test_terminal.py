"""A sandbox's terminal in a JupyterLab tab: real xterm.js in Chromium, the server extension's
WebSocket, the SDK's pty and a real podman sandbox."""

from __future__ import annotations

import re
import uuid

import httpx
import nbformat
import pytest
import websockets
from playwright.sync_api import expect
from websockets.sync.client import connect

from oc_jupyter.sdk import Image, Sandbox, sync

from .built_here import lab_here_fixture  # noqa: F401 - a lab serving this checkout's build
from .conftest import open_lab, open_panel
from .test_notebook_flow import DONE, _code_cell, _open_notebook
from .test_notebook_flow import _run as _run_cell


@pytest.fixture
def sandbox(sdk_config):
    made = sync.run(Sandbox.create(image=Image.base(), config=sdk_config))
    yield made
    try:
        sync.run(made.kill())
    except Exception:
        pass  # the test killed it already


def _screen(tab) -> str:
    return tab.locator(".xterm-rows").inner_text()


def _run_in(page, tab, command: str, expected: str | re.Pattern) -> None:
    """Type a command into the terminal and wait until ``expected`` shows."""
    tab.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(command)
    page.keyboard.press("Enter")
    expect(tab.locator(".xterm-rows")).to_contain_text(expected, timeout=30_000)


def _open_terminal(page, panel, sandbox_id: str):
    row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox_id}"]')
    expect(row).to_have_count(1, timeout=60_000)
    row.get_by_role("button", name=f"Open terminal into {sandbox_id}").click()
    term = page.locator(f'.oc-Terminal[data-sandbox="{sandbox_id}"]')
    expect(term).to_have_attribute("data-state", "open", timeout=60_000)
    return term


def _answer(command: str, output: str) -> re.Pattern:
    """The command's own output right after it (the prompt alone already names the host)."""
    return re.compile(re.escape(f"# {command}") + r"\s*" + re.escape(output))


def _shell_alive(sandbox, pid: str) -> bool:
    return sync.run(sandbox.exec.run(f"kill -0 {pid}")).exit_code == 0


def test_terminal_runs_in_the_sandbox_follows_the_tab_size_and_ends_with_it(lab_here, page, sandbox, artifacts):
    open_lab(page, lab_here)
    panel = open_panel(page)
    term = _open_terminal(page, panel, sandbox.id)
    tab = page.locator(".oc-TerminalTab")
    title = page.get_by_role("tab", name=f"Terminal {sandbox.id}")
    expect(title).to_have_attribute("aria-selected", "true")

    _run_in(page, term, "hostname", _answer("hostname", sandbox.id))
    _run_in(page, term, "echo $TERM", "xterm-256color")
    cols, rows = term.get_attribute("data-cols"), term.get_attribute("data-rows")
    _run_in(page, term, "stty size", f"{rows} {cols}")
    page.screenshot(path=str(artifacts / "terminal-tab.png"))

    # A smaller window: the fit addon measures again and the shell is told.
    page.set_viewport_size({"width": 900, "height": 600})
    expect(term).not_to_have_attribute("data-cols", cols, timeout=15_000)
    new_cols, new_rows = term.get_attribute("data-cols"), term.get_attribute("data-rows")
    assert int(new_cols) < int(cols)
    _run_in(page, term, "clear; stty size", f"{new_rows} {new_cols}")

    # Refreshing the panel re-renders its list; the tab keeps its own socket.
    panel.get_by_role("button", name="Refresh").click()
    expect(panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')).to_have_count(1)
    _run_in(page, term, "echo shell-$$-here", re.compile(r"shell-\d+-here"))
    pid = re.search(r"shell-(\d+)-here", _screen(term)).group(1)
    expect(term).to_have_attribute("data-state", "open")
    assert _shell_alive(sandbox, pid)

    title.locator(".lm-TabBar-tabCloseIcon").click()
    expect(tab).to_have_count(0)
    for _ in range(100):  # the hang-up reaches the sandbox a moment after the tab goes
        if not _shell_alive(sandbox, pid):
            break
        page.wait_for_timeout(200)
    assert not _shell_alive(sandbox, pid), f"the terminal's shell {pid} still runs after its tab closed"


def test_opening_a_terminal_wakes_a_hibernated_sandbox_and_follows_the_theme(lab_here, page, sandbox, artifacts):
    sync.run(sandbox.hibernate())
    open_lab(page, lab_here)
    panel = open_panel(page)
    row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
    expect(row.locator(".oc-Badge")).to_have_text("hibernated", timeout=60_000)
    term = _open_terminal(page, panel, sandbox.id)
    _run_in(page, term, "hostname", _answer("hostname", sandbox.id))
    assert sync.run(sandbox.info()).status == "running"
    # The terminal takes the theme's colours, and follows a switch to the dark theme.
    light = term.locator(".xterm-viewport").evaluate("e => getComputedStyle(e).backgroundColor")
    page.locator(".lm-MenuBar-item", has_text="Settings").click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.locator(".lm-Menu-item", has_text="JupyterLab Dark").first.click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark")
    expect(term.locator(".xterm-viewport")).not_to_have_css("background-color", light)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=30_000)
    page.screenshot(path=str(artifacts / "terminal-tab-dark.png"))
    expect(row.locator(".oc-Badge")).to_have_text("running", timeout=60_000)


def _handshake(url: str, headers: dict[str, str]) -> int:
    # The sync client: Playwright's sync API holds this thread's event loop while the browser is open.
    try:
        with connect(url, additional_headers=headers, open_timeout=30) as ws:
            ws.send('{"type": "input", "data": "exit\\r"}')
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


def test_the_terminal_socket_needs_the_jupyter_login(lab_here, sandbox):
    url = f"ws{lab_here.url[len('http') :]}/oc-jupyter/sandboxes/{sandbox.id}/terminal"
    assert _handshake(url, {}) == 403
    assert _handshake(url + "?token=" + uuid.uuid4().hex, {}) == 403
    assert _handshake(url, {"Authorization": f"token {lab_here.token}"}) == 101
    # The browser's login cookie works from JupyterLab's own page, and not from another site's page:
    # Jupyter's origin check, as for its own terminals.
    login = httpx.get(f"{lab_here.url}/lab?token={lab_here.token}", timeout=30)
    cookie = "; ".join(f"{name}={value}" for name, value in login.cookies.items())
    assert cookie
    assert _handshake(url, {"Cookie": cookie, "Origin": "http://evil.example"}) == 403
    assert _handshake(url, {"Cookie": cookie, "Origin": lab_here.url}) == 101


def test_the_terminal_magic_opens_the_tab_from_a_cell(lab_here, page, sandbox):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(source)
        for source in ("%load_ext oc_jupyter", "%oc_sandbox terminal", f"%oc_sandbox terminal {sandbox.id}")
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    name = f"terminal-{uuid.uuid4().hex[:8]}.ipynb"
    nbformat.write(notebook, lab_here.root / name)

    _open_notebook(page, lab_here, name)
    load = _code_cell(page, "%load_ext oc_jupyter")
    _run_cell(page, load)
    expect(load.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=120_000)

    bare = page.locator(".jp-Notebook .jp-CodeCell").nth(1)
    _run_cell(page, bare)
    expect(bare.locator(".jp-OutputArea")).to_contain_text(
        "No current sandbox to open a terminal into; give its id, for example %oc_sandbox terminal ID", timeout=60_000
    )

    cell = _code_cell(page, f"%oc_sandbox terminal {sandbox.id}")
    _run_cell(page, cell)
    expect(cell.locator(".oc-TerminalRequest button")).to_have_text(f"Open terminal into {sandbox.id}", timeout=60_000)
    term = page.locator(f'.oc-Terminal[data-sandbox="{sandbox.id}"]')
    expect(term).to_have_attribute("data-state", "open", timeout=60_000)
    _run_in(page, term, "hostname", _answer("hostname", sandbox.id))
    expect(term).to_have_count(1)


def test_the_terminal_request_says_where_to_open_it_outside_jupyterlab():
    from oc_jupyter.magics.sandboxes import TERMINAL_MIME, TerminalRequest

    bundle = TerminalRequest("sb-1")._repr_mimebundle_()
    assert bundle[TERMINAL_MIME]["sandbox"] == "sb-1"
    assert bundle["text/plain"] == (
        "A terminal into sandbox sb-1 opens in JupyterLab: run this cell there, or use "
        "the Open terminal button on the sandbox's row in JupyterLab's OpenComputer panel."
    )
