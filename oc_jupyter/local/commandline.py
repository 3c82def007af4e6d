"""How to name the ``oc-jupyter`` command in a message so that it works when pasted.

A command installed in a virtual environment is not on ``sudo``'s (or a new
shell's) ``PATH``, so suggestions give the full path of the one running now.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["oc_jupyter_command"]


def oc_jupyter_command(*args: str) -> str:
    """``/home/ana/venv/bin/oc-jupyter base build``: a command line for ``oc-jupyter args…``."""
    beside = Path(sys.executable).with_name("oc-jupyter")
    found = str(beside) if beside.is_file() else shutil.which("oc-jupyter")
    argv = [found] if found else [sys.executable, "-m", "oc_jupyter.cli"]
    return " ".join(shlex.quote(part) for part in (*argv, *args))
