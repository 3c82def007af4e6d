"""Signed file URLs: one file of one sandbox, downloadable or uploadable without the API key until they expire.

``POST /sandboxes/:id/files/download-url`` (and ``/upload-url``) need the
key and answer ``{url}``; the URL's query carries the path, the expiry and an
HMAC-SHA256 signature over method, sandbox id, path and expiry, keyed by a
key derived from the server's secret. ``GET …/files/download`` and
``PUT …/files/upload`` then check only that signature, so a URL works for
exactly one method, sandbox and path, and never after it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..agent.lookup import sandbox_agent
from ..errors import ApiError
from ..models import JsonInt, error_responses
from ..state import State, get_state
from .files import _rechunk, checked

__all__ = ["router", "public_router", "sign"]

MAX_EXPIRES_IN = 86400

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/files", tags=["files"], responses=error_responses(400, 401, 404, 500, 503)
)
# Served without the API key: the signature is the credential.
public_router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/files", tags=["files"], responses=error_responses(400, 403, 404, 500, 503)
)


class Forbidden(ApiError):
    status_code = 403


class UrlRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    # The pattern documents the rule for schema-driven clients; checked() enforces it with a friendlier sentence.
    path: str = Field(description="Absolute path inside the sandbox.", json_schema_extra={"pattern": r"^/[^\x00]*$"})
    expiresIn: JsonInt = Field(default=3600, ge=1, le=MAX_EXPIRES_IN, description="Seconds the URL stays valid.")


class SignedUrl(BaseModel):
    url: str


def _signing_key(secret: str) -> bytes:
    # Derived, so a leaked URL signature says nothing about the API key itself.
    return hmac.new(secret.encode(), b"oc-jupyter signed file URLs v1", hashlib.sha256).digest()


def sign(secret: str, method: str, sandbox_id: str, path: str, expires: int) -> str:
    message = "\n".join((method, sandbox_id, path, str(expires))).encode()
    return hmac.new(_signing_key(secret), message, hashlib.sha256).hexdigest()


def _url(request: Request, state: State, method: str, sandbox_id: str, body: UrlRequest) -> dict[str, str]:
    path = checked(body.path)
    state.sandboxes.record(sandbox_id)
    expires = int(time.time()) + body.expiresIn
    query = urlencode(
        {"path": path, "expires": expires, "signature": sign(state.key, method, sandbox_id, path, expires)}
    )
    action = "download" if method == "GET" else "upload"
    base = str(request.base_url).rstrip("/")
    return {"url": f"{base}/api/sandboxes/{sandbox_id}/files/{action}?{query}"}


@router.post("/download-url", response_model=SignedUrl)
async def download_url(
    sandbox_id: str, body: UrlRequest, request: Request, state: State = Depends(get_state)
) -> dict[str, str]:
    """A URL that downloads ``path`` without the API key until it expires (at most a day)."""
    return _url(request, state, "GET", sandbox_id, body)


@router.post("/upload-url", response_model=SignedUrl)
async def upload_url(
    sandbox_id: str, body: UrlRequest, request: Request, state: State = Depends(get_state)
) -> dict[str, str]:
    """A URL that accepts a PUT of ``path``'s new content without the API key until it expires."""
    return _url(request, state, "PUT", sandbox_id, body)


def _verify(state: State, method: str, sandbox_id: str, path: str, expires: int, signature: str) -> None:
    expected = sign(state.key, method, sandbox_id, path, expires)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden(
            f"The signature of this URL does not match {method} of {path!r} in sandbox {sandbox_id!r}; "
            "use the URL exactly as POST /sandboxes/<id>/files/download-url or /upload-url returned it."
        )
    if expires < time.time():
        when = datetime.fromtimestamp(expires, timezone.utc).isoformat().replace("+00:00", "Z")
        raise Forbidden(
            f"This signed URL expired at {when}; ask for a new one with POST /sandboxes/<id>/files/"
            + ("download-url." if method == "GET" else "upload-url.")
        )


_SIGNED = {
    "path": Query(description="Absolute path inside the sandbox, as signed."),
    "expires": Query(description="Expiry, in seconds since the epoch, as signed."),
    "signature": Query(description="HMAC-SHA256 signature of the URL."),
}


@public_router.get(
    "/download", response_class=StreamingResponse, responses={200: {"content": {"application/octet-stream": {}}}}
)
async def signed_download(
    sandbox_id: str,
    request: Request,
    path: str = _SIGNED["path"],
    expires: int = _SIGNED["expires"],
    signature: str = _SIGNED["signature"],
    state: State = Depends(get_state),
) -> StreamingResponse:
    """The file's bytes, streamed, for a valid signature (no API key)."""
    _verify(state, "GET", sandbox_id, path, expires, signature)
    agent = await sandbox_agent(request, sandbox_id)
    _, chunks = await agent.open_read(checked(path))
    chunks = _touching(state, sandbox_id, chunks)
    filename = path.rstrip("/").rsplit("/", 1)[-1] or "download"
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}"},
    )


@public_router.put("/upload", status_code=204, response_class=Response)
async def signed_upload(
    sandbox_id: str,
    request: Request,
    path: str = _SIGNED["path"],
    expires: int = _SIGNED["expires"],
    signature: str = _SIGNED["signature"],
    state: State = Depends(get_state),
) -> Response:
    """Write the request body (streamed) to the signed path (no API key)."""
    _verify(state, "PUT", sandbox_id, path, expires, signature)
    agent = await sandbox_agent(request, sandbox_id)
    await agent.write(checked(path), _touching(state, sandbox_id, _rechunk(request.stream())))
    state.touch(sandbox_id)
    return Response(status_code=204)


async def _touching(state: State, sandbox_id: str, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks``, marking the sandbox active with each, so a long transfer is never frozen by the idle timeout."""
    async for chunk in chunks:
        state.touch(sandbox_id)
        yield chunk


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
