"""Preview URLs of a sandbox: its ports reachable over HTTP and WebSocket, gated by a bearer token.

Plain functions on a :class:`~.sandbox.Sandbox`; the sandbox exposes them as
``create_preview_url``, ``list_preview_urls``, ``delete_preview_url`` and
``rotate_preview_auth_token``, OpenComputer's names and defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import _http
from .errors import NotFound, SandboxNotFound

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["create_preview_url", "delete_preview_url", "list_preview_urls", "rotate_preview_auth_token"]


def _path(sandbox: Sandbox, suffix: str = "") -> str:
    return f"/sandboxes/{quote(sandbox.id)}/preview{suffix}"


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 1 to 65535, got {port!r}.")
    return port


async def create_preview_url(
    sandbox: Sandbox, port: int, domain: str | None = None, auth_config: dict | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"port": _port(port), "authConfig": auth_config or {}}
    if domain:
        body["domain"] = domain
    # Idempotent on the server: a second create answers the existing preview.
    response = await _http.request(
        sandbox.config,
        "POST",
        _path(sandbox),
        json_body=body,
        idempotent=True,
        not_found=SandboxNotFound,
        what=f"preview URL for port {port}",
    )
    return response.json()


async def list_preview_urls(sandbox: Sandbox) -> list[dict[str, Any]]:
    response = await _http.request(
        sandbox.config, "GET", _path(sandbox), not_found=SandboxNotFound, what=f"preview URLs of {sandbox.id}"
    )
    return response.json()


async def delete_preview_url(sandbox: Sandbox, port: int) -> None:
    try:
        await _http.request(
            sandbox.config, "DELETE", _path(sandbox, f"/{_port(port)}"), what=f"preview URL for port {port}"
        )
    except NotFound:
        pass  # already gone, as the official client treats it


async def rotate_preview_auth_token(sandbox: Sandbox) -> str:
    response = await _http.request(
        sandbox.config,
        "POST",
        _path(sandbox, "/rotate"),
        not_found=SandboxNotFound,
        what=f"preview token of {sandbox.id}",
    )
    return response.json()["previewAuthToken"]
