"""The cloud-only features OpenComputer's SDK reaches answer 501 with one sentence on the local server."""

from __future__ import annotations

import pytest

from oc_jupyter.local.routes.cloud_only import FEATURES
from oc_jupyter.sdk import NotSupported, Sandbox

CALLS = [
    ("POST", "/secret-stores", "Secret stores"),
    ("PUT", "/secret-stores/st-1/secrets/OPENAI_API_KEY", "Secret stores"),
    ("GET", "/sandboxes/sb-x/allowed-hosts", "Secret stores"),
    ("POST", "/sandboxes/sb-x/mounts", "Mounting remote storage"),
    ("DELETE", "/sandboxes/sb-x/mounts?path=/mnt", "Mounting remote storage"),
    ("POST", "/sandboxes/checkpoints/cp-1/patches", "Checkpoint patches"),
    ("DELETE", "/sandboxes/checkpoints/cp-1/patches/p-1", "Checkpoint patches"),
    ("PUT", "/sandboxes/sb-x/autoscale", "Autoscale"),
    ("GET", "/sandboxes/sb-x/scaling-lock", "The scaling lock"),
    ("GET", "/tags", "Tagging"),
    ("PUT", "/sandboxes/sb-x/tags", "Tagging"),
    ("GET", "/usage?groupBy=sandbox", "Usage reporting"),
    ("GET", "/sandboxes/sb-x/usage", "Usage reporting"),
    ("POST", "/webhooks", "Webhooks"),
    ("POST", "/sandboxes/sb-x/agent", "Running agent sessions"),
    ("POST", "/sandboxes/sb-x/agent/ag-1/kill", "Running agent sessions"),
    ("POST", "/v1/browsers", "Hosted browsers"),
    ("GET", "/v1/profiles", "Hosted browsers"),
    ("POST", "/sandboxes/sb-x/publish", "Publishing"),
]


def test_every_feature_is_exercised():
    assert {feature for _, _, feature in CALLS} == set(FEATURES)


@pytest.mark.parametrize(("method", "path", "feature"), CALLS)
async def test_a_cloud_only_route_answers_501_naming_the_feature(api, method, path, feature):
    response = await api.request(method, path, json={} if method in ("POST", "PUT") else None)
    assert response.status_code == 501
    error = response.json()["error"]
    assert error.startswith(feature) and "OpenComputer cloud" in error and error.count(". ") == 0


async def test_a_cloud_only_route_still_needs_the_key(local_server):
    import httpx

    async with httpx.AsyncClient(base_url=local_server.url + "/api") as anonymous:
        assert (await anonymous.get("/tags")).status_code == 401


async def test_the_sdk_raises_not_supported_with_the_sentence(sdk_config):
    sandbox = Sandbox("sb-x", sdk_config)  # the answer does not depend on the sandbox
    for call in (
        sandbox.get_autoscale(),
        sandbox.set_scaling_lock(True),
        sandbox.get_allowed_hosts(),
        sandbox.set_autoscale(True, min_memory_mb=1024, max_memory_mb=4096),
        sandbox.get_scaling_lock(),
        Sandbox.create_checkpoint_patch("cp-1", "echo hi", config=sdk_config),
        Sandbox.list_checkpoint_patches("cp-1", config=sdk_config),
    ):
        with pytest.raises(NotSupported, match="OpenComputer cloud"):
            await call


async def test_a_create_naming_a_secret_store_is_refused_before_anything_starts(api, sdk_config):
    before = (await api.get("/sandboxes")).json()
    response = await api.post("/sandboxes", json={"templateID": "base", "secretStore": "prod-keys"})
    assert response.status_code == 501
    assert response.json()["error"].startswith("Secret stores are an OpenComputer cloud feature")
    assert (await api.get("/sandboxes")).json() == before
    with pytest.raises(NotSupported, match="Secret stores"):
        await Sandbox.create(secret_store="prod-keys", config=sdk_config)
