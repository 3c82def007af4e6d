"""``/snapshots``: named, persistent images: create (SSE, ``?async=1`` or blocking), list, get, delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from oc_jupyter.wire.codes import ErrorCode

from ..builder import BuildJob
from ..errors import ApiError, BuildError, ConflictError, NotFoundError
from ..limits import ensure_disk_space
from ..models import SnapshotCreate, SnapshotInfo, error_responses
from ..sse import sse_response, wants_event_stream
from ..state import State, get_state
from ..store import SnapshotRecord

router = APIRouter(tags=["snapshots"])

_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `Accept: text/event-stream`: the build as Server-Sent Events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    201: {
        "model": SnapshotInfo,
        "description": "Built and ready. (As SSE: `build_log` events, then `result` with this body, or `error`.)",
    },
    202: {"model": SnapshotInfo, "description": "With `?async=1`: accepted and building; poll GET /snapshots/{name}."},
    **error_responses(400, 401, 409, 500, 503),
}


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"Snapshot {name!r} not found; list snapshots with GET /snapshots.", code=ErrorCode.SNAPSHOT_NOT_FOUND
    )


async def _record_outcome(state: State, record: SnapshotRecord, job: BuildJob) -> None:
    """Store the build's outcome on the snapshot (a snapshot deleted meanwhile stays deleted)."""
    try:
        await job.result()
    except ApiError as exc:
        state.store.finish_snapshot(record.id, "failed", str(exc))
    except asyncio.CancelledError:
        # The server is stopping; the next start marks the snapshot failed with its reason.
        raise
    else:
        state.store.finish_snapshot(record.id, "ready")


def _info(state: State, record: SnapshotRecord) -> dict[str, Any]:
    current = state.store.get_snapshot(record.name)
    return (current if current is not None and current.id == record.id else record).to_api()


async def _events(state: State, record: SnapshotRecord, job: BuildJob, outcome: asyncio.Task) -> AsyncIterator[Any]:
    async for batch in job.follow_batches():
        yield [(event.event, event.data) for event in batch]
        if batch[-1].event == "error":
            return
    await asyncio.shield(outcome)
    yield "result", _info(state, record)


@router.post("/snapshots", status_code=201, response_model=SnapshotInfo, responses=_CREATE_RESPONSES)
async def create_snapshot(
    body: SnapshotCreate,
    state: State = Depends(get_state),
    async_: str | None = Query(
        default=None, alias="async", description="`1` answers 202 at once; poll for the outcome."
    ),
    accept: str | None = Header(default=None),
) -> Any:
    """Build ``image`` and keep it under ``name`` (a failed snapshot of that name is replaced)."""
    await ensure_disk_space(state.engine(), "creating a snapshot")
    manifest = body.image
    record = state.store.claim_snapshot(body.name, manifest.content_hash(), manifest.wire(), "building")
    if record is None:
        existing = state.store.get_snapshot(body.name)
        status = existing.status if existing else "taken"
        raise ConflictError(
            f"Snapshot name {body.name!r} is taken (status {status}); choose another name or delete it first.",
            code=ErrorCode.NAME_TAKEN,
        )
    job = state.builder.start(manifest)
    outcome = state.spawn(_record_outcome(state, record, job), f"snapshot {body.name}")
    if wants_event_stream(accept):
        return sse_response(_events(state, record, job, outcome))
    if async_ not in (None, "", "0", "false"):
        return JSONResponse(_info(state, record), status_code=202)
    await asyncio.shield(outcome)
    info = _info(state, record)
    if info["status"] == "failed":
        raise BuildError(info.get("error") or f"The build of snapshot {body.name!r} failed.")
    return JSONResponse(info, status_code=201)


@router.get("/snapshots", response_model=list[SnapshotInfo], responses=error_responses(401))
async def list_snapshots(state: State = Depends(get_state)) -> Any:
    return [r.to_api() for r in state.store.list_snapshots()]


@router.get("/snapshots/{name}", response_model=SnapshotInfo, responses=error_responses(401, 404))
async def get_snapshot(name: str, state: State = Depends(get_state)) -> Any:
    record = state.store.get_snapshot(name)
    if record is None:
        raise _not_found(name)
    return record.to_api()


@router.delete("/snapshots/{name}", status_code=204, response_class=Response, responses=error_responses(401, 404))
async def delete_snapshot(name: str, state: State = Depends(get_state)) -> Response:
    """Forget the snapshot; sandboxes made from it keep running, and its image stays cached."""
    if not state.store.delete_snapshot(name):
        raise _not_found(name)
    return Response(status_code=204)
