"""The machine-readable error codes of the error envelope ``{"error": message, "code": code}``.

``error`` stays the one-sentence message OpenComputer's clients read; ``code``
lets a client tell apart failures that share a status (a sandbox gone and a
path missing are both 404) without a second request. Clients must accept
codes they do not know and fall back to the status.
"""

from __future__ import annotations

import enum

__all__ = ["ErrorCode", "STATUS"]


class ErrorCode(str, enum.Enum):
    """Why a request failed; the value is what the envelope carries."""

    # ``str, Enum`` rather than ``StrEnum``: the package supports Python 3.10.
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    SANDBOX_NOT_FOUND = "sandbox_not_found"
    SANDBOX_STOPPED = "sandbox_stopped"
    SNAPSHOT_NOT_FOUND = "snapshot_not_found"
    TEMPLATE_NOT_FOUND = "template_not_found"
    SESSION_NOT_FOUND = "session_not_found"
    PATH_NOT_FOUND = "path_not_found"
    PATH_CONFLICT = "path_conflict"
    NAME_TAKEN = "name_taken"
    NOT_READY = "not_ready"
    CONFLICT = "conflict"
    BUILD_FAILED = "build_failed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    ENGINE_FAILED = "engine_failed"
    AGENT_FAILED = "agent_failed"
    NOT_IMPLEMENTED = "not_implemented"
    INTERNAL = "internal"

    def __str__(self) -> str:
        return self.value


#: The HTTP status each code is answered with.
STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.SANDBOX_NOT_FOUND: 404,
    ErrorCode.SANDBOX_STOPPED: 404,
    ErrorCode.SNAPSHOT_NOT_FOUND: 404,
    ErrorCode.TEMPLATE_NOT_FOUND: 404,
    ErrorCode.SESSION_NOT_FOUND: 404,
    ErrorCode.PATH_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.PATH_CONFLICT: 409,
    ErrorCode.NAME_TAKEN: 409,
    ErrorCode.NOT_READY: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.BUILD_FAILED: 400,
    ErrorCode.INTERNAL: 500,
    ErrorCode.ENGINE_FAILED: 500,
    ErrorCode.AGENT_FAILED: 500,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.ENGINE_UNAVAILABLE: 503,
}
