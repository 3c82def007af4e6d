"""The ``oc-jupyter`` command: the local server, its base image, and the other subcommands.

Each subcommand group is a small function registered in :data:`COMMANDS`,
so adding one is a new ``add_…`` function and one entry there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable

from ._version import __version__

__all__ = ["main", "COMMANDS"]


def _server_start(args: argparse.Namespace) -> int:
    from .local.daemon import ensure_running

    info = ensure_running()
    print(info.url)
    if info.engine is None:
        from .local.engine import detect_engine
        from .local.errors import EngineNotFound

        try:
            detect_engine()
        except EngineNotFound as exc:
            print(f"oc-jupyter: warning: {exc}", file=sys.stderr)
    return 0


def _server_stop(args: argparse.Namespace) -> int:
    from .local.daemon import stop

    if stop():
        print("Stopped the local server.")
    else:
        print("The local server was not running.")
    return 0


def _server_status(args: argparse.Namespace) -> int:
    from .local.daemon import home_dir, status

    info = status()
    if info is None:
        print(json.dumps({"running": False, "home": str(home_dir())}))
        return 1
    print(json.dumps({"running": True, **info.public()}, indent=2))
    return 0


def _server_env(args: argparse.Namespace) -> int:
    from .local.daemon import ensure_running

    info = ensure_running()
    print(f"export OPENCOMPUTER_API_URL={shlex.quote(info.url)}")
    print(f"export OPENCOMPUTER_API_KEY={shlex.quote(info.key)}")
    return 0


def _base_build(args: argparse.Namespace) -> int:
    from .local.baseimage import ensure_base_image
    from .local.daemon import home_dir
    from .local.engine import detect_engine

    engine = detect_engine()

    async def build() -> str:
        return await ensure_base_image(
            engine, lambda line: print(line, flush=True), force=args.force, lock_dir=home_dir()
        )

    ref = asyncio.run(build())
    print(f"Base image ready: {ref}")
    invoker = os.environ.get("SUDO_USER", "")
    if engine.name == "podman" and os.geteuid() == 0 and invoker and invoker != "root":
        from .local.commandline import oc_jupyter_command

        # Rootless podman keeps one image store per user: root's copy is invisible to the notebook.
        print(
            f"oc-jupyter: warning: the base image is in root's image store, but notebooks run as {invoker} "
            f"use {invoker}'s own store; run `{oc_jupyter_command('base', 'build')}` as {invoker}, "
            "without sudo, to build it there.",
            file=sys.stderr,
        )
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .local import doctor

    if args.fix_storage:
        try:
            print(doctor.fix_storage(force=args.force))
        except doctor.StorageFixError as exc:
            print(f"oc-jupyter: {exc}", file=sys.stderr)
            return 1
        return 0
    report = doctor.diagnose()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.render())
    return 1 if report.blocked else 0


def add_server(commands: argparse._SubParsersAction) -> None:
    server = commands.add_parser("server", help="start, stop or inspect the local server")
    actions = server.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("start", help="start it in the background if needed and print its URL").set_defaults(
        run=_server_start
    )
    actions.add_parser("stop", help="stop it (sandboxes keep running for the next start)").set_defaults(
        run=_server_stop
    )
    actions.add_parser(
        "status", help="print url, pid, engine and version as JSON; exit 1 when not running"
    ).set_defaults(run=_server_status)
    actions.add_parser(
        "env", help="print `export OPENCOMPUTER_API_URL=… OPENCOMPUTER_API_KEY=…` for a shell to eval"
    ).set_defaults(run=_server_env)


def add_base(commands: argparse._SubParsersAction) -> None:
    base = commands.add_parser("base", help="manage the local base image")
    actions = base.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build (or pull) the base image unless it exists; prints progress")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.set_defaults(run=_base_build)


def add_doctor(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the container engine, storage, cgroups, base image, disk and state folder; "
        "exit 1 when a problem blocks sandboxes",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument(
        "--fix-storage", action="store_true", help="switch rootless podman from the vfs to the overlay storage driver"
    )
    doctor.add_argument(
        "--force",
        action="store_true",
        help="with --fix-storage: go ahead although it empties a store holding images or containers",
    )
    doctor.set_defaults(run=_doctor)


def add_demo(commands: argparse._SubParsersAction) -> None:
    from .demo import add_parser

    add_parser(commands)


def add_kernel(commands: argparse._SubParsersAction) -> None:
    from .kernel.cli import add_parser

    add_parser(commands)


def add_cache(commands: argparse._SubParsersAction) -> None:
    from .local.cachecli import add_parser

    add_parser(commands)


#: Subcommand groups, each adding its parser; extend this list to add a command.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_server,
    add_base,
    add_doctor,
    add_demo,
    add_kernel,
    add_cache,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oc-jupyter", description="OpenComputer sandboxes for Jupyter, locally or in the cloud."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .sdk.errors import OCError

    try:
        return args.run(args)
    except OCError as exc:
        print(f"oc-jupyter: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
