"""Layer images beyond OC_JUPYTER_CACHE_MAX_GB are evicted, least recently used first, never what is needed."""

from __future__ import annotations

from .cacheenv import isolated_cache, layer_tags
from .conftest import (
    container_of,
    engine,
    in_container,
    manifest,
    nonce,
    private_server,
    run_step,
    stream_events,
)

BUDGET_GB = 0.3
BLOB_MB = 40


def _recipe() -> dict:
    """One step writing BLOB_MB of its own bytes: a layer of that size no other recipe shares."""
    return manifest(run_step(f"head -c {BLOB_MB}M /dev/urandom > /blob-{nonce()}"))


def _own_sizes(repository: str, base: str) -> int:
    """What the repository's one-step layers add to the engine: each image's size above the base's."""
    tags = layer_tags(repository)
    if not tags:
        return 0
    sizes = engine("image", "inspect", "--format", "{{.Size}}", *tags).stdout.split()
    base_size = int(engine("image", "inspect", "--format", "{{.Size}}", base).stdout.strip())
    return sum(int(size) - base_size for size in sizes)


async def test_layers_stay_within_the_budget_keeping_snapshots_sandboxes_and_the_newest(tmp_path, base_image):
    with isolated_cache() as env, private_server(tmp_path, OC_JUPYTER_CACHE_MAX_GB=str(BUDGET_GB), **env) as server:
        repository = env["OC_JUPYTER_LAYER_REPOSITORY"]
        async with server.client() as client:
            snapshot = f"kept-{nonce()}"
            kept = _recipe()
            assert (await client.post("/snapshots", json={"name": snapshot, "image": kept})).status_code == 201
            running = await client.post("/sandboxes", json={"image": _recipe(), "timeout": 0})
            assert running.status_code == 201, running.text
            sandbox = running.json()
            hashes = [sandbox["contentHash"]]
            for _ in range(8):
                status, events = await stream_events(
                    client, "POST", "/snapshots", {"name": f"s-{nonce()}", "image": _recipe()}
                )
                assert status == 200 and events[-1].event == "result", events[-1].data
                hashes.append(events[-1].data["contentHash"])
                # Only the snapshot named above is kept: the others are deleted, so their layers are evictable.
                assert (await client.delete(f"/snapshots/{events[-1].data['name']}")).status_code == 204
            # Waits for the evictions the builds started, then prunes to the budget once more.
            pruned = await client.post("/x-oc-jupyter/v1/cache/prune")
            assert pruned.status_code == 200, pruned.text
            listing = (await client.get("/x-oc-jupyter/v1/cache")).json()

            tags = set(layer_tags(repository))
            assert _own_sizes(repository, base_image) <= BUDGET_GB * 1e9
            assert listing["totalBytes"] <= BUDGET_GB * 1e9 and listing["budgetBytes"] == int(BUDGET_GB * 1e9)
            assert f"{repository}:{hashes[-1]}" in tags, "the newest layer was evicted"
            assert any(f"{repository}:{h}" not in tags for h in hashes[1:-1]), "nothing was evicted"
            needs = {layer["image"]: layer["needed"] for layer in listing["layers"]}
            assert needs[f"{repository}:{sandbox['contentHash']}"] == f"sandbox {sandbox['sandboxID']}"
            assert needs[f"{repository}:{hashes[-1]}"] is None

            # The running sandbox's image is still there and the sandbox works.
            assert f"{repository}:{sandbox['contentHash']}" in tags
            assert in_container(container_of(sandbox["sandboxID"]), "ls / | grep -c blob-").stdout.strip() == "1"

            # The snapshot starts a sandbox straight from its image: no step runs.
            status, events = await stream_events(client, "POST", "/sandboxes", {"snapshot": snapshot, "timeout": 0})
            assert status == 200 and events[-1].event == "result", events[-1].data
            assert not [e for e in events if e.event == "build_log" and e.data.get("phase") == "start"]
            started = events[-1].data["sandboxID"]
            assert in_container(container_of(started), "ls / | grep -c blob-").stdout.strip() == "1"

            # Pruning everything keeps exactly what is needed.
            everything = (await client.post("/x-oc-jupyter/v1/cache/prune", json={"all": True})).json()
            assert everything["removed"], everything
            left = set(layer_tags(repository))
            assert {f"{repository}:{kept_hash}" for kept_hash in (sandbox["contentHash"],)} <= left
            needed_now = {layer["image"] for layer in (await client.get("/x-oc-jupyter/v1/cache")).json()["layers"]}
            assert left == needed_now
            assert all(layer["needed"] for layer in (await client.get("/x-oc-jupyter/v1/cache")).json()["layers"])

        shown = server.cli("cache", "list")
        assert shown.returncode == 0, shown.stderr
        assert "budget (OC_JUPYTER_CACHE_MAX_GB)" in shown.stdout and "needed by snapshot " + snapshot in shown.stdout


def test_a_bad_budget_is_one_sentence_naming_the_value(tmp_path):
    with isolated_cache() as env, private_server(tmp_path, OC_JUPYTER_CACHE_MAX_GB="lots", **env) as server:
        shown = server.cli("cache", "list")
        assert shown.returncode != 0
        assert "OC_JUPYTER_CACHE_MAX_GB must be a number of gigabytes (0 or more), not 'lots'" in shown.stderr
