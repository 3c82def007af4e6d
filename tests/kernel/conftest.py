"""An OpenComputer kernelspec installed for the session, found by Jupyter through JUPYTER_PATH.

The kernels run in sandboxes of the session's local server: the tunnel
process inherits this process's environment, ``OC_JUPYTER_HOME`` included.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from oc_jupyter.kernel.kernelspec import KernelChoice, install

KERNEL = "oc-test-kernel"
PACKAGES = ("pandas", "matplotlib", "ipywidgets")


@pytest.fixture(scope="session")
def kernel_name(local_server, tmp_path_factory) -> str:
    prefix = tmp_path_factory.mktemp("kernel-prefix")
    install(KernelChoice(packages=PACKAGES), name=KERNEL, prefix=str(prefix))
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(prefix / "share" / "jupyter"), previous]))
    yield KERNEL
    if previous is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = previous


def sandboxes(local_server) -> set[str]:
    response = httpx.get(f"{local_server.url}/api/sandboxes", headers={"X-API-Key": local_server.key}, timeout=30)
    response.raise_for_status()
    return {s["sandboxID"] for s in response.json()}


@pytest.fixture
def kernel_log(tmp_path) -> Path:
    return tmp_path / "kernel-stderr.log"
