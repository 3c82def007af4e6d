"""Terminals in a sandbox: a shell on a pseudo-terminal whose raw bytes travel over a WebSocket.

``POST /sandboxes/{id}/pty`` starts it, the WebSocket
``/sandboxes/{id}/pty/{sessionID}`` carries unframed bytes both ways,
``POST …/resize`` sets its size and ``DELETE …`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import websockets
from pydantic import Field

from . import _http
from .errors import SandboxError, SandboxNotFound
from .models import WireModel

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["Pty", "PtySession"]


class _PtyStarted(WireModel):
    session_id: str = Field(default="", alias="sessionID")


class PtySession:
    """One terminal: :meth:`send` keystrokes, :meth:`recv` output (unless ``on_output`` takes it), :meth:`close`."""

    def __init__(self, sandbox: Sandbox, session_id: str) -> None:
        self.sandbox = sandbox
        self.session_id = session_id
        self._ws: Any = None
        self._read_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"PtySession({self.session_id!r}, sandbox={self.sandbox.id!r})"

    @property
    def sandbox_id(self) -> str:
        return self.sandbox.id

    def _path(self, suffix: str = "") -> str:
        return f"/sandboxes/{quote(self.sandbox.id)}/pty/{quote(self.session_id)}{suffix}"

    async def _connect(self, on_output: Callable[[bytes], Any] | None) -> None:
        config = self.sandbox.config
        url = f"{config.ws_base}{self._path()}?api_key={quote(config.api_key, safe='')}"
        try:
            self._ws = await websockets.connect(
                url, additional_headers={"x-oc-sdk-version": _http.SDK_VERSION}, max_size=None, open_timeout=15
            )
        except Exception as exc:  # websockets raises many types; none may leak, nor the key in the URL
            detail = config.scrub(str(exc)) or type(exc).__name__
            raise SandboxError(
                f"Could not attach to terminal {self.session_id!r} in sandbox {self.sandbox.id!r} ({detail})."
            ) from None
        if on_output is not None:
            self._read_task = asyncio.create_task(self._pump(on_output), name=f"oc-pty-{self.session_id}")

    async def _pump(self, on_output: Callable[[bytes], Any]) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self._ws:
                on_output(message if isinstance(message, bytes) else message.encode())

    async def send(self, data: str | bytes) -> None:
        """Type ``data`` into the terminal (text as UTF-8)."""
        if self._ws is None:
            raise SandboxError(f"Terminal {self.session_id!r} is not connected.")
        try:
            await self._ws.send(data if isinstance(data, bytes) else data.encode())
        except websockets.ConnectionClosed as exc:
            raise SandboxError(f"Terminal {self.session_id!r} has ended.") from exc

    async def recv(self) -> bytes:
        """The next piece of terminal output."""
        if self._ws is None:
            raise SandboxError(f"Terminal {self.session_id!r} is not connected.")
        try:
            data = await self._ws.recv()
        except websockets.ConnectionClosed as exc:
            raise SandboxError(f"Terminal {self.session_id!r} has ended.") from exc
        return data if isinstance(data, bytes) else data.encode()

    async def resize(self, cols: int, rows: int) -> None:
        """Set the terminal's size; its foreground program is told (SIGWINCH)."""
        await _http.request(
            self.sandbox.config,
            "POST",
            self._path("/resize"),
            json_body={"cols": cols, "rows": rows},
            idempotent=True,
            not_found=SandboxNotFound,
            what=f"resize terminal {self.session_id}",
        )

    async def kill(self) -> None:
        """End the terminal's shell (``close`` only disconnects)."""
        await _http.request(
            self.sandbox.config,
            "DELETE",
            self._path(),
            not_found=SandboxNotFound,
            what=f"terminal {self.session_id}",
        )

    async def close(self) -> None:
        """Disconnect from the terminal."""
        if self._read_task is not None and not self._read_task.done():
            self._read_task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()


class Pty:
    """The terminals of one sandbox (``sandbox.pty``)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def create(
        self,
        cols: int = 80,
        rows: int = 24,
        on_output: Callable[[bytes], None] | None = None,
        *,
        shell: str | None = None,
    ) -> PtySession:
        """Start a shell (``shell``, default ``/bin/bash``) on a ``cols`` x ``rows`` terminal and connect to it.

        With ``on_output`` every piece of output goes to it; otherwise read
        it with :meth:`PtySession.recv`.
        """
        body: dict[str, Any] = {"cols": cols, "rows": rows}
        if shell is not None:
            body["shell"] = shell
        response = await _http.request(
            self._sandbox.config,
            "POST",
            f"/sandboxes/{quote(self._sandbox.id)}/pty",
            json_body=body,
            not_found=SandboxNotFound,
            what=f"open a terminal in sandbox {self._sandbox.id}",
        )
        started = _http.decode(response, self._sandbox.config, _PtyStarted, what="open a terminal")
        if not started.session_id:
            raise SandboxError(f"Sandbox {self._sandbox.id!r} opened a terminal but sent no sessionID.")
        session = PtySession(self._sandbox, started.session_id)
        await session._connect(on_output)
        return session
