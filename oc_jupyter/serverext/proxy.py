"""``{base_url}oc-jupyter/proxy/{sandbox}/{port}/…``: a sandbox's preview URL through the Jupyter server.

Like jupyter-server-proxy, every request needs the Jupyter login (token or
cookie); the Jupyter server then forwards HTTP and WebSocket traffic to the
backend's preview URL with the credential it holds, so the browser never sees
the API key or the preview token. What identifies the user to Jupyter (its
login cookie, its XSRF cookie, an ``Authorization: token`` header, a
``?token=`` parameter) is taken off before the request goes on: the program
in the sandbox is not trusted with it.

The local backend is reached by path (``{api_url}/preview/{id}/{port}/``)
with its key. A cloud preview is reached at the ``hostname`` the backend
gives it, carrying the preview token given in ``OC_JUPYTER_PREVIEW_TOKEN``
when the sandbox has one.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import tornado.web
import tornado.websocket
import websockets
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from websockets.typing import Subprotocol

from oc_jupyter.sdk import Sandbox
from oc_jupyter.sdk.errors import OCError

from .backend import BackendState

__all__ = ["PROXY_PATH", "ProxyHandler", "setup_proxy_handlers"]

PROXY_PATH = "oc-jupyter/proxy"
#: Kernels started by this server inherit it, so ``%oc_expose`` can print links under the right prefix.
BASE_ENV = "OC_JUPYTER_PROXY_BASE"

_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "cookie",
    "x-xsrftoken",
    "x-api-key",
    "x-oc-preview-token",
}
_NOT_BACK = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "trailer",
    "upgrade",
    "content-length",
}


class _Target:
    """Where one exposed port is reached and with which headers."""

    def __init__(self, http: str, headers: dict[str, str]) -> None:
        self.http = http.rstrip("/")
        self.headers = headers

    @property
    def ws(self) -> str:
        return "ws" + self.http[len("http") :]


async def _target(backend: BackendState, sandbox_id: str, port: int) -> _Target:
    config = await backend.config()
    if config.backend == "local":
        return _Target(f"{config.api_url}/preview/{quote(sandbox_id)}/{port}", {"X-API-Key": config.api_key})
    sandbox = Sandbox(sandbox_id, config)
    for preview in await sandbox.list_preview_urls():
        if preview.get("port") == port and preview.get("hostname"):
            token = os.environ.get("OC_JUPYTER_PREVIEW_TOKEN", "")
            return _Target(f"https://{preview['hostname']}", {"Authorization": f"Bearer {token}"} if token else {})
    raise tornado.web.HTTPError(404, reason=f"Sandbox {sandbox_id} has no preview URL for port {port}")


# The two bases type check_origin differently; WebSocketHandler's, first in the MRO, is the one used.
class ProxyHandler(tornado.websocket.WebSocketHandler, JupyterHandler):  # type: ignore[misc]
    """HTTP (every method) and WebSocket to one exposed port of a sandbox."""

    def initialize(self, backend: BackendState) -> None:
        self.backend = backend
        self.upstream: Any = None
        self._outgoing: asyncio.Queue | None = None
        self._pumps: list[asyncio.Task] = []

    def check_xsrf_cookie(self) -> None:
        # The page in the sandbox posts its own forms; Jupyter's XSRF token is not in them.
        # The login is still required (authenticated below), and the cookie never reaches the sandbox.
        return

    def _prefix(self, sandbox_id: str, port: str) -> str:
        return url_path_join(self.base_url, PROXY_PATH, sandbox_id, port)

    def _is_jupyters(self, cookie: str) -> bool:
        return cookie in (self.cookie_name, "_xsrf") or cookie.startswith("username-")

    def _forward_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in _HOP}
        kept = [(name, morsel.value) for name, morsel in self.request.cookies.items() if not self._is_jupyters(name)]
        if kept:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in kept)
        headers["X-Forwarded-Host"] = self.request.host
        headers["X-Forwarded-Proto"] = self.request.protocol
        return headers

    def _query(self) -> str:
        pairs = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True) if k != "token"]
        return ("?" + urlencode(pairs)) if pairs else ""

    async def _resolve(self, sandbox_id: str, port: str) -> _Target | None:
        try:
            return await _target(self.backend, sandbox_id, int(port))
        except OCError as exc:
            self.backend.forget()
            self.set_status(502)
            self.finish({"message": str(exc)})
            return None

    # -- HTTP -----------------------------------------------------------
    async def _proxy(self, sandbox_id: str, port: str, path: str) -> None:
        target = await self._resolve(sandbox_id, port)
        if target is None:
            return
        url = f"{target.http}/{path}{self._query()}"
        headers = {**self._forward_headers(), **target.headers}
        body = self.request.body if self.request.method not in ("GET", "HEAD") else None
        timeout = httpx.Timeout(30.0, read=None)
        async with httpx.AsyncClient(timeout=timeout) as client:
            try:
                async with client.stream(self.request.method, url, headers=headers, content=body) as response:
                    self.set_status(response.status_code, response.reason_phrase or None)
                    self.clear_header("Content-Type")
                    for name, value in response.headers.multi_items():
                        lower = name.lower()
                        if lower in _NOT_BACK:
                            continue
                        if lower == "location" and value.startswith("/"):
                            value = self._prefix(sandbox_id, port) + value
                        if lower == "set-cookie" and self._is_jupyters(value.split("=", 1)[0].strip()):
                            continue  # the sandbox must not replace the Jupyter login or XSRF cookie
                        self.add_header(name, value)
                    async for chunk in response.aiter_raw():
                        self.write(chunk)
                        await self.flush()
            except httpx.HTTPError as exc:
                if not self._headers_written:
                    self.set_status(502)
                    self.finish({"message": f"The backend's preview URL did not answer ({type(exc).__name__})."})
                return
        self.finish()

    @tornado.web.authenticated
    async def get(self, sandbox_id: str, port: str, path: str) -> None:  # type: ignore[override]  # tornado types authenticated as returning Awaitable | None
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await super().get(sandbox_id, port, path)
        else:
            await self._proxy(sandbox_id, port, path)

    @tornado.web.authenticated
    async def post(self, sandbox_id: str, port: str, path: str) -> None:
        await self._proxy(sandbox_id, port, path)

    put = patch = delete = options = head = post

    # -- WebSocket --------------------------------------------------------
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return subprotocols[0] if subprotocols else None

    async def open(self, sandbox_id: str, port: str, path: str) -> None:
        target = await _target(self.backend, sandbox_id, int(port))
        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        headers = {
            k: v
            for k, v in self._forward_headers().items()
            if not k.lower().startswith("sec-websocket") and k.lower() != "origin"
        }
        try:
            self.upstream = await websockets.connect(
                f"{target.ws}/{path}{self._query()}",
                additional_headers={**headers, **target.headers},
                subprotocols=[Subprotocol(p) for p in offered] or None,
                max_size=None,
                open_timeout=30,
            )
        except Exception as exc:  # noqa: BLE001 - any failure to connect ends this socket the same way
            self.close(1011, f"the preview did not accept the WebSocket ({type(exc).__name__})")
            return
        self._outgoing = asyncio.Queue()
        self._pumps = [asyncio.create_task(self._down()), asyncio.create_task(self._up())]

    async def _down(self) -> None:
        try:
            async for message in self.upstream:
                await self.write_message(message, binary=isinstance(message, bytes))
        except (websockets.ConnectionClosed, tornado.websocket.WebSocketClosedError):
            pass
        self.close()

    async def _up(self) -> None:
        assert self._outgoing is not None
        try:
            while True:
                await self.upstream.send(await self._outgoing.get())
        except websockets.ConnectionClosed:
            self.close()

    def on_message(self, message: str | bytes) -> None:
        if self._outgoing is not None:
            self._outgoing.put_nowait(message)

    def on_close(self) -> None:
        for task in self._pumps:
            task.cancel()
        if self.upstream is not None:
            asyncio.ensure_future(self.upstream.close())


def setup_proxy_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], PROXY_PATH)
    os.environ[BASE_ENV] = base + "/"
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, r"([^/]+)/(\d+)/(.*)"), ProxyHandler, {"backend": BackendState()}),
            (url_path_join(base, r"([^/]+)/(\d+)"), tornado.web.RedirectHandler, {"url": base + "/{0}/{1}/"}),
        ],
    )
