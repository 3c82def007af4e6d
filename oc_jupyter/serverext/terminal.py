"""``{base_url}oc-jupyter/sandboxes/{id}/terminal``: a sandbox's shell in a JupyterLab tab.

The browser opens a WebSocket here with its Jupyter login, exactly like
JupyterLab's own terminals (token or cookie, the same origin check, the
``terminals`` permission); the Jupyter server then makes the terminal through
the SDK with the credential it holds, so the browser never sees the API key.

Frames from the browser are JSON: ``{"type": "input", "data": "ls\\r"}`` or
``{"type": "resize", "cols": 120, "rows": 40}``. Frames to the browser are the
terminal's raw bytes, which the page only ever hands to xterm.js. A hibernated
sandbox is woken first. Closing the socket hangs up the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import tornado.web
import tornado.websocket
import websockets
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join

from oc_jupyter.sdk import PtySession, Sandbox
from oc_jupyter.sdk.errors import OCError

from .backend import BackendState

__all__ = ["TerminalHandler", "setup_terminal_handlers", "terminal_size"]

#: The same limit the backend applies; a bigger window is shown at this size.
_MAX_SIDE = 1000


def terminal_size(cols: Any, rows: Any) -> tuple[int, int] | None:
    """``(cols, rows)`` when both are whole numbers in 1..1000, else ``None``."""
    try:
        c, r = int(cols), int(rows)
    except (TypeError, ValueError):
        return None
    if isinstance(cols, bool) or isinstance(rows, bool) or not (0 < c <= _MAX_SIDE and 0 < r <= _MAX_SIDE):
        return None
    return c, r


class TerminalHandler(WebSocketMixin, JupyterHandler, tornado.websocket.WebSocketHandler):
    """One browser tab's terminal: relays keystrokes and resizes up, output down."""

    auth_resource = "terminals"

    def initialize(self, backend: BackendState) -> None:
        self.backend = backend
        self.session: PtySession | None = None
        self._pump: asyncio.Task | None = None
        self._closed = False

    @ws_authenticated
    async def get(self, sandbox_id: str) -> None:
        # The same permission JupyterLab's own terminals need.
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "execute", self.auth_resource)
        ):
            raise tornado.web.HTTPError(403)
        await super().get(sandbox_id)

    async def open(self, sandbox_id: str) -> None:
        super().open()
        size = terminal_size(self.get_argument("cols", "80"), self.get_argument("rows", "24")) or (80, 24)
        try:
            config = await self.backend.config()
            sandbox = await Sandbox.connect(sandbox_id, config=config)
            if sandbox.status == "hibernated":
                await sandbox.wake()
            session = await sandbox.pty.create(cols=size[0], rows=size[1])
        except OCError as exc:
            self.backend.forget()
            self._say(f"\r\n{exc}\r\n")
            self.close(1011, "the terminal could not be started")
            return
        if self._closed:  # the tab went away while the terminal was being made
            await _end(session)
            return
        self.session = session
        self._pump = asyncio.create_task(self._down())

    def _say(self, text: str) -> None:
        with contextlib.suppress(tornado.websocket.WebSocketClosedError):
            self.write_message(text.encode(), binary=True)

    async def _down(self) -> None:
        assert self.session is not None
        try:
            while True:
                await self.write_message(await self.session.recv(), binary=True)
        except websockets.ConnectionClosed:
            self._say("\r\n[the shell ended]\r\n")
        except tornado.websocket.WebSocketClosedError:
            pass
        self.close()

    async def on_message(self, message: str | bytes) -> None:
        if self.session is None:
            return
        try:
            frame = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(frame, dict):
            return
        try:
            if frame.get("type") == "input" and isinstance(frame.get("data"), str):
                await self.session.send(frame["data"])
            elif frame.get("type") == "resize":
                size = terminal_size(frame.get("cols"), frame.get("rows"))
                if size:
                    await self.session.resize(*size)
        except (OCError, websockets.ConnectionClosed) as exc:
            self.log.warning("oc-jupyter terminal %s: %s", self.session.session_id, exc)

    def on_close(self) -> None:
        self._closed = True
        if self._pump is not None:
            self._pump.cancel()
        if self.session is not None:
            asyncio.ensure_future(_end(self.session))
            self.session = None


async def _end(session: PtySession) -> None:
    """Hang up the shell, then drop the socket; a sandbox already gone has nothing left to end."""
    with contextlib.suppress(OCError):
        await session.kill()
    with contextlib.suppress(Exception):
        await session.close()


def setup_terminal_handlers(web_app, namespace: str) -> None:
    base = url_path_join(web_app.settings["base_url"], namespace)
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, r"sandboxes/([^/]+)/terminal"), TerminalHandler, {"backend": BackendState()}),
        ],
    )
