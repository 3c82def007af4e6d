"""The panel's per-sandbox file browser in headless Chromium, and its routes over real HTTP.

JupyterLab here serves this checkout's labextension build (``jlpm build`` in
labextension/) ahead of any installed copy, through ``JUPYTER_PATH`` for the lab
process only; the first test checks that it is that build the page loads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil

import httpx
import pytest

from oc_jupyter.sdk import Sandbox, sync

from .conftest import ROOT, open_lab, open_panel, start_lab, stop_lab

BUILD = ROOT / "oc_jupyter" / "labextension"


def _build_load() -> str:
    package = json.loads((BUILD / "package.json").read_text())
    return package["jupyterlab"]["_build"]["load"]


@pytest.fixture(scope="module")
def files_lab(local_server, tmp_path_factory):
    assert (BUILD / "package.json").exists(), "build the labextension first: cd labextension && jlpm build"
    home = tmp_path_factory.mktemp("lab-files")
    share = home / "share" / "jupyter"
    shutil.copytree(BUILD, share / "labextensions" / "oc-jupyter")
    root = home / "notebooks"
    root.mkdir()
    env = {**local_server.env, "JUPYTER_PATH": f"{share}{os.pathsep}{os.environ.get('JUPYTER_PATH', '')}"}
    started = start_lab(root, env, home)
    yield started
    stop_lab(started)


@pytest.fixture(scope="module")
def sandbox(sdk_config):
    sb = sync.run(Sandbox.create(config=sdk_config))
    yield sb
    sync.run(sb.kill())


def test_the_lab_serves_this_checkouts_build(files_lab, page):
    open_lab(page, files_lab)
    federated = page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).federated_extensions"
    )
    ours = [e for e in federated if e["name"] == "oc-jupyter"]
    assert len(ours) == 1 and ours[0]["load"] == _build_load()
    script = httpx.get(f"{files_lab.url}/lab/extensions/oc-jupyter/{_build_load()}", timeout=30)
    assert script.status_code == 200


def test_drop_a_file_then_download_it_back_identical(files_lab, sandbox, page, tmp_path):
    payload = os.urandom(300_000)
    open_lab(page, files_lab)
    panel = open_panel(page)
    row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
    row.wait_for(timeout=60_000)
    row.get_by_role("button", name=f"Files of sandbox {sandbox.id}").click()
    browser = row.locator(".oc-Files")
    browser.locator(".oc-Files-path", has_text="/workspace").wait_for()
    data = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
            return transfer;
        }""",
        ["dropped.bin", base64.b64encode(payload).decode()],
    )
    browser.dispatch_event("dragover", {"dataTransfer": data})
    browser.dispatch_event("drop", {"dataTransfer": data})
    entry = browser.locator('.oc-Files-entry[data-name="dropped.bin"]')
    entry.wait_for(timeout=60_000)
    browser.locator(".oc-Files-status", has_text="Uploaded 1 file to /workspace.").wait_for()
    assert sync.run(sandbox.files.read_bytes("/workspace/dropped.bin")) == payload
    with page.expect_download() as info:
        entry.locator("a").click()
    saved = tmp_path / "saved.bin"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_folders_open_and_hostile_names_show_as_text(files_lab, sandbox, page):
    hostile = '<img src=x onerror="window.__pwned=1">'
    sync.run(sandbox.files.write(f"/workspace/sub/{hostile}", b"x"))
    open_lab(page, files_lab)
    panel = open_panel(page)
    row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
    row.wait_for(timeout=60_000)
    row.get_by_role("button", name=f"Files of sandbox {sandbox.id}").click()
    browser = row.locator(".oc-Files")
    browser.locator('.oc-Files-entry[data-name="sub"] button').click()
    browser.locator(".oc-Files-path", has_text="/workspace/sub").wait_for()
    shown = browser.locator(".oc-Files-entry").first
    shown.wait_for()
    assert shown.get_attribute("data-name") == hostile
    assert hostile in shown.inner_text()
    assert browser.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    browser.get_by_role("button", name="Up one folder").click()
    browser.locator('.oc-Files-entry[data-name="sub"]').wait_for()
    assert browser.locator(".oc-Files-path").inner_text() == "/workspace"


def test_the_routes_need_the_login_and_the_xsrf_token(files_lab, sandbox):
    base = files_lab.api(f"sandboxes/{sandbox.id}/files")
    for method, url in [
        ("GET", f"{base}?path=/workspace"),
        ("GET", f"{base}/download?path=/etc/hostname"),
        ("PUT", f"{base}/upload?path=/workspace/nope"),
    ]:
        assert httpx.request(method, url, content=b"x" if method == "PUT" else None, timeout=30).status_code == 403
    with httpx.Client(timeout=60) as client:
        client.get(f"{files_lab.url}/lab?token={files_lab.token}")
        assert "_xsrf" in client.cookies
        refused = client.put(f"{base}/upload?path=/workspace/nope", content=b"x")
        assert refused.status_code == 403
    assert not sync.run(sandbox.files.exists("/workspace/nope"))


def test_a_large_upload_and_download_stream_through_the_routes(files_lab, sandbox, tmp_path):
    size = 40 * 1024 * 1024
    digest = hashlib.sha256()

    def body():
        for i in range(size // (1 << 20)):
            chunk = hashlib.sha256(str(i).encode()).digest() * (1 << 15)
            digest.update(chunk)
            yield chunk

    base = files_lab.api(f"sandboxes/{sandbox.id}/files")
    with httpx.Client(timeout=120, headers=files_lab.auth) as client:
        put = client.put(f"{base}/upload?path=/workspace/big.bin", content=body())
        assert put.status_code == 204, put.text
        listed = client.get(f"{base}?path=/workspace").json()["entries"]
        assert {"name": "big.bin", "isDir": False, "size": size, "path": "/workspace/big.bin"} in listed
        back = hashlib.sha256()
        with client.stream("GET", f"{base}/download?path=/workspace/big.bin") as response:
            assert response.status_code == 200
            assert response.headers["content-disposition"].startswith('attachment; filename="big.bin"')
            for chunk in response.iter_bytes():
                back.update(chunk)
    assert back.hexdigest() == digest.hexdigest()


def test_bad_paths_and_missing_files_are_one_clear_message(files_lab, sandbox):
    base = files_lab.api(f"sandboxes/{sandbox.id}/files")
    with httpx.Client(timeout=60, headers=files_lab.auth) as client:
        relative = client.get(f"{base}?path=workspace")
        assert relative.status_code == 400
        assert "must be absolute" in relative.json()["message"]
        missing = client.get(f"{base}/download?path=/workspace/none.txt")
        assert missing.status_code == 404
        assert "/workspace/none.txt" in missing.json()["message"]
        gone = client.get(files_lab.api("sandboxes/sb-nosuch/files") + "?path=/")
        assert gone.status_code == 404
