"""A backend that cannot be reached, for real: a cloud URL on a closed loopback port."""

from __future__ import annotations

import httpx

from .conftest import open_lab, open_panel


def test_backend_route_says_unreachable_without_the_key(unreachable_lab):
    response = httpx.get(unreachable_lab.api("backend"), headers=unreachable_lab.auth, timeout=120)
    assert response.status_code == 200
    reply = response.json()
    assert reply["kind"] == "local"  # a loopback URL counts as a local server
    assert reply["reachable"] is False
    assert reply["message"]
    assert unreachable_lab.api_key not in response.text


def test_list_routes_answer_503_with_a_message(unreachable_lab):
    for path in ("snapshots", "sandboxes"):
        response = httpx.get(unreachable_lab.api(path), headers=unreachable_lab.auth, timeout=120)
        assert response.status_code == 503, response.text
        assert response.json()["message"]
        assert unreachable_lab.api_key not in response.text


def test_panel_shows_the_problem_and_a_retry(unreachable_lab, page, artifacts):
    open_lab(page, unreachable_lab)
    panel = open_panel(page)
    retry = panel.get_by_role("button", name="Retry")
    retry.wait_for(state="visible", timeout=120_000)
    assert panel.locator(".oc-Backend-down .oc-Backend-message").inner_text().strip()
    panel.screenshot(path=str(artifacts / "panel-unreachable.png"))
    # Lists from a backend that cannot answer would be stale: none are shown.
    assert panel.locator(".oc-Section").count() == 0
    with page.expect_request(lambda r: "/oc-jupyter/backend" in r.url, timeout=10_000):
        retry.click()
    panel.get_by_role("button", name="Retry").wait_for(state="visible", timeout=120_000)
