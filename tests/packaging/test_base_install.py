"""The base install is the SDK alone: a fresh venv with only the base requirements imports it.

The package is built into a wheel from this checkout (without the
labextension build hook, which the SDK does not need) and installed with
``--no-deps`` next to the base requirements its metadata lists (the
``Requires-Dist`` lines without an extra), fetched from PyPI as a user's
``pip install oc_jupyter`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from _support import ROOT

CHECK = r"""
import importlib.metadata, importlib.util, json, os
import oc_jupyter, oc_jupyter.sdk, oc_jupyter.wire.manifest
from oc_jupyter.sdk import BackendUnavailable, Config, Image
result = {
    "file": oc_jupyter.__file__,
    "fastapi": importlib.util.find_spec("fastapi") is not None,
    "IPython": importlib.util.find_spec("IPython") is not None,
    "uvicorn": importlib.util.find_spec("uvicorn") is not None,
    "backends": sorted(ep.name for ep in importlib.metadata.entry_points(group="oc_jupyter.backends")),
    "cache_key": Image.base().apt_install(["curl"]).cache_key(),
}
try:
    Config.resolve()
except BackendUnavailable as exc:
    result["resolve"] = str(exc)
print(json.dumps(result))
"""


def _run(*args: str, env: dict[str, str], cwd: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _base_requirements(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]


@pytest.mark.slow
def test_the_sdk_imports_with_the_base_requirements_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OC_JUPYTER_HOME"] = str(tmp_path / "home")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv), env=env)
    python = str(venv / "bin" / "python")
    _run(python, "-m", "pip", "install", "-q", "hatchling", env=env)
    wheels = tmp_path / "wheels"
    _run(
        python,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(wheels),
        str(ROOT),
        env={**env, "HATCH_BUILD_NO_HOOKS": "true"},
    )
    [wheel] = wheels.glob("oc_jupyter-*.whl")
    base = _base_requirements(wheel)
    assert {r.split(">")[0] for r in base} >= {"httpx", "pydantic", "tenacity"} and not any(
        "fastapi" in r for r in base
    )
    _run(python, "-m", "pip", "install", "-q", *base, env=env)
    _run(python, "-m", "pip", "install", "-q", "--no-deps", str(wheel), env=env)

    result = json.loads(_run(python, "-c", CHECK, env=env, cwd=str(tmp_path)).stdout)

    assert result["file"].startswith(str(venv))
    assert not result["fastapi"] and not result["IPython"] and not result["uvicorn"]
    assert result["backends"] == ["local"]
    assert len(result["cache_key"]) == 64
    # Without a key the SDK asks the local provider, which says what to install instead of failing obscurely.
    assert "pip install 'oc_jupyter[local]'" in result["resolve"] and "OPENCOMPUTER_API_KEY" in result["resolve"]
    assert not (tmp_path / "home" / "server.json").exists()
