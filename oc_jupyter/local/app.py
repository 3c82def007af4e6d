"""The app factory: wires the routes, the key check, the error envelope and the server's state.

Every route under ``/api`` requires the key, except the signed file URLs
(their signature is the credential); ``GET /health`` does not either.
Every error, FastAPI's own included, is answered as ``{"error": "one
sentence", "code": "<ErrorCode>"}`` with the API's status code: request
validation problems (malformed JSON, wrong types, invalid manifests) are 400,
not FastAPI's 422. ``error`` is what OpenComputer's clients read; ``code``
(:class:`oc_jupyter.wire.codes.ErrorCode`) is what this project's SDK maps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match

from oc_jupyter.wire.codes import ErrorCode

from .._version import __version__
from .auth import require_key
from .errors import ApiError
from .manifest import STEP_TYPES
from .models import ErrorBody
from .routes import api_routers, public_api_routers
from .routes import doors as sandbox_doors
from .routes import health as health_routes
from .state import State

__all__ = ["create_app"]

log = logging.getLogger(__name__)

API_PREFIX = "/api"


def _where(loc: tuple[Any, ...]) -> str:
    """``('body', 'image', 'steps', 2, 'args', 'path')`` → ``image.steps[2].args.path``."""
    parts: list[str] = []
    previous: Any = None
    for item in loc:
        if item == "body" and not parts:
            continue
        # Discriminated unions add the step type to the location; the index already says which step.
        if isinstance(previous, int) and item in STEP_TYPES:
            previous = item
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
        previous = item
    return "".join(parts) or "the request body"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One sentence for the first problem pydantic found in a request."""
    if not errors:
        return "The request is invalid; check it against the API schema at /openapi.json."
    error = errors[0]
    kind = error.get("type", "")
    where = _where(tuple(error.get("loc", ())))
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        return f"The request body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON object."
    if kind == "union_tag_invalid":
        return f"Unknown step type {ctx.get('tag')!r} at {where}; valid types are {', '.join(STEP_TYPES)}."
    if kind == "union_tag_not_found":
        return f"A step at {where} has no 'type'; give one of {', '.join(STEP_TYPES)}."
    if kind == "missing":
        return f"{where} is required but missing; add it to the request."
    if kind == "value_error":
        message = str(ctx.get("error") or error.get("msg", ""))
        return f"Invalid {where}: {message}."
    if kind == "extra_forbidden":
        return f"{where} is not a known field; remove it."
    message = str(error.get("msg", "is invalid")).rstrip(".")
    if "input" in error and kind != "model_attributes_type":
        return f"Invalid {where}: {message[0].lower() + message[1:]} (got {_short(error['input'])})."
    return f"Invalid {where}: {message[0].lower() + message[1:]}."


def envelope(message: str, code: ErrorCode) -> dict[str, str]:
    """The JSON body of every error answer."""
    return {"error": message, "code": code.value}


# Codes for Starlette's own HTTP errors, which carry only a status.
_CODE_OF_STATUS = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    501: ErrorCode.NOT_IMPLEMENTED,
}


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.envelope(), status_code=exc.status_code)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(envelope(validation_message(list(exc.errors())), ErrorCode.BAD_REQUEST), status_code=400)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _CODE_OF_STATUS.get(exc.status_code, ErrorCode.BAD_REQUEST if exc.status_code < 500 else ErrorCode.INTERNAL)
    if exc.status_code == 404:
        message = f"No route {request.url.path!r}; the API is described at /openapi.json."
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        message = (
            f"Method {request.method} is not allowed on {request.url.path!r}; "
            f"use {', '.join(allowed) or 'another method'} (see /openapi.json)."
        )
        return JSONResponse(envelope(message, code), status_code=405, headers={"Allow": ", ".join(allowed)})
    else:
        message = str(exc.detail)
    return JSONResponse(envelope(message, code), status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (FastAPI keeps one route per method)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"}) if hasattr(route, "matches") else (None, None)
        if match is not None and match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    methods.discard("HEAD")
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        envelope(
            f"The server failed unexpectedly ({type(exc).__name__}); see server.log in the server's home.",
            ErrorCode.INTERNAL,
        ),
        status_code=500,
    )


def create_app(home: Path, key: str, *, on_started: Callable[[State], None] | None = None) -> FastAPI:
    """The local server's ASGI app for the state folder ``home``, accepting ``key``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = State(home, key)
        app.state.oc = state
        await state.startup()
        state.on_sandbox_removed.extend(sandbox_doors.on_removed)
        if on_started is not None:
            on_started(state)
        try:
            yield
        finally:
            await sandbox_doors.close_all()
            await state.shutdown()

    app = FastAPI(
        title="oc_jupyter local server",
        version=__version__,
        description="An OpenComputer-compatible API serving sandboxes from a local container engine.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    # Starlette types every handler as taking Exception; each takes the class it is registered for.
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(health_routes.router)
    for router in sandbox_doors.routers():
        app.include_router(router)
    app.add_middleware(sandbox_doors.PreviewHosts)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX, dependencies=[Depends(require_key)])
    for router in public_api_routers():
        app.include_router(router, prefix=API_PREFIX)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _envelope_errors(schema)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["apiKey"] = {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
            }
            # Every route of these routers has a path; Starlette's BaseRoute does not declare it.
            public = {API_PREFIX + route.path for router in public_api_routers() for route in router.routes}  # type: ignore[attr-defined]
            for path, operations in schema.get("paths", {}).items():
                if path.startswith(API_PREFIX):
                    for operation in operations.values():
                        operation["security"] = [] if path in public else [{"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _envelope_errors(schema: dict[str, Any]) -> None:
    """Describe validation failures as they are answered (400 with the envelope), not as FastAPI's 422."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorBody", ErrorBody.model_json_schema())
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400", {"description": "Invalid request.", "content": {"application/json": {"schema": ref}}}
                )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
