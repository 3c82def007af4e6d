"""Named snapshots against the real local server."""

from __future__ import annotations

import uuid

import pytest

from oc_jupyter.sdk import (
    BuildLog,
    Conflict,
    Image,
    Sandbox,
    SnapshotNotFound,
    Snapshots,
)


async def test_snapshot_lifecycle(sdk_config, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("VALUE = 42\n")
    image = Image.base().add_local_dir(tmp_path / "pkg", "/workspace/pkg").env({"SNAP_ENV": "yes"})
    snaps = Snapshots(config=sdk_config)
    logs: list[str] = []
    info = await snaps.create("sdk-test-snap", image, on_build_logs=lambda log: logs.append(str(log)))
    assert info["status"] == "ready" and info.name == "sdk-test-snap"
    assert info.content_hash == image.cache_key() == info["contentHash"]
    assert "sdk-test-snap" in [s["name"] for s in await snaps.list()]
    assert (await snaps.get("sdk-test-snap")).status == "ready"
    with pytest.raises(Conflict):
        await snaps.create("sdk-test-snap", image)
    sandbox = await Sandbox.create(snapshot="sdk-test-snap", config=sdk_config)
    try:
        await snaps.delete("sdk-test-snap")
        result = await sandbox.commands.run("cat /workspace/pkg/mod.py; bash -lc 'echo $SNAP_ENV'")
        assert result.stdout == "VALUE = 42\nyes\n"  # deleting the snapshot left the sandbox running
    finally:
        await sandbox.kill()
    with pytest.raises(SnapshotNotFound):
        await snaps.get("sdk-test-snap")
    with pytest.raises(SnapshotNotFound):
        await Sandbox.create(snapshot="sdk-test-snap", config=sdk_config)


async def test_build_output_reaches_the_callback_while_the_build_runs(sdk_config):
    marker = uuid.uuid4().hex  # a new step, so it really builds
    image = Image.base().run_commands(f"echo first-{marker}; sleep 3; echo second-{marker}")
    snaps = Snapshots(config=sdk_config)
    name = f"sdk-live-{marker[:8]}"
    status_at_first_line: list[str] = []

    async def on_log(log: BuildLog) -> None:
        if log.phase == "output" and f"first-{marker}" in log and not status_at_first_line:
            status_at_first_line.append((await snaps.get(name)).status)

    try:
        info = await snaps.create(name, image, on_build_logs=on_log)
        assert info.status == "ready"
        assert status_at_first_line == ["building"]  # seen mid-build, not replayed at the end
    finally:
        await snaps.delete(name)
