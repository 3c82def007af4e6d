"""The panel's file browser routes: list a sandbox folder, download a file, upload one, all streamed.

``GET  {base}/oc-jupyter/sandboxes/ID/files?path=/dir``            → ``{"path", "entries": [...]}``
``GET  {base}/oc-jupyter/sandboxes/ID/files/download?path=/f``     → the bytes, as an attachment
``PUT  {base}/oc-jupyter/sandboxes/ID/files/upload?path=/f``       ← the raw body, written to ``/f``

They need the Jupyter login like the panel's other routes (and the XSRF token
for the upload). Bodies pass through in chunks in both directions, so a large
file never sits whole in the Jupyter server's memory, and the browser never
sees the backend's key: the server fetches with its own credentials.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import tornado.web
from jupyter_server.utils import url_path_join

from oc_jupyter.sdk import Sandbox
from oc_jupyter.sdk.errors import OCError

from .backend import BackendState
from .routes import NAMESPACE, _Handler

__all__ = ["MAX_UPLOAD_BYTES", "setup_file_handlers"]

#: The largest upload the route accepts (Tornado's default limit is 100 MB).
MAX_UPLOAD_BYTES = 10 * 1024**3
_CHUNK = 1024 * 1024
# Chunks queued between the browser and the backend: bounds the memory one upload holds.
_QUEUED = 8


def _path_argument(handler: tornado.web.RequestHandler) -> str:
    path = handler.get_query_argument("path", "")
    if not path.startswith("/") or "\x00" in path:
        raise tornado.web.HTTPError(
            400, reason="Bad path", log_message=f"Path {path!r} must be absolute (start with /) and contain no NUL."
        )
    return path


def _attachment(name: str) -> str:
    # The sandbox chose the name: only the RFC 5987 form carries it, percent-encoded,
    # with a plain ASCII fallback, so no quote or newline reaches the header.
    fallback = "".join(c if c.isascii() and c.isalnum() or c in "._-" else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class _FileHandler(_Handler):
    async def sandbox(self, sandbox_id: str) -> Sandbox:
        config = await self.backend.config()
        return await Sandbox.connect(sandbox_id, config=config)

    def fail_message(self, status: int, message: str) -> None:
        self.set_status(status)
        self.reply({"message": message})


class ListHandler(_FileHandler):
    @tornado.web.authenticated
    async def get(self, sandbox_id: str) -> None:
        path = _path_argument(self)
        try:
            sandbox = await self.sandbox(sandbox_id)
            entries = await sandbox.files.list(path)
        except OCError as exc:
            return self.fail(exc)
        self.reply(
            {
                "path": path,
                "entries": [
                    {"name": e.name, "isDir": e.is_dir, "size": e.size, "path": posixpath.join(path, e.name)}
                    for e in sorted(entries, key=lambda e: (not e.is_dir, e.name))
                ],
            }
        )


class DownloadHandler(_FileHandler):
    @tornado.web.authenticated
    async def get(self, sandbox_id: str) -> None:
        path = _path_argument(self)
        try:
            sandbox = await self.sandbox(sandbox_id)
            url = await sandbox.download_url(path, expires_in=300)
        except OCError as exc:
            return self.fail(exc)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            try:
                async with client.stream("GET", url) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        status = 404 if response.status_code == 404 else 502
                        return self.fail_message(
                            status,
                            f"Could not download {path!r} from sandbox {sandbox_id}: "
                            f"the backend answered {response.status_code}.",
                        )
                    self.set_header("Content-Type", "application/octet-stream")
                    self.set_header("Content-Disposition", _attachment(posixpath.basename(path)))
                    self.set_header("X-Content-Type-Options", "nosniff")
                    async for chunk in response.aiter_bytes(_CHUNK):
                        self.write(chunk)
                        await self.flush()
            except httpx.HTTPError as exc:
                # Named by its kind only: httpx's message may carry the signed URL, a credential.
                reason = type(exc).__name__
                if not self._headers_written:
                    return self.fail_message(
                        503,
                        f"Could not download {path!r} from sandbox {sandbox_id}: "
                        f"the connection to the backend failed ({reason}).",
                    )
                self.log.warning("Download of %r from sandbox %s broke off: %s", path, sandbox_id, reason)
                # A cut body, never one that looks complete (HTTP1Connection can close).
                self.request.connection.close()  # type: ignore[union-attr]
                return
        self.finish()


@tornado.web.stream_request_body
class UploadHandler(_FileHandler):
    """Streams the request body into the sandbox while it arrives."""

    _queue: asyncio.Queue | None = None
    _task: asyncio.Task | None = None
    _error: OCError | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()  # the Jupyter login and the XSRF token, before any byte is read
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        if self.request.method != "PUT":
            return
        self.request.connection.set_max_body_size(MAX_UPLOAD_BYTES)  # type: ignore[union-attr]  # HTTP1Connection
        path = _path_argument(self)
        sandbox_id = self.path_args[0]
        try:
            sandbox = await self.sandbox(sandbox_id)
        except OCError as exc:
            self._error = exc
            return
        self._queue = asyncio.Queue(maxsize=_QUEUED)
        self._task = asyncio.ensure_future(sandbox.files.write(path, self._body()))

    async def _body(self) -> AsyncIterator[bytes]:
        assert self._queue is not None
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    async def data_received(self, chunk: bytes) -> None:
        if self._queue is None or self._task is None or self._task.done():
            return  # the write failed already; put() reports why
        # Waits while the backend is behind, but not on a write that has ended.
        queued = asyncio.ensure_future(self._queue.put(chunk))
        await asyncio.wait({queued, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not queued.done():
            queued.cancel()

    @tornado.web.authenticated
    async def put(self, sandbox_id: str) -> None:
        if self._error is not None:
            return self.fail(self._error)
        assert self._queue is not None and self._task is not None
        if not self._task.done():
            await self._queue.put(None)
        try:
            await self._task
        except OCError as exc:
            return self.fail(exc)
        self.set_status(204)
        self.finish()

    def on_connection_close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


def setup_file_handlers(web_app, backend: BackendState | None = None) -> None:
    base = url_path_join(web_app.settings["base_url"], NAMESPACE, r"sandboxes/([^/]+)/files")
    options = {"backend": backend or BackendState()}
    web_app.add_handlers(
        ".*$",
        [
            (base, ListHandler, options),
            (url_path_join(base, "download"), DownloadHandler, options),
            (url_path_join(base, "upload"), UploadHandler, options),
        ],
    )
