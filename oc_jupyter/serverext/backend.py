"""The SDK configuration the server extension uses, resolved once and reused.

Resolving may start the local backend (a blocking call of a few seconds the
first time), so it runs in a worker thread; the SDK calls themselves run on
the Jupyter server's event loop. A failed call drops the cached
configuration, so a local backend restarted on a new port or key is found
again on the next request.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from oc_jupyter.sdk import Config, Sandbox
from oc_jupyter.sdk.config import DEFAULT_API_URL
from oc_jupyter.sdk.errors import OCError

__all__ = ["BackendState"]


class BackendState:
    """Holds the resolved :class:`Config` for the Jupyter server's lifetime."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._lock = asyncio.Lock()

    async def config(self) -> Config:
        if self._config is None:
            async with self._lock:
                if self._config is None:
                    self._config = await asyncio.to_thread(Config.resolve)
        return self._config

    def forget(self) -> None:
        self._config = None

    async def describe(self) -> dict[str, Any]:
        """Which backend is in use and whether it answers, as the panel shows it."""
        try:
            config = await self.config()
        except OCError as exc:
            kind, url = _configured()
            return {"kind": kind, "url": url, "reachable": False, "message": str(exc)}
        where = "the local backend" if config.backend == "local" else config.api_url
        try:
            # The cheapest call that proves both the address and the key.
            await Sandbox.list(config=config)
        except OCError as exc:
            self.forget()
            return {"kind": config.backend, "url": config.api_url, "reachable": False, "message": str(exc)}
        return {
            "kind": config.backend,
            "url": config.api_url,
            "reachable": True,
            "message": f"Connected to {where}.",
        }


def _configured() -> tuple[str, str | None]:
    """The backend the environment asks for, when resolving it failed."""
    if os.environ.get("OPENCOMPUTER_API_KEY"):
        return "cloud", os.environ.get("OPENCOMPUTER_API_URL") or DEFAULT_API_URL
    return "local", None
