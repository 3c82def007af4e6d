"""The OpenComputer kernel in JupyterLab, in headless Chromium.

A kernelspec made by ``oc_jupyter.kernel.kernelspec`` is found by a real
JupyterLab through JUPYTER_PATH: it shows in the launcher with its name, a
notebook started from it runs a cell in a sandbox. (Completion of names
defined in the sandbox is checked over the kernel protocol in
tests/kernel/.)
"""

from __future__ import annotations

import httpx
import pytest

from oc_jupyter.kernel.kernelspec import KernelChoice, install

from .conftest import open_lab, start_lab, stop_lab

DISPLAY = "Python 3 (OpenComputer: lab test)"


def gone(local_server, sandbox_id: str) -> bool:
    response = httpx.get(f"{local_server.url}/api/sandboxes", headers={"X-API-Key": local_server.key}, timeout=30)
    return sandbox_id not in {s["sandboxID"] for s in response.json()}


@pytest.fixture(scope="module")
def kernel_lab(local_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("kernel-lab")
    prefix = home / "prefix"
    install(KernelChoice(), name="oc-lab-test", display_name=DISPLAY, prefix=str(prefix))
    root = home / "notebooks"
    root.mkdir()
    env = {**local_server.env, "JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    lab = start_lab(root, env, home)
    yield lab
    stop_lab(lab)


def test_the_kernel_runs_a_notebook_from_the_launcher(kernel_lab, page, local_server):
    open_lab(page, kernel_lab)
    card = page.locator(".jp-LauncherCard", has_text=DISPLAY).first
    card.wait_for(state="visible", timeout=60_000)
    assert card.locator("img, svg").count() >= 1, "the launcher card shows the kernel's logo"
    card.click()
    cell = page.locator(".jp-Notebook .jp-Cell.jp-CodeCell").first
    cell.wait_for(state="visible")
    page.locator(".jp-Notebook-ExecutionIndicator, .jp-Toolbar").first.wait_for()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.type("import socket\nsandbox_host_name = socket.gethostname()\nsandbox_host_name")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output", has_text="sb-").first
    output.wait_for(state="visible", timeout=600_000)
    assert output.inner_text().strip().strip("'").startswith("sb-")
    # Shut the kernel down, so its sandbox goes before the lab does.
    page.keyboard.press("Escape")
    page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
    page.locator(".lm-Menu-itemLabel", has_text="Shut Down Kernel").first.click()
    sandbox_id = output.inner_text().strip().strip("'")
    page.wait_for_function("() => true")  # let the menu command reach the server
    deadline = 60
    while not gone(local_server, sandbox_id) and deadline:
        page.wait_for_timeout(1000)
        deadline -= 1
    assert gone(local_server, sandbox_id), "shutting the kernel down removes its sandbox"
