"""oc_jupyter's SDK driving hibernate, wake, restarts, scale, signed URLs and checkpoints on the real server."""

from __future__ import annotations

import inspect

import httpx
import pytest

from oc_jupyter.sdk import Sandbox, errors


async def test_hibernate_wake_and_the_status_in_between(sdk_config):
    async with await Sandbox.create(config=sdk_config, timeout=0) as sandbox:
        await sandbox.commands.run("echo here > /workspace/x")
        await sandbox.hibernate()
        assert sandbox.status == "hibernated" and (await sandbox.info()).status == "hibernated"
        assert not await sandbox.is_running()
        assert (await sandbox.commands.run("cat /workspace/x")).stdout == "here\n"
        assert await sandbox.is_running()
        await sandbox.hibernate()
        await sandbox.wake(timeout=120)
        assert sandbox.status == "running" and (await sandbox.info())["timeout"] == 120
        assert sandbox.end_at is None


async def test_reboot_power_cycle_and_scale(sdk_config):
    async with await Sandbox.create(config=sdk_config, timeout=0) as sandbox:
        await sandbox.commands.run("echo d > /workspace/d")
        await sandbox.reboot()
        await sandbox.power_cycle()
        assert (await sandbox.commands.run("cat /workspace/d")).stdout == "d\n"
        scaled = await sandbox.scale(512)
        assert scaled["sandboxID"] == sandbox.id and scaled["memoryMB"] == 512


async def test_signed_urls_and_checkpoints(sdk_config):
    async with await Sandbox.create(config=sdk_config, timeout=0) as sandbox:
        async with httpx.AsyncClient() as anonymous:
            assert (await anonymous.put(await sandbox.upload_url("/workspace/u.txt"), content=b"up")).status_code == 204
            assert (await anonymous.get(await sandbox.download_url("/workspace/u.txt", expires_in=60))).content == b"up"
        checkpoint = await sandbox.create_checkpoint("one", kind="disk_only")
        assert [c["id"] for c in await sandbox.list_checkpoints()] == [checkpoint["id"]]
        fork = await Sandbox.create_from_checkpoint(checkpoint["id"], config=sdk_config)
        try:
            assert (await fork.commands.run("cat /workspace/u.txt")).stdout == "up"
        finally:
            await fork.kill()
        await sandbox.commands.run("echo changed > /workspace/u.txt")
        await sandbox.restore_checkpoint(checkpoint["id"])
        assert (await sandbox.commands.run("cat /workspace/u.txt")).stdout == "up"
        await sandbox.delete_checkpoint(checkpoint["id"])
        assert await sandbox.list_checkpoints() == []
        with pytest.raises(errors.OCError) as refused:
            await sandbox.create_checkpoint("mem", kind="full")
        assert "CRIU" in str(refused.value) and "disk_only" in str(refused.value)


def test_signatures_are_opencomputers():
    from opencomputer import Sandbox as upstream

    for name in (
        "hibernate",
        "wake",
        "reboot",
        "power_cycle",
        "scale",
        "set_timeout",
        "is_running",
        "download_url",
        "upload_url",
        "create_checkpoint",
        "list_checkpoints",
        "restore_checkpoint",
        "delete_checkpoint",
        "create_from_checkpoint",
    ):
        ours = list(inspect.signature(getattr(Sandbox, name)).parameters.values())
        theirs = list(inspect.signature(getattr(upstream, name)).parameters.values())
        # Ours may add keyword-only parameters after upstream's (config=); upstream's come first, unchanged.
        assert [(p.name, p.kind, p.default) for p in ours[: len(theirs)]] == [
            (p.name, p.kind, p.default) for p in theirs
        ], name
        assert all(p.kind is p.KEYWORD_ONLY for p in ours[len(theirs) :]), name
