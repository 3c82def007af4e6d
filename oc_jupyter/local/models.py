"""Request and response bodies of the local server, as pydantic models (they make the OpenAPI schema)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from oc_jupyter.wire.codes import ErrorCode
from oc_jupyter.wire.validate import is_env_name

from .manifest import Manifest

__all__ = [
    "ErrorBody",
    "SandboxCreate",
    "SandboxInfo",
    "TimeoutBody",
    "SnapshotCreate",
    "SnapshotInfo",
    "CachePreviewRequest",
    "CachePreview",
    "Health",
    "ServerHealth",
    "error_responses",
]

_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def _snapshot_name(value: str) -> str:
    if not _SNAPSHOT_NAME.match(value):
        raise ValueError(
            f"snapshot name {value[:60]!r} is invalid; use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def _envs(value: dict[str, str]) -> dict[str, str]:
    for name, val in value.items():
        if not is_env_name(name):
            raise ValueError(f"environment variable name {name[:60]!r} is invalid; use letters, digits and '_'")
        if "\x00" in val:
            raise ValueError(f"the value of environment variable {name!r} contains a NUL character; remove it")
        try:
            val.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"the value of environment variable {name!r} is not valid Unicode; send UTF-8 text"
            ) from None
    return value


def _integral(value: Any) -> Any:
    # JSON has one number type: 300.0 is a valid integer there, as JSON Schema says.
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[StrictInt, BeforeValidator(_integral)]
Count = Annotated[StrictInt, Field(ge=0), BeforeValidator(_integral)]


def _json_text(value: Any) -> Any:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("it holds text that is not valid Unicode (an unpaired surrogate); send UTF-8 text") from None
    return value


SnapshotName = Annotated[
    StrictStr,
    AfterValidator(_snapshot_name),
    Field(json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}),
]
Envs = Annotated[
    dict[StrictStr, StrictStr],
    AfterValidator(_envs),
    Field(
        json_schema_extra={
            "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": {"type": "string", "pattern": r"^[^\x00]*$"},
        }
    ),
]


class ErrorBody(BaseModel):
    """The error envelope of every failed request."""

    error: str = Field(description="One sentence: what failed and how to fix it.")
    code: ErrorCode | None = Field(default=None, description="Why it failed, for programs; new codes may appear.")


class SandboxCreate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    templateID: StrictStr = Field(default="base", description="Template to start from; the local backend has `base`.")
    timeout: JsonInt = Field(
        default=300, ge=0, le=30 * 24 * 3600, description="Idle seconds before the sandbox hibernates; 0 = never."
    )
    envs: Envs = Field(default_factory=dict, description="Environment variables of every command.")
    metadata: Annotated[dict[StrictStr, Any], AfterValidator(_json_text)] = Field(default_factory=dict)
    memoryMB: Count | None = Field(
        default=None, description="Memory limit in MB (swap included); default min(4096, half the host's RAM)."
    )
    cpuCount: Count | None = Field(
        default=None, description="CPU cores the sandbox may use; default half the host's, at least 1."
    )
    networkEnabled: StrictBool = Field(default=True, description="False starts the sandbox with no network at all.")
    image: Manifest | None = Field(default=None, description="Build this manifest (cached by content hash).")
    snapshot: SnapshotName | None = Field(default=None, description="Start from this ready snapshot.")


class SandboxInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    sandboxID: str
    status: Literal["running", "hibernated", "stopped"]
    templateID: str
    snapshot: str | None = None
    contentHash: str | None = None
    image: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    timeout: int
    cpuCount: int | None = Field(default=None, description="CPU cores it may use (enforced).")
    memoryMB: int | None = Field(default=None, description="Its memory limit in MB (enforced, swap included).")
    networkEnabled: bool = True
    diskUsedMB: int | None = Field(
        default=None, description="MB written on top of its image (GET of one sandbox with `usage=true`)."
    )
    oomKills: int | None = Field(
        default=None, description="Processes its memory limit killed so far (GET of one sandbox)."
    )
    startedAt: str
    lastActiveAt: str | None = None


class TimeoutBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    timeout: JsonInt = Field(ge=0, le=30 * 24 * 3600, description="New idle timeout in seconds; 0 = never.")


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    name: SnapshotName
    image: Manifest


class SnapshotInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    status: Literal["building", "ready", "failed"]
    contentHash: str
    checkpointId: str | None = None
    manifest: dict[str, Any]
    createdAt: str
    lastUsedAt: str | None = None
    error: str | None = Field(default=None, description="Why the build failed (only when `failed`).")


class CachePreviewRequest(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    image: Manifest


class StepPreview(BaseModel):
    index: int = Field(description="1-based step number.")
    type: str
    description: str
    cached: bool = Field(description="Already built: this step will not run.")


class BasePreview(BaseModel):
    image: str
    cached: bool


class CachePreview(BaseModel):
    contentHash: str
    base: BasePreview
    steps: list[StepPreview]
    cached: bool = Field(description="The whole image is built: creating from it builds nothing.")


class Health(BaseModel):
    ok: bool


class ServerHealth(BaseModel):
    ok: bool
    version: str
    engine: str | None = Field(description="`podman`, `docker`, or null when no engine is installed.")
    instance: str
    pid: int


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, all with the envelope schema."""
    text = {
        400: "Invalid request (one sentence says what and how to fix it).",
        401: "Missing or wrong API key.",
        404: "Not found.",
        409: "Conflict with existing state.",
        500: "Internal error (engine failure).",
        503: "No container engine is installed.",
        507: "The engine's storage is below the disk floor (OC_JUPYTER_DISK_FLOOR_MB).",
    }
    return {code: {"model": ErrorBody, "description": text.get(code, "Error.")} for code in codes}
