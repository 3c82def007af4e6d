"""Kernelspecs for OpenComputer kernels: install, list, remove.

A kernelspec names our provisioner in ``metadata.kernel_provisioner`` and
says which sandbox to use in its ``config``; its ``argv`` is the tunnel,
run with the Python that installed it, so the kernel works from any Jupyter
that can see the kernelspec.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

__all__ = ["KernelChoice", "install", "list_specs", "remove", "PROVISIONER"]

PROVISIONER = "oc-jupyter"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass
class KernelChoice:
    """What an OpenComputer kernel runs in: one of snapshot, template or sandbox, else the base image."""

    snapshot: str | None = None
    template: str | None = None
    sandbox: str | None = None
    keep: bool = False
    #: pip packages added to the base image besides ipykernel (base image only)
    packages: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.snapshot or self.template or self.sandbox or "base"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for key in ("snapshot", "template", "sandbox"):
            if getattr(self, key):
                config[key] = getattr(self, key)
        if self.keep:
            config["keep"] = True
        if self.packages and not (self.snapshot or self.template or self.sandbox):
            config["packages"] = ["ipykernel", *(p for p in self.packages if p != "ipykernel")]
        return config


def default_name(choice: KernelChoice) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", choice.label.lower()).strip("-.") or "base"
    return f"oc-{slug}"[:63]


def spec_json(choice: KernelChoice, display_name: str | None = None) -> dict[str, Any]:
    return {
        "argv": [sys.executable, "-m", "oc_jupyter.kernel.tunnel", "-f", "{connection_file}"],
        "display_name": display_name or f"Python 3 (OpenComputer: {choice.label})",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {
            "debugger": True,
            "kernel_provisioner": {"provisioner_name": PROVISIONER, "config": choice.config()},
        },
    }


def install(
    choice: KernelChoice,
    *,
    name: str | None = None,
    display_name: str | None = None,
    user: bool = False,
    prefix: str | None = None,
) -> Path:
    """Write the kernelspec and return where it went (the venv's by default, ``user`` for ~/.local)."""
    name = name or default_name(choice)
    if not _NAME.match(name):
        raise ValueError(
            f"Kernel name {name!r} is not valid: use lower-case letters, digits, '.', '_' and '-' "
            "(for example --name oc-data-science)."
        )
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "kernel.json").write_text(json.dumps(spec_json(choice, display_name), indent=2) + "\n")
        logo = resources.files(__package__).joinpath("logo-svg.svg")
        Path(folder, "logo-svg.svg").write_bytes(logo.read_bytes())
        target = KernelSpecManager().install_kernel_spec(
            folder, kernel_name=name, user=user, prefix=None if user else (prefix or sys.prefix)
        )
    return Path(target)


def list_specs() -> dict[str, dict[str, Any]]:
    """The installed OpenComputer kernelspecs: name → {display_name, config, resource_dir}."""
    found = {}
    for name, info in KernelSpecManager().get_all_specs().items():
        spec = info.get("spec", {})
        provisioner = spec.get("metadata", {}).get("kernel_provisioner", {})
        if provisioner.get("provisioner_name") == PROVISIONER:
            found[name] = {
                "display_name": spec.get("display_name", name),
                "config": provisioner.get("config", {}),
                "resource_dir": info.get("resource_dir", ""),
            }
    return found


def remove(name: str) -> Path:
    """Remove the OpenComputer kernelspec ``name``; refuses other kernels' specs."""
    specs = list_specs()
    if name not in specs:
        others = ", ".join(sorted(specs)) or "none are installed"
        raise ValueError(
            f"No OpenComputer kernel is named {name!r} (installed: {others}); see `oc-jupyter kernel list`."
        )
    try:
        folder = Path(KernelSpecManager().get_kernel_spec(name).resource_dir)
    except NoSuchKernel:  # listed a moment ago: removed meanwhile
        raise ValueError(f"No OpenComputer kernel is named {name!r}.") from None
    shutil.rmtree(folder)
    return folder
