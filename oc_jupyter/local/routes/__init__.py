"""The server's routes, one module per resource; :func:`api_routers` lists those under ``/api``."""

from __future__ import annotations

import importlib
import logging

from fastapi import APIRouter

log = logging.getLogger(__name__)

__all__ = ["api_routers", "public_api_routers"]

# Route modules for commands and files run inside sandboxes; each exposes `router`.
_SANDBOX_WORK = ("exec", "files", "pty", "previews")


def api_routers() -> list[APIRouter]:
    from . import checkpoints, cloud_only, extension, lifecycle, sandboxes, signed_files, snapshots

    # Checkpoints first: /sandboxes/from-checkpoint/… must not be read as a sandbox id.
    routers = [checkpoints.router, sandboxes.router, lifecycle.router, signed_files.router, snapshots.router,
               extension.router]
    for name in _SANDBOX_WORK:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:
            log.warning("routes %r unavailable: %s", name, exc)
            continue
        routers.append(module.router)
    # Last, so a feature served for real is never shadowed by its "cloud only" answer.
    routers.append(cloud_only.router)
    return routers


def public_api_routers() -> list[APIRouter]:
    """Routes under ``/api`` that carry their own credential (a signed URL) instead of the API key."""
    from . import signed_files

    return [signed_files.public_router]
