"""The API key check every route runs (the WebSocket too), answering 401 with the error envelope.

HTTP requests carry the key in the ``X-API-Key`` header; WebSocket clients,
which cannot always set headers, may pass ``?api_key=`` instead. The key is
compared in constant time and never echoed.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from .errors import Unauthorized

__all__ = ["require_key", "API_KEY_HEADER"]

API_KEY_HEADER = "X-API-Key"


def require_key(connection: HTTPConnection) -> None:
    """FastAPI dependency: refuse the request unless it carries this server's key."""
    expected: str = connection.app.state.oc.key
    given = connection.headers.get(API_KEY_HEADER)
    if given is None and connection.scope["type"] == "websocket":
        given = connection.query_params.get("api_key")
    if not given:
        raise Unauthorized(
            f"No API key was sent; pass the key from server.json in the {API_KEY_HEADER} header "
            "(or ?api_key= for WebSockets), for example via `eval $(oc-jupyter server env)`."
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(
            "The API key is not this server's key; use the key from its server.json, "
            "for example via `eval $(oc-jupyter server env)`."
        )
