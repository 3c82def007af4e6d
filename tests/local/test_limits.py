"""Limits through the real server and engine: memory, CPUs, processes, network, disk floor, build steps."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

from oc_jupyter.local.limits import host_cores, host_memory_mb, sandbox_defaults

from .conftest import container_of, containers, engine, manifest, nonce, private_server, run_step, stream_events

MB = 1024 * 1024


def _host_config(sandbox_id: str) -> dict:
    return json.loads(engine("inspect", "--format", "{{json .HostConfig}}", container_of(sandbox_id)).stdout)


async def _run(api, sandbox_id: str, script: str) -> dict:
    response = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "sh", "args": ["-c", script]})
    assert response.status_code == 200, response.text
    return response.json()


async def test_requested_limits_are_enforced_and_shown(api, made):
    response = await api.post("/sandboxes", json={"timeout": 0, "memoryMB": 160, "cpuCount": 1})
    assert response.status_code == 201, response.text
    created = response.json()
    made.append(created["sandboxID"])
    assert (created["memoryMB"], created["cpuCount"], created["networkEnabled"]) == (160, 1, True)

    config = _host_config(created["sandboxID"])
    assert config["Memory"] == 160 * MB and config["MemorySwap"] == 160 * MB
    assert config["NanoCpus"] == 1_000_000_000 and config["PidsLimit"] == 1024

    info = (await api.get(f"/sandboxes/{created['sandboxID']}")).json()
    assert (info["memoryMB"], info["cpuCount"], info["networkEnabled"]) == (160, 1, True)
    listed = {s["sandboxID"]: s for s in (await api.get("/sandboxes")).json()}
    assert listed[created["sandboxID"]]["memoryMB"] == 160


async def test_a_sandbox_without_limits_gets_the_host_derived_defaults(api, made):
    defaults = sandbox_defaults()
    assert defaults.memory_mb == min(4096, host_memory_mb() // 2)
    assert defaults.cpus == max(1, -(-host_cores() // 2))
    # Twice: the second create is served by the warm pool, whose containers carry the defaults too.
    for _ in range(2):
        created = (await api.post("/sandboxes", json={"timeout": 0})).json()
        made.append(created["sandboxID"])
        assert (created["memoryMB"], created["cpuCount"]) == (defaults.memory_mb, defaults.cpus)
        config = _host_config(created["sandboxID"])
        assert config["Memory"] == defaults.memory_mb * MB and config["PidsLimit"] == 1024


async def test_custom_limits_never_get_a_warm_container_with_other_limits(api, made):
    warmed = (await api.post("/sandboxes", json={"timeout": 0})).json()
    made.append(warmed["sandboxID"])
    custom = (await api.post("/sandboxes", json={"timeout": 0, "memoryMB": 192})).json()
    made.append(custom["sandboxID"])
    assert _host_config(custom["sandboxID"])["Memory"] == 192 * MB
    limit = await _run(
        api,
        custom["sandboxID"],
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null",
    )
    assert limit["stdout"].split()[0] == str(192 * MB)


async def test_nonsense_limits_are_refused_and_leave_nothing(api, local_server):
    before = containers(f"oc-jupyter.instance={local_server.instance}", "oc-jupyter.sandbox")
    cases = {
        "memoryMB": (32, "memoryMB 32 MB is out of range; ask for between 64 MB"),
        "cpuCount": (host_cores() + 1, f"cpuCount {host_cores() + 1} is out of range; ask for between 1 and"),
    }
    for field, (value, sentence) in cases.items():
        response = await api.post("/sandboxes", json={"timeout": 0, field: value})
        assert response.status_code == 400 and response.json()["error"].startswith(sentence), response.text
    too_much = await api.post("/sandboxes", json={"timeout": 0, "memoryMB": host_memory_mb() + 1})
    assert too_much.status_code == 400 and f"this host's {host_memory_mb()} MB of RAM" in too_much.json()["error"]
    zero = await api.post("/sandboxes", json={"timeout": 0, "cpuCount": 0})
    assert zero.status_code == 400 and "cpuCount 0 is out of range" in zero.json()["error"]
    builder = await api.post(
        "/sandboxes", json={"timeout": 0, "image": {**manifest(run_step("true")), "builderMemoryMB": 8}}
    )
    assert builder.status_code == 400 and "builderMemoryMB 8 MB is out of range" in builder.json()["error"]
    assert containers(f"oc-jupyter.instance={local_server.instance}", "oc-jupyter.sandbox") == before


async def test_network_off_on_request(api, made):
    created = (await api.post("/sandboxes", json={"timeout": 0, "networkEnabled": False})).json()
    made.append(created["sandboxID"])
    assert created["networkEnabled"] is False
    mode = engine("inspect", "--format", "{{.HostConfig.NetworkMode}}", container_of(created["sandboxID"])).stdout
    assert mode.strip() == "none"
    # Only the loopback interface exists: no route out at all.
    interfaces = await _run(api, created["sandboxID"], "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
    assert interfaces["stdout"].split() == ["lo"]
    assert (await api.get(f"/sandboxes/{created['sandboxID']}")).json()["networkEnabled"] is False
    refused = await api.post("/sandboxes", json={"timeout": 0, "networkEnabled": "no"})
    assert refused.status_code == 400 and "networkEnabled" in refused.json()["error"]


async def test_disk_use_is_reported(api, made):
    created = (await api.post("/sandboxes", json={"timeout": 0})).json()
    made.append(created["sandboxID"])
    usage = f"/sandboxes/{created['sandboxID']}?usage=true"
    assert (await api.get(usage)).json()["diskUsedMB"] < 5
    wrote = await _run(api, created["sandboxID"], "head -c 30000000 /dev/urandom > /workspace/blob && sync")
    assert wrote["exitCode"] == 0, wrote
    assert (await api.get(usage)).json()["diskUsedMB"] >= 28
    # Measuring takes the engine a moment, so a plain GET leaves it out.
    assert (await api.get(f"/sandboxes/{created['sandboxID']}")).json()["diskUsedMB"] is None


async def test_envs_of_a_cold_start_reach_the_container_without_its_command_line(api, made):
    envs = {"PLAIN": "a b c", "MULTI": "line1\nline2"}
    created = (await api.post("/sandboxes", json={"timeout": 0, "memoryMB": 200, "envs": envs})).json()
    made.append(created["sandboxID"])
    name = container_of(created["sandboxID"])
    assert engine("exec", name, "printenv", "PLAIN").stdout == "a b c\n"
    # The engine's own record of the container holds the env-file's variables, not a path to it.
    args = json.loads(engine("inspect", "--format", "{{json .Config.Env}}", name).stdout)
    assert "PLAIN=a b c" in args
    seen = await _run(api, created["sandboxID"], 'printf "%s|%s" "$PLAIN" "$MULTI"')
    assert seen["stdout"] == "a b c|line1\nline2"
    # The env file lived only while the engine read it.
    assert [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("oc-env-")] == []


async def test_build_steps_run_under_the_builder_memory(api, made):
    token = nonce()
    body = {
        "timeout": 0,
        "image": {
            **manifest(
                run_step(
                    f"echo {token} >/dev/null",
                    "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes"
                    " 2>/dev/null | head -n 1 > /build-limit; cat /sys/fs/cgroup/pids.max"
                    " /sys/fs/cgroup/pids/pids.max 2>/dev/null | head -n 1 > /build-pids",
                )
            ),
            "builderMemoryMB": 256,
        },
    }
    status, events = await stream_events(api, "POST", "/sandboxes", body)
    assert status == 200 and events[-1].event == "result", events[-3:]
    info = events[-1].data
    made.append(info["sandboxID"])
    try:
        seen = await _run(api, info["sandboxID"], "cat /build-limit /build-pids")
        assert seen["stdout"].split() == [str(256 * MB), "2048"]
    finally:
        await api.delete(f"/sandboxes/{info['sandboxID']}")
        made.remove(info["sandboxID"])
        engine("rmi", f"localhost/oc-jupyter/layer:{info['contentHash']}")


async def test_a_build_step_out_of_memory_names_the_builder_memory(api):
    body = {
        "timeout": 0,
        "image": {
            **manifest(run_step(f"echo {nonce()}", "python3 -c 'b = bytearray(256 << 20)'")),
            "builderMemoryMB": 128,
        },
    }
    status, events = await stream_events(api, "POST", "/sandboxes", body)
    assert status == 200 and events[-1].event == "error", events[-3:]
    error = events[-1].data["error"]
    assert error.startswith("Step 1/1 (run) was killed: it ran out of memory (limit 128 MB); "), error
    assert "Image.builder_memory(256)" in error and "builderMemoryMB" in error


def test_disk_floor_refuses_new_sandboxes_and_builds(tmp_path, base_image):
    async def check(server) -> None:
        async with server.client() as client:
            refused = await client.post("/sandboxes", json={"timeout": 0})
            assert refused.status_code == 507, refused.text
            error = refused.json()["error"]
            assert error.startswith("Not creating a sandbox: the container engine's storage (")
            assert "under the 100000000 MB floor" in error and "OC_JUPYTER_DISK_FLOOR_MB" in error
            name = f"floor-{nonce()}"
            snap = await client.post("/snapshots", json={"name": name, "image": manifest(run_step(f"echo {nonce()}"))})
            assert snap.status_code == 507 and snap.json()["error"].startswith("Not creating a snapshot: "), snap.text
            assert (await client.get(f"/snapshots/{name}")).status_code == 404
            assert (await client.get("/sandboxes")).json() == []
            health = await client.get("/x-oc-jupyter/v1/health")
            assert health.status_code == 200

    with private_server(tmp_path, OC_JUPYTER_DISK_FLOOR_MB="100000000") as server:
        asyncio.run(check(server))
