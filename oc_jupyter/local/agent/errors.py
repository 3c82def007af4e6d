"""Errors of commands and file work inside a sandbox, as the local server answers them.

::

    ApiError (500)
    ├── AgentFailed          the sandbox's command channel broke mid-request
    ├── NotFoundError (404)
    │   ├── SandboxGone      the sandbox's container was removed or stopped from outside
    │   ├── PathNotFound     no file or folder at a path
    │   └── SessionNotFound  no exec session with that id
    └── BadRequest (400)
        └── BadPath          a path that is not absolute, holds NUL, or is the wrong kind
"""

from __future__ import annotations

from ..errors import ApiError, BadRequest, NotFoundError

__all__ = ["AgentFailed", "BadPath", "PathNotFound", "SandboxGone", "SessionNotFound"]


class AgentFailed(ApiError):
    """The process serving a sandbox's commands died and could not be replaced."""


class SandboxGone(NotFoundError):
    """The sandbox's container no longer runs, so nothing can run in it."""

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(
            f"Sandbox {sandbox_id!r} is no longer running: its container was removed or stopped "
            "outside oc_jupyter; create a new sandbox."
        )
        self.sandbox_id = sandbox_id


class PathNotFound(NotFoundError):
    """Nothing exists at the path asked for."""


class SessionNotFound(NotFoundError):
    """The exec session id is unknown to the sandbox (it ended long ago or never existed)."""


class BadPath(BadRequest):
    """A path argument the sandbox cannot act on."""
