"""Preview URLs: HTTP and WebSocket to a port inside a sandbox, carried by its terminal agent.

The API (under ``/api``, the key required) makes, lists and deletes preview
URLs and rotates a sandbox's preview token. The proxy serves each preview two
ways on the server's own address:

- by path: ``http://127.0.0.1:PORT/preview/{sandboxID}/{port}/…``;
- by host, as the cloud does: ``http://{sandboxID}-p{port}.localhost:PORT/…``
  (browsers resolve ``*.localhost`` to the loopback; other clients send the
  ``Host`` header).

A hit must carry the sandbox's preview token (``Authorization: Bearer …`` or
``X-OC-Preview-Token``) or the server's API key (``X-API-Key``; WebSockets
may pass ``?api_key=``). The check runs before the sandbox is looked at, so
a refused hit does nothing to the sandbox. The credential is taken off the
request before it is forwarded: the program in the sandbox never sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
from typing import Any

import httpcore
from fastapi import (
    APIRouter,
    Depends,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..agent.lookup import refuse, require_key
from ..agent.pty import TerminalAgent, terminals_for
from ..agent.tunnel import TunnelPool, UpstreamWebSocket
from ..errors import ApiError, NotFoundError
from ..models import JsonInt, error_responses
from ..previews import peek, previews_of
from ..state import get_state

__all__ = ["PreviewHosts", "forget_pool", "proxy_router", "router"]

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/preview", tags=["previews"], responses=error_responses(400, 401, 404, 500, 503)
)
proxy_router = APIRouter(prefix="/preview/{sandbox_id}/{port}", include_in_schema=False)

TOKEN_HEADER = "X-OC-Preview-Token"
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), and the credentials the proxy consumes.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "host",
    "x-api-key",
    TOKEN_HEADER.lower(),
}
_NOT_BACK = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "trailer", "upgrade"}


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    port: JsonInt = Field(ge=1, le=65535)
    domain: str | None = Field(default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")
    authConfig: dict[str, Any] | None = None


def _where(request: Request) -> tuple[str, str]:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return host, request.url.scheme


@router.post(
    "",
    responses={200: {"description": "The preview URL already existed."}},
    status_code=201,
    dependencies=[Depends(require_key)],
)
async def create_preview(sandbox_id: str, body: PreviewBody, request: Request) -> JSONResponse:
    """Expose a port of the sandbox; 200 with the existing preview when the port already has one."""
    record = await get_state(request).get_sandbox(sandbox_id)
    preview, made = previews_of(record.id).add(record.id, body.port, body.domain, body.authConfig or {})
    return JSONResponse(preview.to_api(*_where(request)), status_code=201 if made else 200)


@router.get("", dependencies=[Depends(require_key)])
async def list_previews(sandbox_id: str, request: Request) -> list[dict[str, Any]]:
    record = await get_state(request).get_sandbox(sandbox_id)
    entry = peek(record.id)
    ports = sorted(entry.ports.values(), key=lambda p: p.port) if entry else []
    return [preview.to_api(*_where(request)) for preview in ports]


@router.post("/rotate", dependencies=[Depends(require_key)])
async def rotate_token(sandbox_id: str, request: Request) -> dict[str, str]:
    """Make a new preview token; the previous one stops working at once."""
    record = await get_state(request).get_sandbox(sandbox_id)
    return {"previewAuthToken": previews_of(record.id).rotate()}


@router.delete("/{port}", status_code=204, dependencies=[Depends(require_key)])
async def delete_preview(sandbox_id: str, port: int, request: Request) -> Response:
    record = await get_state(request).get_sandbox(sandbox_id)
    entry = peek(record.id)
    if entry is None or entry.ports.pop(port, None) is None:
        raise NotFoundError(
            f"Sandbox {sandbox_id!r} has no preview URL for port {port}; "
            f"list them with GET /api/sandboxes/{sandbox_id}/preview."
        )
    return Response(status_code=204)


# -- the proxy ---------------------------------------------------------------
def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def _refusal(conn: Request | WebSocket, sandbox_id: str, port: int) -> tuple[int, str] | None:
    """Why this hit may not pass (status, sentence), or ``None``; touches nothing of the sandbox."""
    key = conn.headers.get("x-api-key")
    if key is None and conn.scope["type"] == "websocket":
        key = conn.query_params.get("api_key")
    entry = peek(sandbox_id)
    given = conn.headers.get(TOKEN_HEADER) or _bearer(conn.headers.get("authorization"))
    allowed = (key is not None and hmac.compare_digest(key.encode(), get_state(conn).key.encode())) or (
        given is not None and entry is not None and entry.token_matches(given)
    )
    if not allowed:
        return 401, (
            f"This preview needs the sandbox's preview token in an 'Authorization: Bearer' or "
            f"{TOKEN_HEADER} header (make one with rotate_preview_auth_token()), or the server's key "
            "in X-API-Key."
        )
    if entry is None or port not in entry.ports:
        return 404, (
            f"Sandbox {sandbox_id!r} has no preview URL for port {port}; create one with create_preview_url({port})."
        )
    return None


async def _agent(conn: Request | WebSocket, sandbox_id: str) -> TerminalAgent:
    state = get_state(conn)
    record = await state.get_sandbox(sandbox_id)
    state.touch(sandbox_id)
    return terminals_for(record.id, record.container_id, state.engine())


_pools: dict[str, TunnelPool] = {}


def _pool(agent: TerminalAgent) -> TunnelPool:
    pool = _pools.get(agent.sandbox_id)
    if pool is None or pool.agent is not agent:
        pool = _pools[agent.sandbox_id] = TunnelPool(agent)
    return pool


async def forget_pool(sandbox_id: str) -> None:
    """Call when a sandbox is removed: closes its kept-alive connections."""
    pool = _pools.pop(sandbox_id, None)
    if pool is not None:
        await pool.aclose()


def _target(scope: Scope) -> bytes:
    # The raw path keeps the client's own percent-encoding.
    raw = scope.get("raw_path") or scope["path"].encode()
    rest = raw.split(b"/", 4)[4] if raw.count(b"/") >= 4 else b""
    target = b"/" + rest
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return target


def _forwarded(conn: Request | WebSocket, port: int) -> list[tuple[bytes, bytes]]:
    entry = peek(conn.path_params["sandbox_id"])
    headers = [(b"Host", f"127.0.0.1:{port}".encode())]
    for name, value in conn.headers.items():
        if name in _HOP:
            continue
        if name == "authorization" and entry is not None and entry.token_matches(_bearer(value) or ""):
            continue
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    headers.append((b"X-Forwarded-Host", (conn.headers.get("host") or "").encode("latin-1")))
    headers.append((b"X-Forwarded-Proto", conn.url.scheme.encode()))
    return headers


@proxy_router.api_route("", methods=["GET", "HEAD"])
async def preview_root(request: Request, sandbox_id: str, port: int) -> Response:
    return RedirectResponse(str(request.url.replace(path=request.url.path + "/")), status_code=307)


@proxy_router.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def preview_http(request: Request, sandbox_id: str, port: int, path: str) -> Response:
    refusal = _refusal(request, sandbox_id, port)
    if refusal is not None:
        return JSONResponse({"error": refusal[1]}, status_code=refusal[0])
    agent = await _agent(request, sandbox_id)
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    upstream = httpcore.Request(
        request.method,
        httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=port, target=_target(request.scope)),
        headers=_forwarded(request, port),
        content=request.stream() if has_body else b"",
        # A page may stream or long-poll for as long as it likes.
        extensions={"timeout": {"connect": 15.0, "read": None, "write": None, "pool": 30.0}},
    )
    try:
        response = await _pool(agent).pool.handle_async_request(upstream)
    except ApiError:
        raise
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.TimeoutException) as exc:
        return JSONResponse(
            {
                "error": f"The server on port {port} in sandbox {sandbox_id!r} broke off the "
                f"response ({type(exc).__name__}); check that it speaks HTTP/1.1."
            },
            status_code=502,
        )
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in response.headers
        if k.decode("latin-1").lower() not in _NOT_BACK
    ]
    result = StreamingResponse(
        response.aiter_stream(), status_code=response.status, background=BackgroundTask(response.aclose)
    )
    result.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return result


@proxy_router.websocket("/{path:path}")
async def preview_websocket(websocket: WebSocket, sandbox_id: str, port: int, path: str) -> None:
    refusal = _refusal(websocket, sandbox_id, port)
    if refusal is not None:
        await refuse(websocket, *refusal)
        return
    try:
        agent = await _agent(websocket, sandbox_id)
        headers = [
            (k.decode(), v.decode())
            for k, v in _forwarded(websocket, port)
            if k.lower()
            not in (
                b"host",
                b"sec-websocket-key",
                b"sec-websocket-version",
                b"sec-websocket-extensions",
                b"sec-websocket-protocol",
            )
        ]
        upstream = await UpstreamWebSocket.connect(
            agent,
            port,
            _target(websocket.scope).decode("latin-1"),
            headers,
            list(websocket.scope.get("subprotocols") or []),
        )
    except ApiError as exc:
        await refuse(websocket, exc.status_code, exc.message)
        return
    except ConnectionRefusedError as exc:
        await refuse(websocket, 502, f"Port {port} in sandbox {sandbox_id!r}: {exc}.")
        return
    assert upstream.response is not None
    await websocket.accept(subprotocol=upstream.response.headers.get("Sec-WebSocket-Protocol"))
    up = asyncio.create_task(_to_sandbox(websocket, upstream))
    down = asyncio.create_task(_to_client(websocket, upstream))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await upstream.close()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _to_sandbox(websocket: WebSocket, upstream: UpstreamWebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send(message["text"])


async def _to_client(websocket: WebSocket, upstream: UpstreamWebSocket) -> None:
    while True:
        message = await upstream.receive()
        if message is None:
            return
        if isinstance(message, str):
            await websocket.send_text(message)
        else:
            await websocket.send_bytes(message)


_PREVIEW_HOST = re.compile(r"^(?P<sandbox>[A-Za-z0-9][A-Za-z0-9-]*)-p(?P<port>\d{1,5})\.localhost(?::\d+)?$")


class PreviewHosts:
    """ASGI middleware: a request to ``{sandboxID}-p{port}.localhost`` is the path-based preview."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
            match = _PREVIEW_HOST.match(host.lower())
            if match:
                prefix = f"/preview/{match['sandbox']}/{match['port']}"
                scope = dict(
                    scope,
                    path=prefix + scope["path"],
                    raw_path=prefix.encode() + (scope.get("raw_path") or scope["path"].encode()),
                )
        await self.app(scope, receive, send)
