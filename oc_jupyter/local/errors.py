"""Errors of the local server, each carrying the HTTP status and the error code it is answered with.

::

    ApiError                 any error answered as ``{"error": message, "code": code}`` (500, internal)
    ├── BadRequest           400 bad_request: malformed body, invalid manifest
    ├── Unauthorized         401 unauthorized: missing or wrong API key
    ├── NotFoundError        404 not_found (or sandbox_not_found, snapshot_not_found, template_not_found)
    ├── ConflictError        409 conflict (or name_taken, not_ready)
    ├── BuildError           400 build_failed: a step of an image failed (carries step and tail)
    ├── EngineNotFound       503 engine_unavailable: no container engine on this machine
    ├── EngineTimeout        503 engine_unavailable: an engine command did not finish in time
    └── EngineError          500 engine_failed: the engine failed a command that should have worked

The codes are :class:`oc_jupyter.wire.codes.ErrorCode` values, so a client
tells apart two 404s without asking again. These are the server's own
exceptions, not the SDK's: a program that embeds the server and also uses the
SDK sees the SDK's classes only on the client side of the HTTP boundary.
Messages are one sentence: what failed, the value, the fix.
"""

from __future__ import annotations

from oc_jupyter.wire.codes import ErrorCode

__all__ = [
    "ApiError",
    "BadRequest",
    "Unauthorized",
    "NotFoundError",
    "ConflictError",
    "BuildError",
    "EngineNotFound",
    "EngineError",
    "EngineTimeout",
]


class ApiError(Exception):
    """An error the server answers with its status code and the JSON error envelope.

    ``code`` defaults to the class's; a raise site that knows more (which kind
    of thing was not found) passes its own.
    """

    status_code = 500
    code = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def status(self) -> int:
        """The HTTP status (the name the SDK's errors use)."""
        return self.status_code

    def envelope(self) -> dict[str, str]:
        """The JSON body this error is answered with."""
        return {"error": self.message, "code": self.code.value}


class BadRequest(ApiError):
    status_code = 400
    code = ErrorCode.BAD_REQUEST


class Unauthorized(ApiError):
    status_code = 401
    code = ErrorCode.UNAUTHORIZED


class NotFoundError(ApiError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class ConflictError(ApiError):
    status_code = 409
    code = ErrorCode.CONFLICT


class BuildError(ApiError):
    """A build step failed; ``step`` is 1-based and ``tail`` holds its last output lines."""

    status_code = 400
    code = ErrorCode.BUILD_FAILED

    def __init__(self, message: str, *, step: int = 0, tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.tail = list(tail or [])


class EngineNotFound(ApiError):
    """No usable container engine (podman or docker) was found."""

    status_code = 503
    code = ErrorCode.ENGINE_UNAVAILABLE


class EngineError(ApiError):
    """The container engine failed a command that should have worked."""

    status_code = 500
    code = ErrorCode.ENGINE_FAILED


class EngineTimeout(ApiError):
    """An engine command did not finish within its deadline (it was killed)."""

    status_code = 503
    code = ErrorCode.ENGINE_UNAVAILABLE

    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(
            f"The container engine did not finish `{command}` within {seconds:g} s, so it was stopped; "
            "check that the engine answers (for example `podman info`) or raise OC_JUPYTER_ENGINE_TIMEOUT."
        )
        self.command = command
