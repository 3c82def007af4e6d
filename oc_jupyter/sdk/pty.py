"""Terminals in a sandbox: a shell on a pseudo-terminal, its bytes over a WebSocket.

The surface is OpenComputer's: ``sandbox.pty.create(cols=80, rows=24,
on_output=None)`` returns a :class:`PtySession` with ``send``, ``recv`` and
``close``; ``resize`` and ``kill`` are additions for what the REST routes
also offer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import websockets

from . import _http
from .errors import SandboxError, SandboxNotFound

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["Pty", "PtySession"]


class PtySession:
    """One terminal: ``send`` keystrokes, ``recv`` what the terminal shows; ``close`` ends it."""

    def __init__(self, session_id: str, sandbox: Sandbox, ws: websockets.ClientConnection) -> None:
        self.session_id = session_id
        self.sandbox = sandbox
        self._ws = ws
        self._read_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"PtySession({self.session_id!r}, sandbox={self.sandbox_id!r})"

    @property
    def sandbox_id(self) -> str:
        return self.sandbox.id

    async def send(self, data: str | bytes) -> None:
        """Type ``data`` into the terminal (``"\\r"`` is Enter)."""
        await self._ws.send(data if isinstance(data, bytes) else data.encode())

    async def recv(self) -> bytes:
        """The next bytes the terminal printed; raises ``websockets.ConnectionClosed`` once the shell ended."""
        data = await self._ws.recv()
        return data if isinstance(data, bytes) else data.encode()

    async def resize(self, cols: int, rows: int) -> None:
        """Set the terminal's size (the running program sees SIGWINCH)."""
        await _http.request(
            self.sandbox.config,
            "POST",
            self._path("/resize"),
            json_body={"cols": cols, "rows": rows},
            idempotent=True,
            not_found=SandboxNotFound,
            what=f"terminal {self.session_id}",
        )

    async def kill(self) -> None:
        """Hang up the shell now (``close`` only leaves; the server ends a terminal nobody watches)."""
        await _http.request(
            self.sandbox.config, "DELETE", self._path(), not_found=SandboxNotFound, what=f"terminal {self.session_id}"
        )

    async def close(self) -> None:
        """Stop reading and close the socket."""
        if self._read_task is not None and not self._read_task.done():
            self._read_task.cancel()
        await self._ws.close()

    def _path(self, suffix: str = "") -> str:
        return f"/sandboxes/{quote(self.sandbox.id)}/pty/{quote(self.session_id)}{suffix}"


class Pty:
    """``sandbox.pty``: makes terminals."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def create(
        self, cols: int = 80, rows: int = 24, on_output: Callable[[bytes], None] | None = None
    ) -> PtySession:
        """Start a shell on a new ``cols`` x ``rows`` terminal; ``on_output`` then receives every output chunk."""
        config = self.sandbox.config
        response = await _http.request(
            config,
            "POST",
            f"/sandboxes/{quote(self.sandbox.id)}/pty",
            json_body={"cols": cols, "rows": rows},
            not_found=SandboxNotFound,
            what=f"sandbox {self.sandbox.id}",
        )
        session_id = response.json()["sessionID"]
        url = (
            f"{config.ws_base}/sandboxes/{quote(self.sandbox.id)}/pty/{quote(session_id)}"
            f"?api_key={quote(config.api_key, safe='')}"
        )
        try:
            ws = await websockets.connect(
                url, additional_headers={"x-oc-sdk-version": _http.SDK_VERSION}, max_size=None, open_timeout=15
            )
        except Exception as exc:  # noqa: BLE001 - websockets raises many types; none may leak, nor the key in the URL
            detail = config.scrub(str(exc)) or type(exc).__name__
            raise SandboxError(
                f"Could not attach to terminal {session_id!r} in sandbox {self.sandbox.id!r} ({detail})."
            ) from None
        session = PtySession(session_id, self.sandbox, ws)
        if on_output is not None:

            async def read() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for message in ws:
                        on_output(message if isinstance(message, bytes) else message.encode())

            session._read_task = asyncio.create_task(read(), name=f"oc-pty-{session_id}")
        return session
