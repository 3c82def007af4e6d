"""Errors of the local server, each carrying the HTTP status the contract gives it.

::

    ApiError                 any error answered as ``{"error": message}``
    ├── BadRequest           400: malformed body, invalid manifest, failed build
    ├── Unauthorized         401: missing or wrong API key
    ├── NotFoundError        404: unknown sandbox, snapshot or template
    ├── ConflictError        409: a snapshot name taken, a snapshot not ready
    ├── BuildError           400: a step of an image failed (carries step and tail)
    ├── EngineNotFound       503: no container engine on this machine
    ├── EngineTimeout        503: an engine command did not finish in time
    └── EngineError          500: the engine failed a command that should have worked

They live under the SDK's ``OCError`` root so code that embeds the server
catches one family. Messages are one sentence: what failed, the value, the fix.
"""

from __future__ import annotations

from oc_jupyter.sdk.errors import OCError

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


class ApiError(OCError):
    """An error the server answers with its status code and the JSON error envelope."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message, status=self.status_code)


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401


class NotFoundError(ApiError):
    status_code = 404


class ConflictError(ApiError):
    status_code = 409


class BuildError(ApiError):
    """A build step failed; ``step`` is 1-based and ``tail`` holds its last output lines."""

    status_code = 400

    def __init__(self, message: str, *, step: int = 0, tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.tail = list(tail or [])


class EngineNotFound(ApiError):
    """No usable container engine (podman or docker) was found."""

    status_code = 503


class EngineError(ApiError):
    """The container engine failed a command that should have worked."""

    status_code = 500


class EngineTimeout(ApiError):
    """An engine command did not finish within its deadline (it was killed)."""

    status_code = 503

    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(
            f"The container engine did not finish `{command}` within {seconds:g} s, so it was stopped; "
            "check that the engine answers (for example `podman info`) or raise OC_JUPYTER_ENGINE_TIMEOUT."
        )
        self.command = command
