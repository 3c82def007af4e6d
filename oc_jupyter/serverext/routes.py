"""The panel's JSON routes under ``{base_url}/oc-jupyter/``.

Every verb is ``@tornado.web.authenticated`` on an ``APIHandler``, so a request
needs the Jupyter server's token or login cookie, and a cookie-authenticated
DELETE needs the XSRF token too, like every other Jupyter API. Errors come
back as ``{"message": ...}`` with a status naming who failed: 404/409 for the
named thing, 503 when the backend cannot be reached, 502 when it answered
with an error of its own (its 401 included, so the browser never mistakes it
for an expired Jupyter login).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from oc_jupyter.sdk import Sandbox, Snapshots
from oc_jupyter.sdk.errors import BackendUnavailable, Conflict, NotFound, OCError, RequestError

from .backend import BackendState
from .payloads import preview_ports, sandbox_payload, snapshot_payload

__all__ = ["setup_route_handlers", "NAMESPACE"]

#: Named after the package, as JupyterLab extensions do.
NAMESPACE = "oc-jupyter"


def error_status(exc: OCError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, BackendUnavailable):
        return 503
    if isinstance(exc, RequestError) and exc.status in (400, 422):
        return 400
    return 502


class _Handler(APIHandler):
    def initialize(self, backend: BackendState) -> None:
        self.backend = backend

    def reply(self, payload: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def fail(self, exc: OCError) -> None:
        status = error_status(exc)
        if status >= 500:
            self.backend.forget()
        self.set_status(status)
        self.reply({"message": str(exc)})


class BackendHandler(_Handler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.backend.describe())


class SnapshotsHandler(_Handler):
    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            config = await self.backend.config()
            infos = await Snapshots(config=config).list()
        except OCError as exc:
            return self.fail(exc)
        self.reply({"snapshots": [snapshot_payload(i) for i in infos]})


class SnapshotHandler(_Handler):
    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        try:
            config = await self.backend.config()
            await Snapshots(config=config).delete(name)
        except OCError as exc:
            return self.fail(exc)
        self.set_status(204)
        self.finish()


class SandboxesHandler(_Handler):
    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            config = await self.backend.config()
            infos = await Sandbox.list(config=config)
        except OCError as exc:
            return self.fail(exc)
        ports = await asyncio.gather(*(_ports(info, config) for info in infos))
        self.reply({"sandboxes": [sandbox_payload(i, p) for i, p in zip(infos, ports, strict=True)]})


async def _ports(info: Any, config: Any) -> list[int]:
    """The exposed ports of a running sandbox; none shown when it is asleep or cannot say."""
    if info.get("status") != "running":
        return []
    try:
        return preview_ports(await Sandbox(info.get("sandboxID"), config).list_preview_urls())
    except OCError:
        return []


class SandboxHandler(_Handler):
    @tornado.web.authenticated
    async def delete(self, sandbox_id: str) -> None:
        try:
            config = await self.backend.config()
            sandbox = await Sandbox.connect(sandbox_id, config=config)
            await sandbox.kill()
        except OCError as exc:
            return self.fail(exc)
        self.set_status(204)
        self.finish()


class WakeHandler(_Handler):
    @tornado.web.authenticated
    async def post(self, sandbox_id: str) -> None:
        try:
            config = await self.backend.config()
            sandbox = await Sandbox.connect(sandbox_id, config=config)
            await sandbox.wake()
        except OCError as exc:
            return self.fail(exc)
        self.set_status(204)
        self.finish()


class PreviewHandler(_Handler):
    @tornado.web.authenticated
    async def delete(self, sandbox_id: str, port: str) -> None:
        if not 1 <= int(port) <= 65535:
            self.set_status(400)
            return self.reply({"message": f"The port must be a whole number from 1 to 65535, got {port}."})
        try:
            config = await self.backend.config()
            await Sandbox(sandbox_id, config).delete_preview_url(int(port))
        except OCError as exc:
            return self.fail(exc)
        self.set_status(204)
        self.finish()


def setup_route_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], NAMESPACE)
    options = {"backend": BackendState()}
    handlers = [
        (url_path_join(base, "backend"), BackendHandler, options),
        (url_path_join(base, "snapshots"), SnapshotsHandler, options),
        (url_path_join(base, r"snapshots/([^/]+)"), SnapshotHandler, options),
        (url_path_join(base, "sandboxes"), SandboxesHandler, options),
        (url_path_join(base, r"sandboxes/([^/]+)"), SandboxHandler, options),
        (url_path_join(base, r"sandboxes/([^/]+)/wake"), WakeHandler, options),
        (url_path_join(base, r"sandboxes/([^/]+)/previews/(\d+)"), PreviewHandler, options),
    ]
    web_app.add_handlers(".*$", handlers)
