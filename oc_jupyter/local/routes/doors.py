"""The ways into a sandbox outside ``/api``: preview URLs and the unprefixed terminal socket.

Each checks its own credential (a preview token or the key), so they are
mounted without the ``/api`` key dependency. :data:`on_removed` ends a removed
sandbox's terminals, tunnels and preview URLs.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from ..agent.pty import close_all_terminals, close_terminals
from ..previews import forget_sandbox
from .previews import PreviewHosts, forget_pool, proxy_router
from .pty import bare_router

__all__ = ["PreviewHosts", "close_all", "on_removed", "routers"]

on_removed = [forget_pool, close_terminals, forget_sandbox]


def routers() -> list[APIRouter]:
    return [proxy_router, bare_router]


async def close_all() -> None:
    await asyncio.gather(close_all_terminals(), return_exceptions=True)
