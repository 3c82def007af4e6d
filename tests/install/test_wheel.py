"""The wheel a release ships: built from the sources, it holds the package, the production
labextension with its licences, the quick start for ``oc-jupyter demo``, and nothing else.

The build runs on a copy of the tracked (and new, not ignored) files, so it
starts like a fresh clone and never touches the working tree; a development
build of the labextension (with source maps) is made in the copy first,
because that is what a working tree holds and the wheel must not ship it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = "oc_jupyter-{version}.data/data/"
LABEXT = "share/jupyter/labextensions/oc-jupyter/"


def _source_copy(target: Path) -> Path:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    modules = ROOT / "labextension" / "node_modules"
    if modules.is_dir():
        # Saves the npm download; without it the build hook runs `jlpm install` itself.
        (target / "labextension" / "node_modules").symlink_to(modules.resolve())
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    src = _source_copy(tmp_path_factory.mktemp("src"))
    bin_dir = Path(sys.executable).parent
    # The package scripts call jlpm and jupyter by name.
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    dev = subprocess.run(
        [str(bin_dir / "jlpm"), "build"], cwd=src / "labextension", capture_output=True, text=True, env=env
    )
    assert dev.returncode == 0, dev.stdout[-3000:] + dev.stderr[-3000:]
    assert list((src / "oc_jupyter" / "labextension" / "static").glob("*.js.map")), "the development build has maps"
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = out.glob("oc_jupyter-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def _version(archive: zipfile.ZipFile) -> str:
    (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    return meta.removeprefix("oc_jupyter-").removesuffix(".dist-info/METADATA")


def test_the_labextension_is_the_production_build_with_its_licences(wheel):
    prefix = DATA.format(version=_version(wheel)) + LABEXT
    static = [n[len(prefix) :] for n in wheel.namelist() if n.startswith(prefix + "static/")]
    assert "static/style.js" in static and any(n.startswith("static/remoteEntry.") for n in static)
    assert "static/third-party-licenses.json" in static
    assert not [n for n in static if n.endswith(".map")]
    assert prefix + "package.json" in wheel.namelist() and prefix + "install.json" in wheel.namelist()
    assert not [n for n in wheel.namelist() if n.endswith("build_log.json")]


def test_the_quick_start_and_the_server_config_are_shipped(wheel):
    names = wheel.namelist()
    assert "oc_jupyter/notebooks/quickstart.ipynb" in names
    assert DATA.format(version=_version(wheel)) + "etc/jupyter/jupyter_server_config.d/oc_jupyter.json" in names
    for module in (
        "oc_jupyter/cli.py",
        "oc_jupyter/local/doctor.py",
        "oc_jupyter/local/containers.conf",
        "oc_jupyter/demo.py",
    ):
        assert module in names


def test_nothing_but_the_package_and_its_data(wheel):
    version = _version(wheel)
    allowed = ("oc_jupyter/", f"oc_jupyter-{version}.dist-info/", DATA.format(version=version))
    names = wheel.namelist()
    assert [n for n in names if not n.startswith(allowed)] == []
    for unwanted in ("tests/", "node_modules/", "__pycache__/", "/lib/", ".ts", ".pyc", ".tsbuildinfo"):
        assert not [n for n in names if unwanted in n], unwanted
    assert not [n for n in names if n.startswith("oc_jupyter/labextension/")], "the labextension ships once, as data"
