"""A sandbox's lifecycle beyond create and kill: hibernate, wake, reboot, power-cycle, scale.

Hibernating pauses the sandbox's container (memory and processes kept, no
CPU); any later command or file call wakes it first, as OpenComputer does,
while ``GET /sandboxes/:id`` reports ``hibernated`` without waking it.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from ..models import JsonInt, SandboxInfo, _integral, error_responses
from ..state import State, get_state

__all__ = ["router"]

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}", tags=["lifecycle"], responses=error_responses(400, 401, 404, 409, 500, 503)
)


class Hibernated(BaseModel):
    sandboxID: str
    status: str = "hibernated"


class WakeBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    timeout: Annotated[StrictInt, Field(ge=0, le=30 * 24 * 3600), BeforeValidator(_integral)] | None = Field(
        default=None, description="New idle timeout in seconds; 0 = never hibernate."
    )


# The schema states the upper bound too, so a client learns it before asking.
HOST_MB = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)


class ScaleBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    memoryMB: JsonInt = Field(ge=64, le=HOST_MB, description="The new memory limit in MB (at most the host's memory).")


class Scaled(BaseModel):
    sandboxID: str
    memoryMB: int
    cpuPercent: int


@router.post("/hibernate", response_model=Hibernated)
async def hibernate(sandbox_id: str, state: State = Depends(get_state)) -> dict[str, Any]:
    """Pause the sandbox with its memory; the next command or file call (or ``/wake``) resumes it."""
    await state.sandboxes.hibernate(sandbox_id)
    return {"sandboxID": sandbox_id, "status": "hibernated"}


@router.post("/wake", response_model=SandboxInfo)
async def wake(sandbox_id: str, body: WakeBody | None = None, state: State = Depends(get_state)) -> dict[str, Any]:
    """Resume a hibernated sandbox (a running one is left as it is), optionally with a new idle timeout."""
    await state.sandboxes.get(sandbox_id)
    if body is not None and body.timeout is not None:
        state.sandboxes.set_timeout(sandbox_id, body.timeout)
    # get() just woke it or saw it run: no need to ask the engine again.
    return state.sandboxes.record(sandbox_id).to_api("running")


@router.post("/reboot", response_model=SandboxInfo)
async def reboot(sandbox_id: str, state: State = Depends(get_state)) -> dict[str, Any]:
    """Restart the sandbox: its processes get SIGTERM (then SIGKILL) and start afresh; the disk stays."""
    await state.sandboxes.restart(sandbox_id)
    return state.sandboxes.record(sandbox_id).to_api("running")


@router.post("/power-cycle", response_model=SandboxInfo)
async def power_cycle(sandbox_id: str, state: State = Depends(get_state)) -> dict[str, Any]:
    """Restart the sandbox at once: every process is killed; the disk stays."""
    await state.sandboxes.restart(sandbox_id, grace=0)
    return state.sandboxes.record(sandbox_id).to_api("running")


@router.post("/scale", response_model=Scaled)
async def scale(sandbox_id: str, body: ScaleBody, state: State = Depends(get_state)) -> dict[str, Any]:
    """Change the sandbox's memory limit while it runs (its CPU share is unchanged)."""
    record = await state.sandboxes.scale(sandbox_id, body.memoryMB)
    cpus = record.cpu_count or os.cpu_count() or 1
    return {"sandboxID": sandbox_id, "memoryMB": body.memoryMB, "cpuPercent": cpus * 100}
