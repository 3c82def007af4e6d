"""Disk checkpoints of a sandbox: create, list, restore in place, delete, fork into a new sandbox.

A checkpoint here is the sandbox's file system committed to an engine image
(``kind: "disk_only"``). Memory checkpoints (``"full"``) need CRIU, which
this host's engine cannot use, so they are refused with one sentence.
A checkpoint lives as long as its sandbox; its image stays while a fork
still runs from it and is removed with the last such fork.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt

from ..errors import ApiError
from ..models import Envs, JsonInt, SandboxInfo, _integral, error_responses
from ..state import State, get_state
from .cloud_only import refuse_cloud_fields
from .lifecycle import HOST_MB

__all__ = ["router"]

router = APIRouter(tags=["checkpoints"], responses=error_responses(400, 401, 404, 409, 500, 503))

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class NotSupported(ApiError):
    status_code = 501


class CheckpointCreate(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(pattern=_NAME, description="Unique among the sandbox's checkpoints.")
    kind: Literal["full", "disk_only"] | None = None
    promoteToFull: StrictBool | None = None
    retentionPolicy: dict[str, Any] | None = None


class CheckpointInfo(BaseModel):
    id: str
    sandboxId: str
    name: str
    kind: str
    status: str
    sizeBytes: int
    createdAt: str


class ForkBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    envs: Envs = Field(default_factory=dict, description="Variables over the source sandbox's.")
    metadata: dict[str, str] = Field(default_factory=dict)
    memoryMB: Annotated[StrictInt, Field(ge=64, le=HOST_MB), BeforeValidator(_integral)] | None = None
    timeout: JsonInt = Field(
        default=0, ge=0, le=30 * 24 * 3600, description="Idle seconds before it hibernates; 0 = never."
    )


FULL_REFUSED = (
    "Memory checkpoints (kind 'full') need CRIU, which is unavailable on this host; "
    "use kind='disk_only' to save the sandbox's files."
)


@router.post(
    "/sandboxes/{sandbox_id}/checkpoints",
    status_code=201,
    response_model=CheckpointInfo,
    responses=error_responses(501),
)
async def create_checkpoint(sandbox_id: str, body: CheckpointCreate, state: State = Depends(get_state)) -> dict:
    """Save the sandbox's files as a checkpoint (``disk_only``; processes and memory are not saved)."""
    state.sandboxes.record(sandbox_id)
    if body.kind == "full" or body.promoteToFull:
        raise NotSupported(FULL_REFUSED)
    record = await state.sandboxes.checkpoint(sandbox_id, body.name, "disk_only")
    return record.to_api()


@router.get("/sandboxes/{sandbox_id}/checkpoints", response_model=list[CheckpointInfo])
async def list_checkpoints(sandbox_id: str, state: State = Depends(get_state)) -> list[dict]:
    state.sandboxes.record(sandbox_id)
    return [c.to_api() for c in state.store.list_checkpoints(sandbox_id)]


@router.post("/sandboxes/{sandbox_id}/checkpoints/{checkpoint_id}/restore", response_model=SandboxInfo)
async def restore_checkpoint(sandbox_id: str, checkpoint_id: str, state: State = Depends(get_state)) -> dict:
    """Revert the sandbox's files to the checkpoint; its processes restart (same id, envs and limits)."""
    record = await state.sandboxes.restore(sandbox_id, checkpoint_id)
    return record.to_api("running")


@router.delete("/sandboxes/{sandbox_id}/checkpoints/{checkpoint_id}", status_code=204, response_class=Response)
async def delete_checkpoint(sandbox_id: str, checkpoint_id: str, state: State = Depends(get_state)) -> Response:
    """Forget the checkpoint and remove its image (kept while a fork still runs from it)."""
    await state.sandboxes.delete_checkpoint(sandbox_id, checkpoint_id)
    return Response(status_code=204)


@router.post(
    "/sandboxes/from-checkpoint/{checkpoint_id}",
    status_code=201,
    response_model=SandboxInfo,
    responses=error_responses(501),
)
async def fork(checkpoint_id: str, body: ForkBody | None = None, state: State = Depends(get_state)) -> dict:
    """A new sandbox whose files start as the checkpoint's (a fork); the source sandbox is untouched."""
    body = body or ForkBody()
    # A fork that names a secret store is refused, rather than started without its secrets.
    refuse_cloud_fields(body)
    state.engine()
    record = await state.sandboxes.fork(
        checkpoint_id, envs=body.envs, metadata=body.metadata, timeout=body.timeout, memory_mb=body.memoryMB
    )
    return record.to_api("running")
