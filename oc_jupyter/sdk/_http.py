"""The one place the SDK speaks HTTP: shared clients, auth headers, retries and error translation.

An ``httpx.AsyncClient`` belongs to the event loop it was first used on, so
clients are kept per loop rather than on SDK objects; a ``Sandbox`` made in a
notebook cell's loop keeps working on the SDK's background loop and back.

Only requests that are safe to repeat are retried (GET, HEAD, PUT, DELETE and
those the caller marks idempotent), on connection failures, 429 and
502/503/504. A POST that could create or run something twice never is.
"""

from __future__ import annotations

import asyncio
import json
import random
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from oc_jupyter.wire.codes import ErrorCode
from oc_jupyter.wire.gojson import Blob, body_length, iter_body_bytes, iter_json

from .._version import __version__
from .config import Config
from .errors import (
    AuthError,
    BackendUnavailable,
    BuildFailed,
    Conflict,
    NotFound,
    NotSupported,
    OCError,
    PathConflict,
    PathNotFound,
    PlanLimitError,
    RequestError,
    SandboxFamilyLimitError,
    SandboxNotFound,
    SandboxStopped,
    ScalingLockedError,
    SnapshotNotFound,
)

__all__ = [
    "SDK_VERSION",
    "client",
    "request",
    "decode",
    "headers_for",
    "encode_json",
    "raise_for_response",
    "translate",
]

#: Sent as ``x-oc-sdk-version``. The cloud routes clients by this header's
#: major version, and this SDK speaks the 1.x client protocol.
SDK_VERSION = "1.1.0"

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
# Failures after which repeating a safe request is harmless; read timeouts are
# left out because the server may simply be slow, and waiting again doubles it.
_TRANSIENT_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
ATTEMPTS = 4
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 8.0
# A private generator: a library must not advance the caller's global random state.
_jitter = random.Random()

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    """The HTTP client of the running event loop, made on first use."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        found = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
        _clients[loop] = found
    return found


def headers_for(config: Config, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers every request carries: the key, the SDK version and who is calling."""
    headers = {
        "X-API-Key": config.api_key,
        "x-oc-sdk-version": SDK_VERSION,
        "User-Agent": f"oc-jupyter/{__version__}",
    }
    headers.update(extra or {})
    return headers


def encode_json(body: Any) -> tuple[dict[str, str], bytes | AsyncIterator[bytes]]:
    """Headers and content of a JSON body in Go's encoding (images stream in slices, not copied whole)."""
    pieces = list(iter_json(body))
    headers = {"Content-Type": "application/json"}
    if not any(isinstance(p, Blob) for p in pieces):
        return headers, "".join(pieces).encode("utf-8")  # type: ignore[arg-type]
    headers["Content-Length"] = str(body_length(pieces))

    async def stream() -> AsyncIterator[bytes]:
        for chunk in iter_body_bytes(pieces):
            yield chunk

    return headers, stream()


#: The SDK exception for each specific error code. Generic codes (``not_found``,
#: ``conflict``, ``bad_request``, ``internal``, …) are left out on purpose: for
#: them, and for backends that send no code (the cloud), the status decides,
#: with the caller's ``not_found`` class for a 404.
CODE_TO_EXC: dict[str, type[OCError]] = {
    ErrorCode.SANDBOX_NOT_FOUND.value: SandboxNotFound,
    ErrorCode.SANDBOX_STOPPED.value: SandboxStopped,
    ErrorCode.SNAPSHOT_NOT_FOUND.value: SnapshotNotFound,
    ErrorCode.TEMPLATE_NOT_FOUND.value: NotFound,
    ErrorCode.SESSION_NOT_FOUND.value: NotFound,
    ErrorCode.PATH_NOT_FOUND.value: PathNotFound,
    ErrorCode.PATH_CONFLICT.value: PathConflict,
    ErrorCode.NAME_TAKEN.value: Conflict,
    ErrorCode.NOT_READY.value: Conflict,
    ErrorCode.BUILD_FAILED.value: BuildFailed,
    ErrorCode.NOT_IMPLEMENTED.value: NotSupported,
    # OpenComputer's own codes for a scale refused by a lock or by the sandbox family's settings.
    ScalingLockedError.code: ScalingLockedError,
    SandboxFamilyLimitError.code: SandboxFamilyLimitError,
}


