"""The kernel provisioner behind OpenComputer kernelspecs.

Jupyter's provisioner API (``jupyter_client.provisioning``) decides how a
kernel process is started and stopped. Ours starts
:mod:`oc_jupyter.kernel.tunnel` locally, as :class:`LocalProvisioner` starts
any kernel, with the sandbox to use taken from the kernelspec's
``metadata.kernel_provisioner.config`` (each key is a trait below). The
tunnel makes the sandbox and carries the kernel's channels to it, so
interrupts (signals to the tunnel) reach the kernel in the sandbox. Clean-up
removes the sandbox even when the tunnel was killed before it could.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Bool, Int, List, Unicode

__all__ = ["OpenComputerProvisioner"]


class OpenComputerProvisioner(LocalProvisioner):
    """Starts a kernel in an OpenComputer sandbox (local backend or cloud, from the environment)."""

    snapshot = Unicode("", config=True, help="Snapshot to create the kernel's sandbox from.")
    template = Unicode("", config=True, help="Template (named image) to create the kernel's sandbox from.")
    sandbox = Unicode("", config=True, help="Id of an existing sandbox to start the kernel in; it is kept.")
    packages = List(Unicode(), ["ipykernel"], config=True, help="pip packages added to the base image.")
    keep = Bool(False, config=True, help="Keep the sandbox when the kernel shuts down.")
    memory_mb = Int(0, config=True, help="Memory limit of the sandbox in MB (0: the backend's default).")
    workdir = Unicode("/workspace", config=True, help="The kernel's working folder in the sandbox.")

    @property
    def state_file(self) -> Path:
        return Path(jupyter_runtime_dir()) / f"oc-kernel-{self.kernel_id}.json"

    def tunnel_arguments(self) -> list[str]:
        args = ["--state-file", str(self.state_file), "--cwd", self.workdir]
        if self.sandbox:
            args += ["--sandbox", self.sandbox]
        elif self.snapshot:
            args += ["--snapshot", self.snapshot]
        elif self.template:
            args += ["--template", self.template]
        else:
            args += ["--packages", ",".join(self.packages)]
        if self.keep:
            args.append("--keep")
        if self.memory_mb:
            args += ["--memory-mb", str(self.memory_mb)]
        return args

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        Path(jupyter_runtime_dir()).mkdir(parents=True, exist_ok=True)
        kwargs["extra_arguments"] = [*kwargs.get("extra_arguments", []), *self.tunnel_arguments()]
        return await super().pre_launch(**kwargs)

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        # The tunnel removes its sandbox on the way out, which takes an engine call or an API request.
        return max(recommended, 15.0)

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        # A first start may build the kernel's image.
        return max(recommended, 300.0)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        with contextlib.suppress(OSError):
            os.unlink(self.state_file)
        if state.get("keep") or not state.get("sandbox_id"):
            return
        from ..sdk import Sandbox
        from ..sdk.errors import NotFound, OCError

        with contextlib.suppress(NotFound, OCError, asyncio.TimeoutError):
            sandbox = await asyncio.wait_for(Sandbox.connect(state["sandbox_id"]), 15)
            await asyncio.wait_for(sandbox.kill(), 15)
