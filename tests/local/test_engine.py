"""Finding the container engine: automatic, by name, by path, and a clear error when there is none."""

from __future__ import annotations

import os
import shutil

import pytest

from oc_jupyter.local.engine import detect_engine
from oc_jupyter.local.errors import EngineNotFound, EngineTimeout


def test_found_automatically_and_by_name_or_path():
    podman = shutil.which("podman")
    assert detect_engine({}).binary == podman
    assert detect_engine({"OC_JUPYTER_ENGINE": "podman"}).name == "podman"
    assert detect_engine({"OC_JUPYTER_ENGINE": podman}).binary == podman


def test_missing_engine_names_the_supported_ones_and_how_to_install():
    with pytest.raises(EngineNotFound) as missing:
        detect_engine({"OC_JUPYTER_ENGINE": "/nonexistent/podman"})
    message = str(missing.value)
    assert "'/nonexistent/podman'" in message
    assert "podman, docker" in message and "apt-get install podman" in message
    assert missing.value.status_code == 503


async def test_engine_commands_run_and_report_failures(base_image):
    engine = detect_engine()
    assert (await engine.run("version", "--format", "{{.Client.Version}}")).stdout.strip()
    assert await engine.image_exists(base_image)
    assert not await engine.image_exists(f"localhost/oc-jupyter-tests/absent:{id(engine)}")
    lines: list[str] = []
    code = await engine.stream(
        "run", "--rm", base_image, "sh", "-c", "echo one; echo two >&2; exit 3", on_line=lines.append
    )
    assert code == 3 and sorted(lines) == ["one", "two"]


async def test_existing_images_checks_many_references_in_one_call(base_image):
    engine = detect_engine()
    absent = f"localhost/oc-jupyter-tests/absent:{id(engine)}"
    assert await engine.existing_images([absent, base_image]) == {base_image}
    assert await engine.existing_images([absent]) == set()


async def test_an_engine_command_that_hangs_is_stopped_with_a_clear_error(tmp_path):
    # A real program standing in for a wedged engine: it never answers.
    stuck = tmp_path / "podman"
    pid_file = tmp_path / "pid"
    stuck.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    stuck.chmod(0o755)
    engine = detect_engine({"OC_JUPYTER_ENGINE": str(stuck)})
    with pytest.raises(EngineTimeout) as hung:
        await engine.run("run", "-d", "--name", "x" * 60, "image", "sleep", "infinity", timeout=1)
    message = str(hung.value)
    assert message.startswith("The container engine did not finish `podman run -d --name ")
    assert "within 1 s" in message and "OC_JUPYTER_ENGINE_TIMEOUT" in message
    assert hung.value.status_code == 503
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
