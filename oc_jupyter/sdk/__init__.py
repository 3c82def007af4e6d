"""The OpenComputer SDK core: images, sandboxes and snapshots, for the cloud or the local backend.

Only re-exports live here; each name's module says what it is for.
"""

from . import errors, sync
from .config import Config
from .errors import (
    AuthError,
    BackendUnavailable,
    BuildFailed,
    BuildStreamLost,
    Conflict,
    LocalFileNotFound,
    NotFound,
    NotSupported,
    OCError,
    PathConflict,
    PathNotFound,
    PlanLimitError,
    RequestError,
    SandboxError,
    SandboxFamilyLimitError,
    SandboxNotFound,
    SandboxStopped,
    ScalingLockedError,
    SnapshotNotFound,
)
from .exec import Exec, ExecSession
from .files import Files, Filesystem
from .image import Image, Step
from .localfiles import LargeFolderWarning
from .models import (
    BuildLog,
    CachePreview,
    CommandResult,
    EntryInfo,
    ExecSessionInfo,
    FileInfo,
    ProcessResult,
    SandboxInfo,
    SnapshotInfo,
    StepPreview,
)
from .preview import cache_preview
from .pty import Pty, PtySession
from .sandbox import Sandbox
from .shell import Shell, ShellBusyError, ShellClosedError
from .snapshots import Snapshots

__all__ = [
    "AuthError",
    "BackendUnavailable",
    "BuildFailed",
    "BuildLog",
    "BuildStreamLost",
    "CachePreview",
    "CommandResult",
    "Config",
    "Conflict",
    "EntryInfo",
    "Exec",
    "ExecSession",
    "ExecSessionInfo",
    "FileInfo",
    "Files",
    "Filesystem",
    "Image",
    "LargeFolderWarning",
    "LocalFileNotFound",
    "NotFound",
    "NotSupported",
    "OCError",
    "PathConflict",
    "PathNotFound",
    "PlanLimitError",
    "ProcessResult",
    "Pty",
    "PtySession",
    "RequestError",
    "Sandbox",
    "SandboxError",
    "SandboxFamilyLimitError",
    "SandboxInfo",
    "SandboxNotFound",
    "SandboxStopped",
    "ScalingLockedError",
    "Shell",
    "ShellBusyError",
    "ShellClosedError",
    "SnapshotInfo",
    "SnapshotNotFound",
    "Snapshots",
    "Step",
    "StepPreview",
    "cache_preview",
    "errors",
    "sync",
]
