"""The warm pool: creates take an already started container, the pool stays bounded, hidden and tidy.

Each test runs a server of its own (``private_server``) with the pool
settings it needs, so the shared server's pool never changes what these
tests see.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

from engine_under_test import image_of

from .conftest import container_of, containers, engine, manifest, nonce, private_server, run_step

POOL = "oc-jupyter.pool=1"


def pool_containers(instance: str) -> set[str]:
    return set(containers(f"oc-jupyter.instance={instance}", POOL))


def created_at(name: str) -> float:
    """When the container was created, in seconds; podman and docker both give RFC 3339 with nanoseconds."""
    stamp = json.loads(engine("inspect", name).stdout)[0]["Created"]
    whole, _, rest = stamp.partition(".")
    digits = rest.rstrip("Z").split("+")[0].split("-")[0]
    return datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float("0." + (digits or "0"))


async def wait_for(condition, seconds: float = 60.0):
    """Poll ``condition`` until it returns something truthy (returned) or the time is up (last value)."""
    value = None
    for _ in range(int(seconds / 0.25)):
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.25)
    return value


async def test_create_hands_out_a_started_container_with_the_request_settings(tmp_path, base_image):
    with private_server(tmp_path) as server:
        instance = server.info()["instance"]
        async with server.client() as api:
            first = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
            warm = await wait_for(lambda: pool_containers(instance) - {container_of(first)})
            assert len(warm) == 1
            (warm_name,) = warm
            listed = {s["sandboxID"] for s in (await api.get("/sandboxes")).json()}
            assert listed == {first}
            # Its command agent runs before any request asked for it.
            assert await wait_for(lambda: "python3" in engine("top", warm_name, "args").stdout)

            requested = time.time()
            created = await api.post(
                "/sandboxes", json={"timeout": 0, "envs": {"GREETING": "hi there"}, "metadata": {"owner": "pool-test"}}
            )
            assert created.status_code == 201, created.text
            sandbox = created.json()
            assert container_of(sandbox["sandboxID"]) == warm_name
            assert created_at(warm_name) < requested
            assert sandbox["metadata"] == {"owner": "pool-test"}
            assert containers(f"oc-jupyter.sandbox={sandbox['sandboxID']}") == [warm_name]

            run = await api.post(
                f"/sandboxes/{sandbox['sandboxID']}/exec/run",
                json={"cmd": "bash", "args": ["-c", "echo $GREETING; pwd"]},
            )
            assert run.json()["stdout"] == "hi there\n/workspace\n"
            overridden = await api.post(
                f"/sandboxes/{sandbox['sandboxID']}/exec/run",
                json={"cmd": "bash", "args": ["-c", "echo $GREETING"], "envs": {"GREETING": "per command"}},
            )
            assert overridden.json()["stdout"] == "per command\n"
            login = engine("exec", warm_name, "bash", "-lc", "echo $GREETING")
            assert login.stdout == "hi there\n"
            info = (await api.get(f"/sandboxes/{sandbox['sandboxID']}")).json()
            assert info["metadata"] == {"owner": "pool-test"}

            refilled = await wait_for(lambda: pool_containers(instance) - {container_of(first), warm_name})
            assert len(refilled) == 1
            listed = {s["sandboxID"] for s in (await api.get("/sandboxes")).json()}
            assert listed == {first, sandbox["sandboxID"]}

        assert server.cli("server", "stop").returncode == 0
        assert pool_containers(instance) == {warm_name}
        assert container_of(first) in containers(f"oc-jupyter.instance={instance}")


async def test_pool_keeps_only_the_most_recent_images(tmp_path, base_image):
    with private_server(tmp_path, OC_JUPYTER_WARM_POOL="1") as server:
        instance = server.info()["instance"]
        async with server.client() as api:
            made = []
            for step in (None, run_step(f"echo {nonce()}")):
                body = {"timeout": 0} if step is None else {"timeout": 0, "image": manifest(step)}
                created = await api.post("/sandboxes", json=body)
                assert created.status_code == 201, created.text
                made.append(container_of(created.json()["sandboxID"]))
            latest_image = image_of(made[-1])

            def settled():
                warm = pool_containers(instance) - set(made)
                return warm if len(warm) == 1 and image_of(next(iter(warm))) == latest_image else None

            assert await wait_for(settled)
            await asyncio.sleep(2)
            assert len(pool_containers(instance) - set(made)) == 1


async def test_idle_pool_is_reaped_and_a_dead_server_leaves_none_behind(tmp_path, base_image):
    with private_server(tmp_path, OC_JUPYTER_WARM_POOL_IDLE="1") as server:
        instance = server.info()["instance"]
        async with server.client() as api:
            kept = container_of((await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"])
            assert await wait_for(lambda: pool_containers(instance) - {kept})
            assert await wait_for(lambda: not (pool_containers(instance) - {kept}))
            assert kept in containers(f"oc-jupyter.instance={instance}")

    with private_server(tmp_path / "killed") as server:
        instance = server.info()["instance"]
        async with server.client() as api:
            kept = container_of((await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"])
        warm = await wait_for(lambda: pool_containers(instance) - {kept})
        assert warm
        os.kill(server.info()["pid"], signal.SIGKILL)
        server.start()
        names = set(containers(f"oc-jupyter.instance={instance}"))
        assert kept in names and not (warm & names)


async def test_disabled_pool_starts_a_container_per_create(tmp_path, base_image):
    with private_server(tmp_path, OC_JUPYTER_WARM_POOL="0") as server:
        instance = server.info()["instance"]
        async with server.client() as api:
            for _ in range(2):
                requested = time.time()
                sandbox_id = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
                assert created_at(container_of(sandbox_id)) >= requested
            await asyncio.sleep(3)
            assert pool_containers(instance) == set()
            assert len(containers(f"oc-jupyter.instance={instance}")) == 2


async def test_a_stuck_engine_command_gives_a_clear_503(tmp_path, base_image):
    real = engine("version", "--format", "{{.Client.Version}}")
    assert real.returncode == 0
    stuck = tmp_path / "stuck-engine"
    stuck.write_text(
        "#!/bin/sh\n"
        "# Hangs on starting a container (as a wedged engine does); everything else goes to the real engine.\n"
        f'if [ "$1" = run ] && [ "$2" = -d ]; then exec sleep 600; fi\nexec {Path(engine_path())} "$@"\n'
    )
    stuck.chmod(0o755)
    with private_server(
        tmp_path, OC_JUPYTER_ENGINE=str(stuck), OC_JUPYTER_ENGINE_TIMEOUT="5", OC_JUPYTER_WARM_POOL="0"
    ) as server:
        async with server.client() as api:
            answer = await api.post("/sandboxes", json={"timeout": 0})
            assert answer.status_code == 503, answer.text
            message = answer.json()["error"]
            assert "`podman run -d" in message and "within 5 s" in message
            assert (await api.get("/sandboxes")).json() == []


def engine_path() -> str:
    from .conftest import ENGINE

    return ENGINE
