"""The server's routes, one module per resource; :func:`api_routers` lists those under ``/api``."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["api_routers", "public_api_routers"]


def api_routers() -> list[APIRouter]:
    # Imported here, not at module level, so `routes.health` loads without the sandbox routes.
    from . import (
        checkpoints,
        cloud_only,
        extension,
        files,
        lifecycle,
        previews,
        pty,
        sandboxes,
        signed_files,
        snapshots,
    )
    from . import exec as exec_routes

    return [
        # Checkpoints first: /sandboxes/from-checkpoint/… must not be read as a sandbox id.
        checkpoints.router,
        sandboxes.router,
        lifecycle.router,
        signed_files.router,
        snapshots.router,
        extension.router,
        exec_routes.router,
        files.router,
        pty.router,
        previews.router,
        # Last, so a feature served for real is never shadowed by its "cloud only" answer.
        cloud_only.router,
    ]


def public_api_routers() -> list[APIRouter]:
    """Routes under ``/api`` that carry their own credential (a signed URL) instead of the API key."""
    from . import signed_files

    return [signed_files.public_router]
