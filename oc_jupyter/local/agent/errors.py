"""Errors of commands and file work inside a sandbox, as the local server answers them.

::

    ApiError (500)
    ├── AgentFailed          agent_failed: the sandbox's command channel broke mid-request
    ├── ConflictError (409)
    │   └── PathConflict     path_conflict: the path's kind or permissions do not allow the operation
    ├── NotFoundError (404)
    │   ├── SandboxGone      sandbox_stopped: the container was removed or stopped from outside
    │   ├── PathNotFound     path_not_found: no file or folder at a path
    │   └── SessionNotFound  session_not_found: no exec session with that id
    └── BadRequest (400)
        └── BadPath          bad_request: a path that is not absolute or holds NUL
"""

from __future__ import annotations

from oc_jupyter.wire.codes import ErrorCode

from ..errors import ApiError, BadRequest, ConflictError, NotFoundError

__all__ = ["AgentFailed", "BadPath", "PathConflict", "PathNotFound", "SandboxGone", "SessionNotFound"]


class AgentFailed(ApiError):
    """The process serving a sandbox's commands died and could not be replaced."""

    code = ErrorCode.AGENT_FAILED


class SandboxGone(NotFoundError):
    """The sandbox's container no longer runs, so nothing can run in it."""

    code = ErrorCode.SANDBOX_STOPPED

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(
            f"Sandbox {sandbox_id!r} is no longer running: its container was removed or stopped "
            "outside oc_jupyter; create a new sandbox."
        )
        self.sandbox_id = sandbox_id


class PathNotFound(NotFoundError):
    """Nothing exists at the path asked for."""

    code = ErrorCode.PATH_NOT_FOUND


class SessionNotFound(NotFoundError):
    """The exec session id is unknown to the sandbox (it ended long ago or never existed)."""

    code = ErrorCode.SESSION_NOT_FOUND


class PathConflict(ConflictError):
    """A well-formed path that the sandbox's current files do not allow the operation on.

    409, not 400: the same request succeeds once the sandbox's state changes
    (the folder removed, the file made writable), so the request itself is valid.
    """

    code = ErrorCode.PATH_CONFLICT


class BadPath(BadRequest):
    """A path argument the sandbox cannot act on."""
