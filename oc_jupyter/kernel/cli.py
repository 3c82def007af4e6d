"""``oc-jupyter kernel install|list|remove``: OpenComputer kernels in Jupyter's kernel picker."""

from __future__ import annotations

import argparse
import json

from .kernelspec import KernelChoice, install, list_specs, remove


def _install(args: argparse.Namespace) -> int:
    packages = tuple(p.strip() for p in (args.packages or "").split(",") if p.strip())
    if packages and (args.snapshot or args.image_name or args.sandbox):
        print("oc-jupyter: --packages adds to the base image only; put them in the snapshot's recipe instead.")
        return 2
    choice = KernelChoice(
        snapshot=args.snapshot, template=args.image_name, sandbox=args.sandbox, keep=args.keep, packages=packages
    )
    try:
        folder = install(choice, name=args.name, display_name=args.display_name, user=args.user)
    except ValueError as exc:
        print(f"oc-jupyter: {exc}")
        return 2
    spec = json.loads((folder / "kernel.json").read_text())
    print(f"Installed kernel {folder.name!r} ({spec['display_name']}) in {folder}")
    return 0


def _list(args: argparse.Namespace) -> int:
    specs = list_specs()
    if args.json:
        print(json.dumps(specs, indent=2))
        return 0
    if not specs:
        print("No OpenComputer kernels are installed; add one with `oc-jupyter kernel install`.")
        return 0
    width = max(len(name) for name in specs)
    for name, spec in sorted(specs.items()):
        made_from = ", ".join(f"{k}={v}" for k, v in spec["config"].items()) or "base image"
        print(f"{name:<{width}}  {spec['display_name']}  [{made_from}]")
    return 0


def _remove(args: argparse.Namespace) -> int:
    try:
        folder = remove(args.name)
    except ValueError as exc:
        print(f"oc-jupyter: {exc}")
        return 2
    print(f"Removed kernel {args.name!r} ({folder})")
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    kernel = commands.add_parser("kernel", help="install, list or remove OpenComputer kernels for Jupyter")
    actions = kernel.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("install", help="write a kernelspec whose kernel runs in a sandbox")
    what = add.add_mutually_exclusive_group()
    what.add_argument("--snapshot", help="start the kernel's sandbox from this snapshot")
    what.add_argument("--image-name", help="start it from this template (named image)")
    what.add_argument("--sandbox", help="run the kernel in this existing sandbox (kept at shutdown)")
    add.add_argument(
        "--packages", help="comma-separated pip packages to add to the base image (e.g. pandas,matplotlib)"
    )
    add.add_argument("--name", help="kernelspec name (default: oc-<snapshot, template or base>)")
    add.add_argument("--display-name", help="name shown in the launcher and kernel picker")
    add.add_argument("--keep", action="store_true", help="keep the sandbox when the kernel shuts down")
    add.add_argument("--user", action="store_true", help="install for the current user instead of this environment")
    add.set_defaults(run=_install)
    listing = actions.add_parser("list", help="list the installed OpenComputer kernels")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=_list)
    drop = actions.add_parser("remove", help="remove an OpenComputer kernelspec")
    drop.add_argument("name")
    drop.set_defaults(run=_remove)
