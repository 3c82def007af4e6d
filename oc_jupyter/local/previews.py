"""Which ports of which sandbox are exposed as preview URLs, and the bearer token that opens them.

Held in memory for the server's run: a preview URL, like the tunnels behind
it, ends with the server or the sandbox. Only a hash of a sandbox's preview
token is kept; the token itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from .store import utcnow

__all__ = ["Preview", "SandboxPreviews", "check_preview_auth", "forget_sandbox", "issue_token", "previews_of"]

# The cloud's rule for a token the caller brings.
MIN_TOKEN = 16


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class Preview:
    id: str
    sandbox_id: str
    port: int
    domain: str | None
    auth_config: dict[str, Any]
    created_at: str

    def to_api(self, server_host: str, scheme: str) -> dict[str, Any]:
        host = f"{self.sandbox_id}-p{self.port}.{self.domain or 'localhost'}"
        if not self.domain and ":" in server_host:
            host += ":" + server_host.rsplit(":", 1)[1]
        return {
            "id": self.id,
            "sandboxId": self.sandbox_id,
            "hostname": host,
            "port": self.port,
            "authConfig": self.auth_config,
            "createdAt": self.created_at,
            # Not in the cloud's answer: the same preview by path, for clients that cannot set Host.
            "url": f"{scheme}://{server_host}/preview/{self.sandbox_id}/{self.port}/",
        }


@dataclass
class SandboxPreviews:
    ports: dict[int, Preview] = field(default_factory=dict)
    token_hash: bytes | None = None

    def add(self, sandbox_id: str, port: int, domain: str | None, auth_config: dict[str, Any]) -> tuple[Preview, bool]:
        existing = self.ports.get(port)
        if existing is not None:
            return existing, False
        preview = Preview(str(uuid.uuid4()), sandbox_id, port, domain, auth_config, utcnow())
        self.ports[port] = preview
        return preview, True

    def rotate(self, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(32)
        self.token_hash = _digest(token)
        return token

    def token_matches(self, given: str) -> bool:
        return self.token_hash is not None and hmac.compare_digest(_digest(given), self.token_hash)


_previews: dict[str, SandboxPreviews] = {}


def previews_of(sandbox_id: str) -> SandboxPreviews:
    return _previews.setdefault(sandbox_id, SandboxPreviews())


def peek(sandbox_id: str) -> SandboxPreviews | None:
    return _previews.get(sandbox_id)


def check_preview_auth(preview_auth: dict[str, Any]) -> str | None:
    """The caller's own token in ``previewAuth`` (``None`` for ``"auto"``); ``ValueError`` names what is wrong."""
    scheme = preview_auth.get("scheme", "bearer")
    if scheme != "bearer":
        raise ValueError(f"previewAuth.scheme must be 'bearer', got {scheme!r}; use \"bearer\".")
    token = preview_auth.get("token", "auto")
    if not isinstance(token, str) or (token != "auto" and len(token) < MIN_TOKEN):
        raise ValueError(
            f'previewAuth.token must be "auto" or a string of at least {MIN_TOKEN} characters; '
            'pass "auto" to have one made.'
        )
    return None if token == "auto" else token


def issue_token(sandbox_id: str, preview_auth: dict[str, Any]) -> str:
    """The preview token a sandbox create asks for with ``previewAuth``: its plaintext, to answer once."""
    return previews_of(sandbox_id).rotate(check_preview_auth(preview_auth))


def forget_sandbox(sandbox_id: str) -> None:
    """Call when a sandbox is removed."""
    _previews.pop(sandbox_id, None)
