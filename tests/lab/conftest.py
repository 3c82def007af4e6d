"""A real JupyterLab for the browser and route tests, and a headless Chromium to drive it.

JupyterLab runs with the environment of the test run's local server, so its
server extension finds that server through ``OC_JUPYTER_HOME``; its config,
settings and workspace folders are temporary, so a user's set-up never leaks in.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
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
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    def api(self, path: str) -> str:
        return f"{self.url}/oc-jupyter/{path}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, env: dict[str, str], home: Path) -> Lab:
    """Start ``jupyter lab`` on a free port with a random token and wait until it answers."""
    for sub in ("config", "settings", "workspaces", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    # No news or update checks: nothing to click away, nothing fetched from outside.
    notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Every cell in the DOM, so a test finds a cell by its text without scrolling to it.
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = {
        **env,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    port, token = _free_port(), secrets.token_hex(16)
    log = home / "lab.log"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, process=process, log=log)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{lab.output()}")
        try:
            if httpx.get(f"{lab.url}/api/status", headers=lab.auth, timeout=2).status_code == 200:
                return lab
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_lab(lab)
            raise RuntimeError(f"jupyter lab did not answer within 120 s:\n{lab.output()}")
        time.sleep(0.5)


def stop_lab(lab: Lab) -> None:
    lab.process.terminate()
    try:
        lab.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        lab.process.kill()
        lab.process.wait()


@pytest.fixture(scope="session")
def lab(local_server, tmp_path_factory) -> Lab:
    """JupyterLab serving a copy of the repository's notebooks, wired to the test run's local server."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    started = start_lab(root, dict(local_server.env), home)
    yield started
    stop_lab(started)


# Package scope: Playwright's sync API runs its event loop in the main thread while
# it is open, which would break every asyncio test collected after tests/lab.
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
        page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def open_lab(page, lab: Lab, tree_path: str = "") -> None:
    """Load JupyterLab in a workspace of its own (nothing restored), opening ``tree_path`` if given."""
    workspace = f"lab/workspaces/t{uuid.uuid4().hex[:12]}"
    target = f"{workspace}/tree/{tree_path}" if tree_path else workspace
    page.goto(f"{lab.url}/{target}?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=120_000)
    page.wait_for_selector(".jp-LabShell:not(.jp-mod-loading)", timeout=60_000)


def open_panel(page):
    """Click the panel's tab in the left sidebar and return the panel."""
    page.locator('.jp-SideBar .lm-TabBar-tab[data-id="oc-jupyter-panel"]').click()
    panel = page.locator("#oc-jupyter-panel")
    panel.wait_for(state="visible")
    return panel


@pytest.fixture(scope="session")
def unreachable_lab(local_server, tmp_path_factory) -> Lab:
    """JupyterLab configured for a cloud URL where nothing listens (a closed loopback port)."""
    home = tmp_path_factory.mktemp("lab-unreachable")
    root = home / "notebooks"
    root.mkdir()
    env = {
        **local_server.env,
        "OPENCOMPUTER_API_URL": f"http://127.0.0.1:{_free_port()}",
        "OPENCOMPUTER_API_KEY": f"key-{secrets.token_hex(8)}",
    }
    started = start_lab(root, env, home)
    started.api_key = env["OPENCOMPUTER_API_KEY"]
    yield started
    stop_lab(started)
