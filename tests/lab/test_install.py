"""The set-up leaves the JupyterLab extension and the server extension installed and working."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _run(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return ANSI.sub("", result.stdout + result.stderr)


def test_jupyterlab_lists_the_extension_enabled_and_ok():
    listing = _run(str(BIN / "jupyter"), "labextension", "list")
    assert re.search(r"oc-jupyter v\S+ enabled OK", listing), listing


def test_the_server_extension_is_enabled_and_loads():
    listing = _run(str(BIN / "jupyter"), "server", "extension", "list")
    assert re.search(r"oc_jupyter enabled", listing), listing
    assert re.search(r"oc_jupyter \S+ OK", listing), listing


def test_typescript_unit_tests_pass():
    # The panel's state logic (reducer, polling, formatting, recipe tokens) is tested with vitest.
    output = _run(str(BIN / "jlpm"), "test", cwd=ROOT / "labextension")
    # vitest's summary line counts failures as "N failed"; test names may contain the word itself.
    assert re.search(r"Tests\s+\d+ passed", output), output
    assert not re.search(r"\b\d+ failed\b", output), output
