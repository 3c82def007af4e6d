"""Sandboxes against the real local server: the seed's complete example, image builds, cache hits, failures."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from oc_jupyter.sdk import BuildFailed, BuildLog, Image, Sandbox, cache_preview

SEED_COMPLETE_EXAMPLE = """
import asyncio
from oc_jupyter import Sandbox, Image, Snapshots

async def main():
    # ── Pattern 1: On-demand image ──
    dev_image = (
        Image.base()
        .apt_install(["curl", "jq"])
        .pip_install(["requests"])
        .add_file("/workspace/config.json", '{"debug": true}')
        .env({"APP_ENV": "development"})
        .workdir("/workspace")
    )

    sandbox = await Sandbox.create(
        image=dev_image,
        on_build_log=lambda log: print(f"build: {log}"),
    )

    await sandbox.commands.run("curl --version")
    await sandbox.kill()

    # ── Pattern 2: Pre-built snapshot ──
    snapshots = Snapshots()

    prod_image = (
        Image.base()
        .apt_install(["python3-pip", "git"])
        .pip_install(["pandas", "numpy", "scikit-learn"])
        .run_commands("mkdir -p /workspace/data")
        .env({"APP_ENV": "production"})
        .workdir("/workspace")
    )

    await snapshots.create(
        name="ml-env",
        image=prod_image,
        on_build_logs=lambda log: print(f"build: {log}"),
    )

    # Instant — no build, just boot from snapshot
    ml_sandbox = await Sandbox.create(snapshot="ml-env")
    await ml_sandbox.commands.run(
        'python3 -c "import pandas; print(pandas.__version__)"'
    )
    await ml_sandbox.kill()

    # Cleanup
    await snapshots.delete("ml-env")

asyncio.run(main())
"""


@pytest.mark.slow
def test_seed_complete_example_runs_unchanged(local_server):
    env = {k: v for k, v in local_server.env.items() if not k.startswith("OPENCOMPUTER_")}
    run = subprocess.run(
        [sys.executable, "-c", SEED_COMPLETE_EXAMPLE], env=env, capture_output=True, text=True, timeout=1800
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "build: " in run.stdout  # build logs reached the callbacks
    assert local_server.key not in run.stdout + run.stderr


async def test_image_sandbox_sees_env_files_and_workdir(sdk_config):
    image = (
        Image.base()
        .add_file("/opt/oc/hello.sh", "#!/bin/sh\necho hello from script\n")
        .run_commands("chmod +x /opt/oc/hello.sh")
        .env({"SDK_MARKER": "a<b>&c"})
        .workdir("/workspace/sdk")
    )
    logs: list[BuildLog] = []
    async with await Sandbox.create(image=image, on_build_log=logs.append, config=sdk_config) as sandbox:
        result = await sandbox.commands.run("/opt/oc/hello.sh; pwd; bash -lc 'echo $SDK_MARKER'")
        assert result.stdout == "hello from script\n/workspace/sdk\na<b>&c\n"
    assert logs and all(isinstance(log, BuildLog) for log in logs)
    # Built now, so a second create is one cache hit and the preview says so.
    again: list[BuildLog] = []
    async with await Sandbox.create(image=image, on_build_log=again.append, config=sdk_config):
        pass
    assert [log.type for log in again] == ["cache_hit"]
    preview = await cache_preview(image, sdk_config)
    assert preview is not None and preview.cached and preview.content_hash == image.cache_key()
    assert all(step.cached for step in preview.steps)


async def test_failing_step_raises_build_failed_with_its_tail(sdk_config):
    image = Image.base().run_commands("echo about to fail; echo details >&2; exit 4")
    with pytest.raises(BuildFailed) as info:
        await Sandbox.create(image=image, config=sdk_config)
    assert info.value.step == 1
    assert any("details" in line or "about to fail" in line for line in info.value.tail)


def test_config_without_key_starts_or_attaches_to_the_local_server(local_server):
    code = textwrap.dedent("""
        from oc_jupyter.sdk import Config
        config = Config.resolve()
        print(config.backend, config.api_url)
        print(repr(config))
    """)
    env = {k: v for k, v in local_server.env.items() if not k.startswith("OPENCOMPUTER_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == f"local {local_server.url}"
    assert local_server.key not in out