def _error_body(response: httpx.Response) -> tuple[str, str | None]:
    """The envelope's message and code (``None`` when the backend sends none)."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        data = None
    code = data.get("code") if isinstance(data, dict) and isinstance(data.get("code"), str) else None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"], code
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return data["detail"], code
    text = response.text.strip()
    return (text[:300] if text else response.reason_phrase or f"HTTP {response.status_code}"), code


def _class_for(status: int, code: str | None, not_found: type[NotFound]) -> type[OCError]:
    """The exception class for an error answer: by code when it names a case, else by status."""
    if code in CODE_TO_EXC:
        return CODE_TO_EXC[code]
    if status in (401, 403):
        return AuthError
    if status == 402:
        return PlanLimitError
    if status == 404:
        return not_found
    if status == 409:
        return Conflict
    if status == 501:
        return NotSupported
    if status == 429 or status >= 500:
        return BackendUnavailable
    return RequestError


def _error_code(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    return data.get("code") if isinstance(data, dict) and isinstance(data.get("code"), str) else None


def raise_for_response(
    response: httpx.Response, config: Config, *, not_found: type[NotFound] = NotFound, what: str = ""
) -> None:
    """Raise the SDK exception for an error response (after its body was read); return on success."""
    status = response.status_code
    if status < 400:
        return
    text, code = _error_body(response)
    message = config.scrub(text)
    prefix = f"{what}: " if what else ""
    cls = _class_for(status, code, not_found)
    if cls is AuthError:
        hint = (
            "set OPENCOMPUTER_API_KEY to a valid key (or pass api_key=)"
            if config.backend == "cloud"
            else "the local server's key changed; restart the kernel or run `oc-jupyter server status`"
        )
        raise AuthError(f"{prefix}{config.api_url} refused the API key ({message}); {hint}.", status=status, code=code)
    if cls is BackendUnavailable:
        raise BackendUnavailable(f"{prefix}{config.api_url} answered {status}: {message}", status=status, code=code)
    raise cls(f"{prefix}{message}", status=status, code=code)


def translate(exc: Exception, config: Config, what: str = "") -> OCError:
    """The SDK exception for a transport failure (to be raised ``from exc``)."""
    prefix = f"{what}: " if what else ""
    detail = config.scrub(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return BackendUnavailable(f"{prefix}{config.api_url} did not answer in time ({detail}).")
    if isinstance(exc, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.NetworkError)):
        return BackendUnavailable(f"{prefix}cannot reach the {config.backend} backend at {config.api_url} ({detail}).")
    return BackendUnavailable(f"{prefix}request to {config.api_url} failed ({type(exc).__name__}: {detail}).")


class _Transient(Exception):
    def __init__(self, cause: Exception, retry_after: float = 0.0) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "0")), 30.0)
    except ValueError:
        return 0.0


def _wait(retry_state) -> float:
    """Exponential backoff with jitter, but never sooner than the server's Retry-After."""
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    floor = exc.retry_after if isinstance(exc, _Transient) else 0.0
    backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (retry_state.attempt_number - 1))
    return max(backoff + _jitter.uniform(0, BACKOFF_FIRST), floor)


async def request(
    config: Config,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | httpx.Timeout | None | object = ...,
    idempotent: bool | None = None,
    not_found: type[NotFound] = NotFound,
    what: str = "",
) -> httpx.Response:
    """Send one API request and return the (read) response, raising SDK errors for failures.

    ``path`` is relative to ``{api_url}/api``. ``timeout=None`` waits forever.
    """
    method = method.upper()
    retryable = method in _IDEMPOTENT if idempotent is None else idempotent
    url = config.api_base + path
    extra = dict(headers or {})
    body: Any = content
    if json_body is not None:
        json_headers, body = encode_json(json_body)
        if not isinstance(body, bytes):
            retryable = False  # a streamed body cannot be replayed
        extra = {**json_headers, **extra}
    all_headers = headers_for(config, extra)
    kwargs: dict[str, Any] = {"params": params, "headers": all_headers, "content": body}
    if timeout is not ...:
        kwargs["timeout"] = timeout

    async def once() -> httpx.Response:
        try:
            response = await client().request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            if retryable and isinstance(exc, _TRANSIENT_ERRORS):
                raise _Transient(exc) from exc
            raise translate(exc, config, what) from exc
        if retryable and response.status_code in _TRANSIENT_STATUS:
            raise _Transient(_StatusFailure(response), _retry_after(response))
        return response

    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(ATTEMPTS if retryable else 1),
            wait=_wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=True,
        ):
            with attempt:
                response = await once()
    except _Transient as transient:
        cause = transient.cause
        if isinstance(cause, _StatusFailure):
            response = cause.response
        else:
            raise translate(cause, config, what) from cause
    raise_for_response(response, config, not_found=not_found, what=what)
    return response


def decode(data: Any, config: Config, model: Any = None, *, many: bool = False, what: str = "") -> Any:
    """``data`` (a response or parsed JSON) as ``model`` instances; a malformed reply is ``BackendUnavailable``."""
    try:
        if isinstance(data, httpx.Response):
            data = data.json()
        if model is None:
            return data
        if many:
            return [model.model_validate(item) for item in data or []]
        return model.model_validate(data)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
        prefix = f"{what}: " if what else ""
        raise BackendUnavailable(
            f"{prefix}{config.api_url} sent a reply this client cannot read ({type(exc).__name__}); "
            "check that api_url points at an OpenComputer API."
        ) from exc


class _StatusFailure(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
