"""OpenComputer's own SDK (opencomputer-sdk 1.1.0, unmodified) driving the lifecycle routes of the local server.

Hibernate then a command, signed download and upload, a checkpoint, a fork
from it and a restore in place, all through the official client's calls.
"""

from __future__ import annotations

import httpx
import pytest
from opencomputer import Sandbox


@pytest.fixture
async def upstream(local_server):
    sandbox = await Sandbox.create(timeout=0, api_key=local_server.key, api_url=local_server.url)
    yield sandbox
    await sandbox.kill()
    await sandbox.close()


async def test_hibernate_then_a_command_wakes_it(upstream, local_server):
    await upstream.commands.run("echo before > /workspace/f; nohup sleep 900 >/dev/null 2>&1 &")
    await upstream.hibernate()
    assert upstream.status == "hibernated"
    again = await Sandbox.connect(upstream.sandbox_id, api_key=local_server.key, api_url=local_server.url)
    assert again.status == "hibernated"
    assert not await again.is_running()
    result = await upstream.commands.run("cat /workspace/f; pgrep -f 'sleep 900' >/dev/null && echo alive")
    assert result.exit_code == 0 and result.stdout == "before\nalive\n"
    assert await again.is_running()
    await upstream.hibernate()
    await upstream.wake(timeout=300)
    assert upstream.status == "running" and await upstream.is_running()


async def test_signed_download_and_upload(upstream):
    upload = await upstream.upload_url("/workspace/signed.txt", expires_in=120)
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.put(upload, content=b"from a browser")).status_code == 204
        download = await upstream.download_url("/workspace/signed.txt")
        assert (await anonymous.get(download)).content == b"from a browser"
    assert await upstream.files.read("/workspace/signed.txt") == "from a browser"


async def test_checkpoint_fork_restore_delete(upstream, local_server):
    await upstream.files.write("/workspace/state", "v1")
    checkpoint = await upstream.create_checkpoint("upstream-one", kind="disk_only")
    assert checkpoint["name"] == "upstream-one" and checkpoint["sandboxId"] == upstream.sandbox_id
    assert [c["id"] for c in await upstream.list_checkpoints()] == [checkpoint["id"]]

    fork = await Sandbox.create_from_checkpoint(checkpoint["id"], api_key=local_server.key, api_url=local_server.url)
    try:
        assert fork.sandbox_id != upstream.sandbox_id
        assert await fork.files.read("/workspace/state") == "v1"
    finally:
        await fork.kill()

    await upstream.files.write("/workspace/state", "v2")
    await upstream.restore_checkpoint(checkpoint["id"])
    assert await upstream.files.read("/workspace/state") == "v1"
    await upstream.delete_checkpoint(checkpoint["id"])
    assert await upstream.list_checkpoints() == []


async def test_scale_reboot_and_timeout(upstream):
    scaled = await upstream.scale(1024)
    assert scaled == {"sandboxID": upstream.sandbox_id, "memoryMB": 1024, "cpuPercent": scaled["cpuPercent"]}
    await upstream.set_timeout(600)
    await upstream.commands.run("echo d > /workspace/d")
    await upstream.reboot()
    await upstream.power_cycle()
    assert (await upstream.commands.run("cat /workspace/d")).stdout == "d\n"
