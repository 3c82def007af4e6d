"""Named snapshots over real HTTP: the three create shapes, list/get/delete, names taken, use by sandboxes."""

from __future__ import annotations

import asyncio

from oc_jupyter.sdk.hashing import content_hash

from .conftest import container_of, in_container, manifest, nonce, run_step, stream_events

SNAPSHOT_FIELDS = {"id", "name", "status", "contentHash", "checkpointId", "manifest", "createdAt", "lastUsedAt"}


def _hash(m: dict) -> str:
    return content_hash(m["base"], [(s["type"], s["args"]) for s in m["steps"]])


async def _wait_ready(api, name: str) -> dict:
    for _ in range(600):
        info = (await api.get(f"/snapshots/{name}")).json()
        if info["status"] != "building":
            return info
        await asyncio.sleep(0.2)
    raise AssertionError(f"snapshot {name} still building")


async def test_blocking_create_returns_the_ready_snapshot(api):
    name, image = f"blocking-{nonce()}", manifest(run_step(f"echo {nonce()} > /blocking"))
    response = await api.post("/snapshots", json={"name": name, "image": image})
    assert response.status_code == 201, response.text
    info = response.json()
    assert info.keys() >= SNAPSHOT_FIELDS
    assert (info["name"], info["status"], info["contentHash"]) == (name, "ready", _hash(image))
    assert info["manifest"] == image


async def test_async_create_answers_202_then_becomes_ready(api):
    name, image = f"async-{nonce()}", manifest(run_step(f"echo {nonce()}", "sleep 1"))
    response = await api.post("/snapshots", params={"async": "1"}, json={"name": name, "image": image})
    assert response.status_code == 202
    assert response.json()["status"] == "building"
    info = await _wait_ready(api, name)
    assert info["status"] == "ready" and info["contentHash"] == _hash(image)


async def test_streamed_create_sends_build_logs_then_the_result(api):
    name, image = f"sse-{nonce()}", manifest(run_step(f"echo streamed-{nonce()}"))
    status, events = await stream_events(api, "POST", "/snapshots", {"name": name, "image": image})
    assert status == 200
    assert [e.event for e in events][-1] == "result"
    assert any(e.data.get("message", "").startswith("Step 1/1: run echo streamed-") for e in events[:-1])
    assert events[-1].data["status"] == "ready"
    assert events[-1].data["name"] == name


async def test_list_get_delete(api):
    name = f"listed-{nonce()}"
    assert (await api.post("/snapshots", json={"name": name, "image": manifest()})).status_code == 201
    assert name in [s["name"] for s in (await api.get("/snapshots")).json()]
    assert (await api.get(f"/snapshots/{name}")).json()["name"] == name
    assert (await api.delete(f"/snapshots/{name}")).status_code == 204
    missing = await api.get(f"/snapshots/{name}")
    assert missing.status_code == 404
    assert name in missing.json()["error"]
    assert name not in [s["name"] for s in (await api.get("/snapshots")).json()]
    assert (await api.delete(f"/snapshots/{name}")).status_code == 404


async def test_taken_name_is_409_and_keeps_the_first(api):
    name = f"taken-{nonce()}"
    first = manifest(run_step(f"echo {nonce()}"))
    assert (await api.post("/snapshots", json={"name": name, "image": first})).status_code == 201
    again = await api.post("/snapshots", json={"name": name, "image": manifest()})
    assert again.status_code == 409
    assert f"{name!r} is taken" in again.json()["error"]
    assert (await api.get(f"/snapshots/{name}")).json()["contentHash"] == _hash(first)


async def test_sandbox_from_snapshot_sees_marker_file_and_env_through_login_shell(api, made):
    name, marker = f"marked-{nonce()}", nonce()
    image = manifest(
        run_step(f"echo {marker} > /workspace/marker.txt"),
        {"type": "env", "args": {"vars": {"COURSE": 'intro <&> "quoted" $HOME'}}},
    )
    assert (await api.post("/snapshots", json={"name": name, "image": image})).status_code == 201
    response = await api.post("/sandboxes", json={"snapshot": name, "timeout": 0})
    assert response.status_code == 201, response.text
    sandbox = response.json()
    made.append(sandbox["sandboxID"])
    assert (sandbox["snapshot"], sandbox["status"]) == (name, "running")
    ran = await api.post(
        f"/sandboxes/{sandbox['sandboxID']}/exec/run",
        json={"cmd": "bash", "args": ["-lc", 'cat /workspace/marker.txt; echo "$COURSE"']},
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["stdout"].splitlines() == [marker, 'intro <&> "quoted" $HOME']
    assert (await api.get(f"/snapshots/{name}")).json()["lastUsedAt"] is not None


async def test_deleting_a_snapshot_leaves_its_sandboxes_running(api, made):
    name = f"doomed-{nonce()}"
    assert (
        await api.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}"))})
    ).status_code == 201
    sandbox_id = (await api.post("/sandboxes", json={"snapshot": name, "timeout": 0})).json()["sandboxID"]
    made.append(sandbox_id)
    assert (await api.delete(f"/snapshots/{name}")).status_code == 204
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"
    assert in_container(container_of(sandbox_id), "echo alive").stdout.strip() == "alive"


async def test_sandbox_from_a_snapshot_still_building_is_refused_naming_its_status(api):
    name = f"slow-{nonce()}"
    response = await api.post(
        "/snapshots",
        params={"async": "1"},
        json={"name": name, "image": manifest(run_step(f"echo {nonce()}", "sleep 3"))},
    )
    assert response.status_code == 202
    refused = await api.post("/sandboxes", json={"snapshot": name})
    assert refused.status_code == 409
    assert f"Snapshot {name!r} is building" in refused.json()["error"]
    await _wait_ready(api, name)


async def test_failed_snapshot_says_why_and_its_name_can_be_reused(api):
    name = f"broken-{nonce()}"
    failed = await api.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}; exit 4"))})
    assert failed.status_code == 400
    info = (await api.get(f"/snapshots/{name}")).json()
    assert info["status"] == "failed" and "exit code 4" in info["error"]
    refused = await api.post("/sandboxes", json={"snapshot": name})
    assert refused.status_code == 409 and "failed" in refused.json()["error"]
    retried = await api.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}"))})
    assert retried.status_code == 201 and retried.json()["status"] == "ready"


async def test_build_goes_on_when_the_stream_is_dropped(api):
    name = f"dropped-{nonce()}"
    body = {"name": name, "image": manifest(run_step(f"echo {nonce()}", "sleep 2", "echo finished"))}
    async with api.stream("POST", "/snapshots", json=body, headers={"Accept": "text/event-stream"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:") and "Step 1/1" in line:
                break  # leave mid-build: the connection closes here
    info = await _wait_ready(api, name)
    assert info["status"] == "ready"
