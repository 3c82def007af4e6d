"""Sandboxes as containers: create from the base template, list, get, kill, timeouts, labels, isolation."""

from __future__ import annotations

import asyncio
import json

from _support import apoll

from .conftest import container_of, containers, engine, stream_events


async def test_base_template_sandbox_has_what_the_seed_promises(api, made, local_server):
    response = await api.post(
        "/sandboxes",
        json={"templateID": "base", "timeout": 0, "envs": {"GREETING": "hi"}, "metadata": {"owner": "tests"}},
    )
    assert response.status_code == 201, response.text
    sandbox = response.json()
    made.append(sandbox["sandboxID"])
    assert sandbox["sandboxID"].startswith("sb-") and sandbox["status"] == "running"
    assert sandbox["templateID"] == "base" and sandbox["metadata"] == {"owner": "tests"}

    name = container_of(sandbox["sandboxID"])
    assert name in containers(
        f"oc-jupyter.sandbox={sandbox['sandboxID']}", f"oc-jupyter.instance={local_server.instance}"
    )
    probe = engine(
        "exec",
        name,
        "bash",
        "-lc",
        "pwd; echo $GREETING; python --version; node --version; command -v gcc curl git >/dev/null && echo tools"
        "; pip install --dry-run --no-deps --no-index six 2>&1 | grep -c externally-managed",
    )
    lines = probe.stdout.split("\n")
    assert lines[0] == "/workspace" and lines[1] == "hi"
    assert lines[2].startswith("Python 3.") and lines[3].startswith("v") and lines[4] == "tools"
    assert lines[5] == "0"


async def test_sandbox_has_no_host_folder_mounted(api, made):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    made.append(sandbox_id)
    mounts = json.loads(engine("inspect", "--format", "{{json .Mounts}}", container_of(sandbox_id)).stdout)
    assert mounts == [] or mounts is None


async def test_list_get_kill(api):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    listed = {s["sandboxID"]: s for s in (await api.get("/sandboxes")).json()}
    assert listed[sandbox_id]["status"] == "running"
    info = (await api.get(f"/sandboxes/{sandbox_id}")).json()
    assert info["sandboxID"] == sandbox_id and info["status"] == "running"
    assert (await api.delete(f"/sandboxes/{sandbox_id}")).status_code == 204
    assert containers(f"oc-jupyter.sandbox={sandbox_id}") == []
    missing = await api.get(f"/sandboxes/{sandbox_id}")
    assert missing.status_code == 404 and sandbox_id in missing.json()["error"]
    assert (await api.delete(f"/sandboxes/{sandbox_id}")).status_code == 404


async def test_idle_sandbox_is_hibernated_after_its_timeout(api, made):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 1})).json()["sandboxID"]
    made.append(sandbox_id)
    for _ in range(100):
        if (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "hibernated":
            break
        await asyncio.sleep(0.2)
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "hibernated"
    assert containers(f"oc-jupyter.sandbox={sandbox_id}") == [container_of(sandbox_id)]


async def test_timeout_can_be_changed_and_zero_keeps_it(api, made):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 1})).json()["sandboxID"]
    made.append(sandbox_id)
    assert (await api.post(f"/sandboxes/{sandbox_id}/timeout", json={"timeout": 0})).status_code == 204
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["timeout"] == 0
    # A sandbox with the old timeout, made later, hibernating shows a reaper pass went past the old deadline.
    witness = (await api.post("/sandboxes", json={"timeout": 1})).json()["sandboxID"]
    made.append(witness)

    async def witness_hibernated() -> bool:
        return (await api.get(f"/sandboxes/{witness}")).json()["status"] == "hibernated"

    await apoll(witness_hibernated, what=f"the idle timeout hibernating {witness}")
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "running"


async def test_sandbox_stopped_outside_is_reported(api):
    sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    engine("rm", "-f", "-t", "0", container_of(sandbox_id))
    assert (await api.get(f"/sandboxes/{sandbox_id}")).json()["status"] == "stopped"
    ran = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "true"})
    assert ran.status_code == 404
    assert "outside oc_jupyter" in ran.json()["error"]
    assert (await api.delete(f"/sandboxes/{sandbox_id}")).status_code == 204


async def test_streamed_create_from_template_ends_with_result(api, made):
    status, events = await stream_events(api, "POST", "/sandboxes", {"timeout": 0})
    assert status == 200 and events[-1].event == "result"
    made.append(events[-1].data["sandboxID"])


async def test_unknown_template_is_404(api):
    response = await api.post("/sandboxes", json={"templateID": "ubuntu-gpu"})
    assert response.status_code == 404
    assert "'ubuntu-gpu'" in response.json()["error"] and "'base'" in response.json()["error"]


async def test_builds_and_sandboxes_do_not_reach_the_hosts_loopback(api, made, local_server):
    port = local_server.url.rsplit(":", 1)[1]
    probe = f"curl -s -m 3 http://127.0.0.1:{port}/health && echo reached || echo isolated"
    response = await api.post(
        "/sandboxes",
        json={
            "image": {
                "base": "base",
                "steps": [{"type": "run", "args": {"commands": [f": {port}-{id(api)}", f"({probe}) > /build-probe"]}}],
            },
            "timeout": 0,
        },
    )
    assert response.status_code == 201, response.text
    made.append(response.json()["sandboxID"])
    name = container_of(response.json()["sandboxID"])
    assert engine("exec", name, "cat", "/build-probe").stdout.strip() == "isolated"
    assert engine("exec", name, "sh", "-c", probe).stdout.strip() == "isolated"
