"""A real Notebook 7 (``jupyter notebook``) beside the JupyterLab of tests/lab, and Chromium to drive it.

Notebook 7 runs on the same JupyterLab front-end machinery and loads the same
labextension; its config, settings and workspace folders are temporary, as for
JupyterLab, and it finds the test run's local server through ``OC_JUPYTER_HOME``.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass
class Notebook:
    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def notebook7(local_server, tmp_path_factory) -> Notebook:
    home = tmp_path_factory.mktemp("notebook7")
    root = home / "notebooks"
    root.mkdir()
    for sub in ("config", "settings", "workspaces", "runtime"):
        (home / sub).mkdir()
    notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Every cell in the DOM, so a test finds a cell by its text without scrolling to it.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = {
        **local_server.env,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = home / "notebook.log"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "notebook",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    server = Notebook(url=f"http://127.0.0.1:{port}", token=token, root=root, process=process, log=log)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter notebook exited with {process.returncode}:\n{server.output()}")
        try:
            if (
                httpx.get(
                    f"{server.url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2
                ).status_code
                == 200
            ):
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"jupyter notebook did not answer within 120 s:\n{server.output()}")
        time.sleep(0.5)
    yield server
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Package scope: Playwright's sync API holds the main thread's event loop while open.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing; install Debian's chromium package (scripts/setup.sh does with OC_SETUP_BROWSER=1)."
    )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    if getattr(request.node, "failed_call", False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-nb7-{request.node.name}.png"))
    context.close()
