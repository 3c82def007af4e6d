"""The server extension's routes over real HTTP on a real Jupyter server.

Every route needs Jupyter's auth, a cookie-authenticated DELETE needs the
XSRF token, and no reply ever carries the backend's API key.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from oc_jupyter.sdk import Image, Snapshots, sync

ROUTES = [
    ("GET", "backend"),
    ("GET", "snapshots"),
    ("DELETE", "snapshots/any-name"),
    ("GET", "sandboxes"),
    ("DELETE", "sandboxes/sb-any"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_request_without_auth(lab, method, path):
    response = httpx.request(method, lab.api(path))
    assert response.status_code in (401, 403), response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_wrong_token(lab, method, path):
    response = httpx.request(method, lab.api(path), headers={"Authorization": "token not-the-token"})
    assert response.status_code in (401, 403), response.text


def _logged_in(lab) -> httpx.Client:
    """A client holding the login and XSRF cookies a browser gets, and no token."""
    client = httpx.Client(follow_redirects=True)
    client.get(f"{lab.url}/lab", params={"token": lab.token})
    assert "_xsrf" in client.cookies
    return client


@pytest.mark.parametrize("path", ["snapshots/any-name", "sandboxes/sb-any"])
def test_a_cookie_delete_without_the_xsrf_token_is_refused(lab, path):
    client = _logged_in(lab)
    try:
        refused = client.delete(lab.api(path))
        assert refused.status_code == 403, refused.text
        # The same request with the token the cookie holds reaches the handler.
        allowed = client.delete(lab.api(path), headers={"X-XSRFToken": client.cookies["_xsrf"]}, timeout=60)
        assert allowed.status_code == 404, allowed.text
    finally:
        client.close()


def test_backend_reports_the_local_server(lab, local_server):
    response = httpx.get(lab.api("backend"), headers=lab.auth, timeout=60)
    assert response.json() == {
        "kind": "local",
        "url": local_server.url.rstrip("/"),
        "reachable": True,
        "message": "Connected to the local backend.",
    }


def test_snapshots_route_lists_a_snapshot_without_its_manifest(lab, sdk_config, local_server):
    name = f"lab-route-{uuid.uuid4().hex[:8]}"
    snaps = Snapshots(config=sdk_config)
    sync.run(snaps.create(name, Image.base().add_file("/workspace/marker.txt", name)))
    try:
        response = httpx.get(lab.api("snapshots"), headers=lab.auth, timeout=60)
        assert response.status_code == 200
        listed = {s["name"]: s for s in response.json()["snapshots"]}
        assert listed[name]["status"] == "ready"
        assert len(listed[name]["contentHash"]) == 64
        assert set(listed[name]) == {"name", "status", "contentHash", "createdAt", "lastUsedAt", "error"}
        assert "marker.txt" not in response.text
        assert local_server.key not in response.text
    finally:
        sync.run(snaps.delete(name))


def test_delete_snapshot_removes_it(lab, sdk_config):
    name = f"lab-delete-{uuid.uuid4().hex[:8]}"
    snaps = Snapshots(config=sdk_config)
    sync.run(snaps.create(name, Image.base().add_file("/workspace/x.txt", name)))
    response = httpx.delete(lab.api(f"snapshots/{name}"), headers=lab.auth, timeout=60)
    assert response.status_code == 204
    assert name not in [s.name for s in sync.run(snaps.list())]


def test_unknown_names_are_a_404_with_a_message(lab):
    snapshot = httpx.delete(lab.api("snapshots/no-such-snapshot"), headers=lab.auth, timeout=60)
    assert snapshot.status_code == 404
    assert "no-such-snapshot" in snapshot.json()["message"]
    sandbox = httpx.delete(lab.api("sandboxes/sb-no-such"), headers=lab.auth, timeout=60)
    assert sandbox.status_code == 404
    assert "sb-no-such" in sandbox.json()["message"]


def test_no_reply_carries_the_api_key(lab, local_server):
    for path in ("backend", "snapshots", "sandboxes"):
        response = httpx.get(lab.api(path), headers=lab.auth, timeout=60)
        assert response.status_code == 200
        assert local_server.key not in response.text
