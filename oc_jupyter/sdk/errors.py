"""The exceptions the SDK raises, all under one root so callers can catch ``OCError``.

::

    OCError
    ├── AuthError            the backend refused the API key (401/403)
    ├── NotFound             the named thing does not exist (404)
    │   ├── SnapshotNotFound
    │   ├── PathNotFound     no file or folder at a path in the sandbox
    │   └── SandboxNotFound
    │       └── SandboxStopped   the sandbox exists but no longer runs (also a SandboxError)
    ├── Conflict             the request clashes with current state (409): a name taken, a snapshot not ready
    │   └── PathConflict     a path's kind or permissions do not allow the file operation
    ├── BuildFailed          an image step failed; carries .step, .tail, .log
    ├── SandboxError         a sandbox could not do what was asked
    ├── BackendUnavailable   the backend cannot be reached or is overloaded (429, 5xx)
    │   └── BuildStreamLost  a build stream broke before its result; the build may go on
    ├── RequestError         the backend rejected the request (other 4xx)
    │   ├── ScalingLockedError       the sandbox's scaling lock refused a resize (403 scaling_locked)
    │   ├── SandboxFamilyLimitError  the sandbox's family refused a resize (403)
    │   └── PlanLimitError           the organisation's plan does not allow the size (402)
    ├── NotSupported         this backend does not offer the feature (501), e.g. the local one a cloud feature
    └── LocalFileNotFound    a local file named in an Image does not exist (also a FileNotFoundError)

Transport errors (``httpx``, ``websockets``) are translated in one place, with
``raise ... from exc``, so a user never sees a raw library exception. Error
answers are mapped by their envelope's ``code`` (see
:mod:`oc_jupyter.wire.codes`) when the backend sends one, else by status;
``.code`` keeps the code (``None`` for backends that send none).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "OCError",
    "AuthError",
    "NotFound",
    "SnapshotNotFound",
    "SandboxNotFound",
    "SandboxStopped",
    "PathNotFound",
    "Conflict",
    "PathConflict",
    "BuildFailed",
    "SandboxError",
    "BackendUnavailable",
    "RequestError",
    "BuildStreamLost",
    "LocalFileNotFound",
    "NotSupported",
    "ScalingLockedError",
    "SandboxFamilyLimitError",
    "PlanLimitError",
]


class OCError(Exception):
    """Root of every error the SDK raises.

    ``status`` is the HTTP status code when the error came from a response,
    and ``code`` the envelope's error code when the backend sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class AuthError(OCError):
    """The backend refused the API key."""


class NotFound(OCError):
    """The requested resource does not exist."""


class SnapshotNotFound(NotFound):
    """No snapshot has the requested name."""


class SandboxNotFound(NotFound):
    """No sandbox has the requested id (it may have been killed or timed out)."""


class PathNotFound(NotFound):
    """No file or folder exists at the path asked for inside a sandbox."""


class Conflict(OCError):
    """The request clashes with existing state, such as a snapshot name already taken."""


class PathConflict(Conflict):
    """The path exists, but its kind or permissions do not allow the operation (a folder where a file is needed)."""


class BuildFailed(OCError):
    """An image build failed.

    ``step`` is the 1-based number of the failing step (``None`` when the
    backend did not say), ``tail`` the last lines of its output, and ``log``
    the latest :class:`~oc_jupyter.sdk.models.BuildLog` events received before
    the failure (at most the last 1,000: a build may print millions of lines,
    and the complete log is whatever the ``on_build_log`` callback kept).
    """

    def __init__(
        self,
        message: str,
        *,
        step: int | None = None,
        tail: list[str] | None = None,
        log: Iterable[Any] | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.step = step
        self.tail = list(tail or [])
        self.log = list(log or [])


class SandboxError(OCError):
    """A sandbox could not carry out an operation (for example it stopped mid-command)."""


class SandboxStopped(SandboxNotFound, SandboxError):
    """The sandbox is known but no longer runs: killed, reaped, or stopped outside oc_jupyter."""


class BackendUnavailable(OCError):
    """The backend cannot be reached, is overloaded, or lacks a needed feature."""


class BuildStreamLost(BackendUnavailable):
    """A build stream ended before its result; the build itself may still be running.

    ``log`` holds the latest build logs received before the break (at most
    the last 1,000, like :attr:`BuildFailed.log`). Poll the snapshot
    (``Snapshots.wait_until_ready``) to learn how the build ends.
    """

    def __init__(self, message: str, *, log: Iterable[Any] | None = None) -> None:
        super().__init__(message)
        self.log = list(log or [])


class RequestError(OCError):
    """The backend rejected the request as invalid."""


class ScalingLockedError(RequestError):
    """The sandbox has a scaling lock: unlock it with ``set_scaling_lock(False)`` before resizing."""

    code = "scaling_locked"


class SandboxFamilyLimitError(RequestError):
    """The sandbox's family does not allow the resize."""

    code = "sandbox_family_scale_disabled"


class PlanLimitError(RequestError):
    """The requested size exceeds what the organisation's plan allows."""


class NotSupported(OCError):
    """The backend does not offer this feature; the local backend answers so for cloud-only features."""


class LocalFileNotFound(OCError, FileNotFoundError):
    """A local file or folder given to an :class:`~oc_jupyter.sdk.Image` does not exist."""
