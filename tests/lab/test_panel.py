"""The OpenComputer panel in a real JupyterLab, driven in headless Chromium."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from oc_jupyter.sdk import Image, Sandbox, Snapshots, errors, sync

from .built_here import lab_here_fixture  # noqa: F401 - a lab serving this checkout's build
from .conftest import open_lab, open_panel


def _create_snapshot_async(local_server, name: str, image: Image) -> None:
    """Start a snapshot build and return at once (the contract's ``?async=1``)."""
    response = httpx.post(
        f"{local_server.url}/api/snapshots",
        params={"async": "1"},
        json={"name": name, "image": image.to_dict()},
        headers={"X-API-Key": local_server.key},
        timeout=60,
    )
    assert response.status_code == 202, response.text


def test_panel_opens_from_its_tab_and_shows_the_backend(lab, page, local_server):
    open_lab(page, lab)
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="oc-jupyter-panel"]')
    expect(tab).to_have_attribute("title", "OpenComputer: backend, snapshots and sandboxes")
    panel = open_panel(page)
    expect(panel.locator(".oc-Header-title")).to_have_text("OpenComputer")
    backend = panel.locator(".oc-Backend-ok")
    expect(backend).to_be_visible(timeout=60_000)
    expect(backend.locator(".oc-Backend-title")).to_have_text("Local backend")
    expect(backend.locator(".oc-Backend-url")).to_have_text(local_server.url.rstrip("/"))
    assert local_server.key not in page.content()


def test_panel_follows_a_snapshot_from_building_to_ready_and_deletes_it(lab, page, local_server, sdk_config, artifacts):
    open_lab(page, lab)
    panel = open_panel(page)
    expect(panel.locator(".oc-Backend-ok")).to_be_visible(timeout=60_000)

    name = f"lab-panel-{uuid.uuid4().hex[:8]}"
    # A unique step, so the build really runs, and a sleep, so "building" lasts.
    image = Image.base().run_commands(f"sleep 8 && echo {name}")
    _create_snapshot_async(local_server, name, image)

    row = panel.locator(f'.oc-SnapshotRow[data-name="{name}"]')
    badge = row.locator(".oc-Badge")
    expect(badge).to_have_text("building", timeout=30_000)
    panel.screenshot(path=str(artifacts / "panel-snapshot-building.png"))

    expect(badge).to_have_text("ready", timeout=600_000)
    expect(row.locator(".oc-Row-meta code")).to_have_text(image.cache_key()[:12])
    expect(row.locator(".oc-Row-meta")).to_contain_text("used never")
    panel.screenshot(path=str(artifacts / "panel-snapshot-ready.png"))

    row.get_by_role("button", name=f"Delete snapshot {name}").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(name)
    page.screenshot(path=str(artifacts / "panel-delete-dialog.png"))
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=30_000)
    assert name not in [s.name for s in sync.run(Snapshots(config=sdk_config).list())]


def test_cancelling_the_confirmation_keeps_the_snapshot(lab, page, sdk_config):
    name = f"lab-keep-{uuid.uuid4().hex[:8]}"
    snaps = Snapshots(config=sdk_config)
    sync.run(snaps.create(name, Image.base().add_file("/workspace/keep.txt", name)))
    try:
        open_lab(page, lab)
        panel = open_panel(page)
        row = panel.locator(f'.oc-SnapshotRow[data-name="{name}"]')
        expect(row.locator(".oc-Badge")).to_have_text("ready", timeout=60_000)
        row.get_by_role("button", name=f"Delete snapshot {name}").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Cancel").click()
        expect(page.locator(".jp-Dialog")).to_have_count(0)
        expect(row).to_have_count(1)
        assert sync.run(snaps.get(name)).status == "ready"
    finally:
        sync.run(snaps.delete(name))


def test_panel_lists_a_sandbox_copies_its_id_and_kills_it(lab, browser, sdk_config, artifacts):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    page = context.new_page()
    sandbox = sync.run(Sandbox.create(image=Image.base(), config=sdk_config))
    try:
        open_lab(page, lab)
        panel = open_panel(page)
        row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
        expect(row).to_have_count(1, timeout=60_000)
        expect(row.locator(".oc-Badge")).to_have_text("running", timeout=15_000)
        expect(row.locator(".oc-Row-meta")).to_contain_text("from ")
        expect(row.locator(".oc-Row-meta")).to_contain_text("age ")
        panel.screenshot(path=str(artifacts / "panel-sandbox.png"))

        row.get_by_role("button", name=f"Copy id {sandbox.id}").click()
        expect(page.locator(".Toastify")).to_contain_text(f"Copied {sandbox.id}")
        assert page.evaluate("navigator.clipboard.readText()") == sandbox.id

        row.get_by_role("button", name=f"Kill sandbox {sandbox.id}").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Kill").click()
        expect(row).to_have_count(0, timeout=30_000)
        assert sandbox.id not in [s.sandbox_id for s in sync.run(Sandbox.list(config=sdk_config))]
    finally:
        context.close()
        try:
            sync.run(sandbox.kill())
        except Exception:
            pass  # already killed through the panel


