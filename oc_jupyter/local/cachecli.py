"""``oc-jupyter cache list|prune``: the layer-image cache of the local server, seen and pruned."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]

PREFIX = "/api/x-oc-jupyter/v1"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    import httpx

    from .daemon import ensure_running

    info = ensure_running()
    response = httpx.request(
        method, info.url.rstrip("/") + PREFIX + path, json=body, headers={"X-API-Key": info.key}, timeout=600
    )
    if response.status_code >= 400:
        try:
            message = response.json().get("error") or response.text
        except ValueError:
            message = response.text
        raise SystemExit(f"oc-jupyter: {message}")
    return response.json()


def _list(args: argparse.Namespace) -> int:
    data = _call("GET", "/cache")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    layers = data["layers"]
    print(
        f"{len(layers)} layer image(s) in {data['repository']}: {_size(data['totalBytes'])} "
        f"of a {_size(data['budgetBytes'])} budget (OC_JUPYTER_CACHE_MAX_GB)"
    )
    for layer in layers:
        needed = f"  needed by {layer['needed']}" if layer["needed"] else ""
        tag = layer["image"].rsplit(":", 1)[-1][:12]
        print(f"  {tag}  {_size(layer['sizeBytes']):>9}  last used {layer['lastUsedAt']}{needed}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    data = _call("POST", "/cache/prune", {"all": args.all})
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(
        f"removed {len(data['removed'])} layer image(s), {_size(data['freedBytes'])}; "
        f"{_size(data['totalBytes'])} remain" + ("" if args.all else f" of a {_size(data['budgetBytes'])} budget")
    )
    if data["inUse"]:
        print(f"kept {len(data['inUse'])} image(s) a container still uses", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    cache = commands.add_parser("cache", help="see or prune the layer images the local server keeps")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="layer images with their own size and last use, newest first")
    listing.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    listing.set_defaults(run=_list)
    prune = actions.add_parser("prune", help="remove least recently used layers beyond the budget")
    prune.add_argument(
        "--all", action="store_true", help="remove every layer no snapshot, sandbox or build in progress needs"
    )
    prune.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    prune.set_defaults(run=_prune)
