"""Build steps share pip's and apt's download caches through engine volumes, never through the image."""

from __future__ import annotations

import asyncio

from .cacheenv import isolated_cache
from .conftest import engine, manifest, nonce, private_server, run_step, stream_events


def _output(events) -> list[str]:
    return [e.data["message"] for e in events if e.event == "build_log" and e.data.get("phase") == "output"]


async def _build(client, image: dict) -> tuple[list[str], str]:
    """The build's output lines, and the content hash (the final layer's tag)."""
    status, events = await stream_events(client, "POST", "/snapshots", {"name": f"s-{nonce()}", "image": image})
    assert status == 200 and events[-1].event == "result", [e.data for e in events[-3:]]
    return _output(events), events[-1].data["contentHash"]


def _files_in(image: str, folder: str) -> list[str]:
    """Files under ``folder`` in the image itself (no volume mounted), as a fresh container sees them."""
    done = engine("run", "--rm", "--entrypoint", "sh", image, "-c", f"find {folder} -type f 2>/dev/null; true")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


async def test_pip_step_of_a_new_recipe_uses_the_shared_cache_and_the_layer_holds_none(tmp_path):
    with isolated_cache() as env, private_server(tmp_path, **env) as server:
        async with server.client() as client:
            step = {"type": "pip_install", "args": {"packages": ["six==1.16.0"]}}
            first, _ = await _build(client, manifest(run_step(f": {nonce()}"), step))
            assert any("Downloading six-1.16.0" in line for line in first), first
            # Another first step: a manifest never built, so its pip step runs again.
            second_image = manifest(run_step(f": {nonce()}"), step)
            second, final = await _build(client, second_image)
            assert any("Using cached six-1.16.0" in line for line in second), second
            assert not any("Downloading" in line for line in second), second
        newest = f"{env['OC_JUPYTER_LAYER_REPOSITORY']}:{final}"
        assert _files_in(newest, "/root/.cache/pip") == []
        installed = engine("run", "--rm", "--entrypoint", "python3", newest, "-c", "import six; print(six.__version__)")
        assert installed.stdout.strip() == "1.16.0", installed.stderr


async def test_apt_steps_share_archives_safely_and_the_layer_holds_none(tmp_path):
    with isolated_cache() as env, private_server(tmp_path, **env) as server:
        async with server.client() as client:
            step = {"type": "apt_install", "args": {"packages": ["jq"]}}
            # Two builds at once on the same (new, empty) volumes: apt runs one at a time.
            both = await asyncio.gather(*[_build(client, manifest(run_step(f": {nonce()}"), step)) for _ in range(2)])
            assert all(any("Setting up jq" in line for line in out) for out, _ in both), both
            third, final = await _build(client, manifest(run_step(f": {nonce()}"), step))
            assert any("Need to get 0 B" in line for line in third), third
        newest = f"{env['OC_JUPYTER_LAYER_REPOSITORY']}:{final}"
        assert _files_in(newest, "/var/cache/apt/archives") == []
        assert _files_in(newest, "/var/lib/apt/lists") == []
        done = engine("run", "--rm", "--entrypoint", "jq", newest, "--version")
        assert done.returncode == 0 and done.stdout.startswith("jq-"), done.stderr
