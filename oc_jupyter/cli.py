"""The ``oc-jupyter`` command: the local server, its base image, and the other subcommands.

Each subcommand group is a small function registered in :data:`COMMANDS`,
so adding one is a new ``add_…`` function and one entry there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from typing import Callable

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

    async def build() -> str:
        engine = detect_engine()
        return await ensure_base_image(
            engine, lambda line: print(line, flush=True), force=args.force, lock_dir=home_dir()
        )

    ref = asyncio.run(build())
    print(f"Base image ready: {ref}")
    return 0


def add_server(commands: argparse._SubParsersAction) -> None:
    server = commands.add_parser("server", help="start, stop or inspect the local server")
    actions = server.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("start", help="start it in the background if needed and print its URL").set_defaults(run=_server_start)
    actions.add_parser("stop", help="stop it (sandboxes keep running for the next start)").set_defaults(run=_server_stop)
    actions.add_parser("status", help="print url, pid, engine and version as JSON; exit 1 when not running").set_defaults(run=_server_status)
    actions.add_parser("env", help="print `export OPENCOMPUTER_API_URL=… OPENCOMPUTER_API_KEY=…` for a shell to eval").set_defaults(run=_server_env)


def add_base(commands: argparse._SubParsersAction) -> None:
    base = commands.add_parser("base", help="manage the local base image")
    actions = base.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build (or pull) the base image unless it exists; prints progress")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.set_defaults(run=_base_build)


def add_demo(commands: argparse._SubParsersAction) -> None:
    from .demo import add_parser

    add_parser(commands)


def add_kernel(commands: argparse._SubParsersAction) -> None:
    from .kernel.cli import add_parser

    add_parser(commands)


#: Subcommand groups, each adding its parser; extend this list to add a command.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_server, add_base, add_demo, add_kernel]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oc-jupyter", description="OpenComputer sandboxes for Jupyter, locally or in the cloud.")
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