def _set_theme(page, name: str) -> None:
    page.locator(".lm-MenuBar-item", has_text="Settings").click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.locator(".lm-Menu-item", has_text=name).first.click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", name)


def test_panel_shows_failed_builds_and_reads_well_in_both_themes(lab, page, sdk_config, artifacts):
    snaps = Snapshots(config=sdk_config)
    ready, failed = f"lab-ready-{uuid.uuid4().hex[:6]}", f"lab-failed-{uuid.uuid4().hex[:6]}"
    sync.run(snaps.create(ready, Image.base().add_file("/workspace/ok.txt", ready)))
    with pytest.raises(errors.BuildFailed):
        sync.run(snaps.create(failed, Image.base().run_commands(f"echo {failed} && exit 3")))
    sandbox = sync.run(Sandbox.create(snapshot=ready, config=sdk_config))
    try:
        open_lab(page, lab)
        panel = open_panel(page)
        failed_row = panel.locator(f'.oc-SnapshotRow[data-name="{failed}"]')
        expect(failed_row.locator(".oc-Badge")).to_have_text("failed", timeout=60_000)
        expect(failed_row.locator(".oc-Row-error")).to_contain_text("exit code 3")
        box = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
        expect(box.locator(".oc-Row-meta")).to_contain_text(f"from snapshot {ready}")
        panel.screenshot(path=str(artifacts / "panel-light.png"))
        _set_theme(page, "JupyterLab Dark")
        try:
            panel.screenshot(path=str(artifacts / "panel-dark.png"))
            background = panel.evaluate("el => getComputedStyle(el).backgroundColor")
            assert background != "rgb(255, 255, 255)"
        finally:
            _set_theme(page, "JupyterLab Light")
    finally:
        sync.run(sandbox.kill())
        for name in (ready, failed):
            try:
                sync.run(snaps.delete(name))
            except errors.SnapshotNotFound:
                pass


def test_panel_shows_a_hibernated_sandbox_and_wakes_it(lab_here, page, sdk_config, artifacts):
    sandbox = sync.run(Sandbox.create(image=Image.base(), config=sdk_config, memory_mb=512, cpu_count=1))
    try:
        sync.run(sandbox.hibernate())
        open_lab(page, lab_here)
        panel = open_panel(page)
        row = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"]')
        badge = row.locator(".oc-Badge")
        expect(badge).to_have_text("hibernated", timeout=60_000)
        expect(badge).to_have_class(re.compile(r"oc-Badge-hibernated"))
        expect(row.locator(".oc-Limits")).to_have_text(re.compile(r"^512 MB · 1 CPU · (no )?network$"))
        row.screenshot(path=str(artifacts / "panel-sandbox-hibernated.png"))
        row.get_by_role("button", name=f"Wake sandbox {sandbox.id}").click()
        expect(badge).to_have_text("running", timeout=60_000)
        expect(row.get_by_role("button", name=f"Wake sandbox {sandbox.id}")).to_have_count(0)
        assert sync.run(sandbox.info()).status == "running"
    finally:
        sync.run(sandbox.kill())


def test_panel_lists_exposed_ports_opens_one_through_jupyter_and_closes_it(lab_here, page, sdk_config, artifacts):
    sandbox = sync.run(Sandbox.create(image=Image.base(), config=sdk_config))
    try:
        sync.run(
            sandbox.exec.run(
                "mkdir -p /tmp/site && echo port-page-$HOSTNAME > /tmp/site/index.html && "
                "cd /tmp/site && (python3 -m http.server 8000 --bind 127.0.0.1 > /dev/null 2>&1 &)"
            )
        )
        sync.run(sandbox.create_preview_url(8000))
        open_lab(page, lab_here)
        panel = open_panel(page)
        port = panel.locator(f'.oc-SandboxRow[data-id="{sandbox.id}"] .oc-Port[data-port="8000"]')
        expect(port).to_have_count(1, timeout=60_000)
        port.locator("xpath=ancestor::li[contains(@class, 'oc-SandboxRow')]").screenshot(
            path=str(artifacts / "panel-sandbox-ports.png")
        )
        link = port.locator("a")
        assert link.get_attribute("href") == f"{lab_here.url}/oc-jupyter/proxy/{sandbox.id}/8000/"
        with page.context.expect_page() as opened:
            link.click()
        shown = opened.value
        for _ in range(50):  # the server in the sandbox may still be starting: reload until it answers
            if f"port-page-{sandbox.id}" in shown.content():
                break
            shown.wait_for_timeout(300)
            shown.reload()
        expect(shown.locator("body")).to_contain_text(f"port-page-{sandbox.id}")
        shown.close()
        port.get_by_role("button", name=f"Stop exposing port 8000 of {sandbox.id}").click()
        expect(port).to_have_count(0, timeout=30_000)
        assert sync.run(sandbox.list_preview_urls()) == []
    finally:
        sync.run(sandbox.kill())
