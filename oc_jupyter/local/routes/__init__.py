"""The server's routes, one module per resource; :func:`api_routers` lists those under ``/api``."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["api_routers"]


def api_routers() -> list[APIRouter]:
    # Imported here, not at module level, so `routes.health` loads without the sandbox routes.
    from . import exec as exec_routes
    from . import extension, files, sandboxes, snapshots

    return [sandboxes.router, snapshots.router, extension.router, exec_routes.router, files.router]
