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
    OCError,
    PathConflict,
    PathNotFound,
    RequestError,
    SandboxError,
    SandboxNotFound,
    SandboxStopped,
    SnapshotNotFound,
)
from .exec import Exec, ExecSession
from .files import Files
from .image import Image, Step
from .localfiles import LargeFolderWarning
from .models import (
    BuildLog,
    CachePreview,
    CommandResult,
    ExecSessionInfo,
    FileInfo,
    SandboxInfo,
    SnapshotInfo,
    StepPreview,
)
from .preview import cache_preview
from .sandbox import Sandbox
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
    "Exec",
    "ExecSession",
    "ExecSessionInfo",
    "FileInfo",
    "Files",
    "Image",
    "LargeFolderWarning",
    "LocalFileNotFound",
    "NotFound",
    "OCError",
    "PathConflict",
    "PathNotFound",
    "RequestError",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "SandboxNotFound",
    "SandboxStopped",
    "SnapshotInfo",
    "SnapshotNotFound",
    "Snapshots",
    "Step",
    "StepPreview",
    "cache_preview",
    "errors",
    "sync",
]
