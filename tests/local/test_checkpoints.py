"""Disk checkpoints on the real server and podman: create, list, fork, restore in place, delete, refusals."""

from __future__ import annotations

import pytest

from .conftest import engine

REPOSITORY = "localhost/oc-jupyter/checkpoint"


def image_exists(ref: str) -> bool:
    return engine("image", "exists", ref).returncode == 0


def image_of(checkpoint: dict) -> str:
    return f"{REPOSITORY}:{checkpoint['id']}"


async def run(api, sandbox_id: str, command: str) -> dict:
    response = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "bash", "args": ["-c", command]})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def sandbox(api):
    """A sandbox and, after the test, its checkpoint images (which killing it removes)."""
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0, "envs": {"ORIGIN": "source"}})).json()["sandboxID"]
    yield sandbox_id
    await api.delete(f"/sandboxes/{sandbox_id}")


async def test_checkpoint_fork_restore_delete(api, sandbox):
    await run(api, sandbox, "echo v1 > /workspace/state")
    created = await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "first", "kind": "disk_only"})
    assert created.status_code == 201, created.text
    checkpoint = created.json()
    assert set(checkpoint) == {"id", "sandboxId", "name", "kind", "status", "sizeBytes", "createdAt"}
    assert checkpoint["sandboxId"] == sandbox and checkpoint["name"] == "first"
    assert checkpoint["kind"] == "disk_only" and checkpoint["status"] == "ready" and checkpoint["sizeBytes"] > 0
    assert image_exists(image_of(checkpoint))
    listed = (await api.get(f"/sandboxes/{sandbox}/checkpoints")).json()
    assert [c["id"] for c in listed] == [checkpoint["id"]]

    # A fork sees the file and the source's variables, under its own id.
    forked = await api.post(
        f"/sandboxes/from-checkpoint/{checkpoint['id']}", json={"timeout": 0, "envs": {"EXTRA": "x"}}
    )
    assert forked.status_code == 201, forked.text
    fork_id = forked.json()["sandboxID"]
    try:
        assert fork_id != sandbox and forked.json()["status"] == "running"
        seen = await run(api, fork_id, "cat /workspace/state; echo $ORIGIN $EXTRA; hostname")
        assert seen["stdout"] == f"v1\nsource x\n{fork_id}\n"

        # Restore in place: what was written after the checkpoint is gone, the id stays.
        await run(api, sandbox, "echo v2 > /workspace/state; echo later > /workspace/after")
        restored = await api.post(f"/sandboxes/{sandbox}/checkpoints/{checkpoint['id']}/restore")
        assert restored.status_code == 200, restored.text
        assert restored.json()["sandboxID"] == sandbox
        after = await run(
            api, sandbox, "cat /workspace/state; ls /workspace/after 2>&1 >/dev/null | wc -l; echo $ORIGIN"
        )
        assert after["stdout"] == "v1\n1\nsource\n"

        # Deleted: the record goes; the image stays while the fork and the restored sandbox run from it.
        assert (await api.delete(f"/sandboxes/{sandbox}/checkpoints/{checkpoint['id']}")).status_code == 204
        assert (await api.get(f"/sandboxes/{sandbox}/checkpoints")).json() == []
        assert image_exists(image_of(checkpoint))
    finally:
        await api.delete(f"/sandboxes/{fork_id}")
    await api.delete(f"/sandboxes/{sandbox}")
    assert not image_exists(image_of(checkpoint))


async def test_deleting_an_unused_checkpoint_removes_its_image(api, sandbox):
    checkpoint = (await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "tmp"})).json()
    assert checkpoint["kind"] == "disk_only" and image_exists(image_of(checkpoint))
    assert (await api.delete(f"/sandboxes/{sandbox}/checkpoints/{checkpoint['id']}")).status_code == 204
    assert not image_exists(image_of(checkpoint))
    again = await api.delete(f"/sandboxes/{sandbox}/checkpoints/{checkpoint['id']}")
    assert again.status_code == 404 and checkpoint["id"] in again.json()["error"]


async def test_killing_a_sandbox_removes_its_checkpoint_images(api):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    checkpoint = (await api.post(f"/sandboxes/{sandbox_id}/checkpoints", json={"name": "a"})).json()
    assert image_exists(image_of(checkpoint))
    assert (await api.delete(f"/sandboxes/{sandbox_id}")).status_code == 204
    assert not image_exists(image_of(checkpoint))


async def test_full_checkpoints_are_refused_in_one_sentence(api, sandbox):
    refused = await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "mem", "kind": "full"})
    assert refused.status_code == 501
    assert refused.json()["error"] == (
        "Memory checkpoints (kind 'full') need CRIU, which is unavailable on this host; "
        "use kind='disk_only' to save the sandbox's files."
    )
    assert (await api.get(f"/sandboxes/{sandbox}/checkpoints")).json() == []


async def test_a_checkpoint_name_is_unique_per_sandbox(api, sandbox):
    first = (await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "same"})).json()
    second = await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "same"})
    assert second.status_code == 409 and "'same'" in second.json()["error"]
    assert [c["id"] for c in (await api.get(f"/sandboxes/{sandbox}/checkpoints")).json()] == [first["id"]]


async def test_checkpointing_a_hibernated_sandbox_wakes_it(api, sandbox):
    await run(api, sandbox, "echo z > /workspace/z")
    await api.post(f"/sandboxes/{sandbox}/hibernate")
    checkpoint = await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "while-asleep"})
    assert checkpoint.status_code == 201, checkpoint.text
    assert (await api.get(f"/sandboxes/{sandbox}")).json()["status"] == "running"


async def test_unknown_checkpoints_are_404(api, sandbox):
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (
        ("POST", f"/sandboxes/{sandbox}/checkpoints/{missing}/restore"),
        ("DELETE", f"/sandboxes/{sandbox}/checkpoints/{missing}"),
        ("POST", f"/sandboxes/from-checkpoint/{missing}"),
    ):
        answer = await api.request(method, path)
        assert answer.status_code == 404 and missing in answer.json()["error"], (path, answer.text)


async def test_a_fork_with_a_secret_store_is_refused_in_one_sentence(api, sandbox):
    checkpoint = (await api.post(f"/sandboxes/{sandbox}/checkpoints", json={"name": "s"})).json()
    refused = await api.post(f"/sandboxes/from-checkpoint/{checkpoint['id']}", json={"secretStore": "prod"})
    assert refused.status_code == 501
    assert refused.json()["error"].startswith("Secret stores are an OpenComputer cloud feature")
    bad_env = await api.post(f"/sandboxes/from-checkpoint/{checkpoint['id']}", json={"envs": {"1X": "y"}})
    assert bad_env.status_code == 400 and "'1X'" in bad_env.json()["error"]
