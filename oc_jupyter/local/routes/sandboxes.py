"""``/sandboxes``: create (from an image, a snapshot or the base template), list, get, kill, timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from oc_jupyter.wire.codes import ErrorCode

from ..builder import BuildJob
from ..errors import BadRequest, ConflictError, EngineError, NotFoundError
from ..limits import build_limits, ensure_disk_space, resolve_sandbox_limits
from ..manifest import Manifest
from ..models import SandboxCreate, SandboxInfo, TimeoutBody, error_responses
from ..previews import check_preview_auth, issue_token
from ..sse import sse_response, wants_event_stream
from ..state import State, get_state
from .cloud_only import refuse_cloud_fields

router = APIRouter(tags=["sandboxes"])

_CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With `Accept: text/event-stream`: the build as Server-Sent Events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    201: {
        "model": SandboxInfo,
        "description": "The sandbox, running. (As SSE: `build_log` events, then `result` with this body, or `error`.)",
    },
    **error_responses(400, 401, 404, 409, 500, 503, 507),
}


def _source(state: State, body: SandboxCreate) -> tuple[Manifest, str | None]:
    """The manifest a create request builds from, and the snapshot it names."""
    if body.snapshot is not None:
        snapshot = state.store.get_snapshot(body.snapshot)
        if snapshot is None:
            raise NotFoundError(
                f"Snapshot {body.snapshot!r} not found; create it first (POST /snapshots) or list them with GET /snapshots.",
                code=ErrorCode.SNAPSHOT_NOT_FOUND,
            )
        if snapshot.status != "ready":
            reason = f" ({snapshot.error.splitlines()[0]})" if snapshot.error else ""
            raise ConflictError(
                f"Snapshot {body.snapshot!r} is {snapshot.status}, not ready{reason}; "
                + ("wait until it is ready." if snapshot.status == "building" else "create it again."),
                code=ErrorCode.NOT_READY,
            )
        return Manifest.model_validate(snapshot.manifest), snapshot.name
    if body.image is not None:
        return body.image, None
    if body.templateID != "base":
        raise NotFoundError(
            f"Template {body.templateID!r} not found; the local backend provides only 'base' "
            "(or pass an image or a snapshot).",
            code=ErrorCode.TEMPLATE_NOT_FOUND,
        )
    return Manifest(), None


async def _start(state: State, body: SandboxCreate, job: BuildJob, manifest: Manifest, snapshot: str | None) -> dict:
    image = await job.result()
    if snapshot is not None:
        state.store.touch_snapshot(snapshot)
    try:
        return await _run_container(state, body, image, manifest, snapshot)
    except EngineError:
        # The image was removed from the engine since it was built: build it again, once.
        if not state.builder.forget(image):
            raise
        image = await state.builder.start(manifest).result()
        return await _run_container(state, body, image, manifest, snapshot)


async def _run_container(
    state: State, body: SandboxCreate, image: str, manifest: Manifest, snapshot: str | None
) -> dict:
    record = await state.sandboxes.create(
        image_ref=image,
        template_id=body.templateID,
        content_hash=manifest.content_hash() if manifest.steps else None,
        snapshot=snapshot,
        envs=body.envs,
        metadata=body.metadata,
        timeout=body.timeout,
        limits=resolve_sandbox_limits(body.memoryMB, body.cpuCount, body.networkEnabled),
    )
    info = record.to_api("running")
    preview_auth = (body.model_extra or {}).get("previewAuth")
    if preview_auth is not None:
        # Shown this once; only its hash is kept.
        info["previewAuthToken"] = issue_token(record.id, preview_auth)
    return info


async def _events(
    state: State, body: SandboxCreate, job: BuildJob, manifest: Manifest, snapshot: str | None
) -> AsyncIterator[Any]:
    async for batch in job.follow_batches():
        yield [(event.event, event.data) for event in batch]
        if batch[-1].event == "error":
            return
    # Shielded: a client leaving now must not leave a container nobody recorded.
    creating = asyncio.ensure_future(_start(state, body, job, manifest, snapshot))
    try:
        info = await asyncio.shield(creating)
    except asyncio.CancelledError:
        creating.add_done_callback(lambda t: _kill_abandoned(state, t))
        raise
    except Exception as exc:  # noqa: BLE001 - reported in-stream: the status line is already sent
        yield "error", {"error": str(exc), "step": 0, "tail": []}
        return
    yield "result", info


def _kill_abandoned(state: State, task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is None:
        state.spawn(state.sandboxes.kill(task.result()["sandboxID"]), "kill abandoned sandbox")


def _check_preview_auth(body: SandboxCreate) -> None:
    preview_auth = (body.model_extra or {}).get("previewAuth")
    if preview_auth is None:
        return
    if not isinstance(preview_auth, dict):
        raise BadRequest('previewAuth must be an object such as {"scheme": "bearer", "token": "auto"}.')
    try:
        check_preview_auth(preview_auth)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


@router.post("/sandboxes", status_code=201, response_model=SandboxInfo, responses=_CREATE_RESPONSES)
async def create_sandbox(
    body: SandboxCreate, state: State = Depends(get_state), accept: str | None = Header(default=None)
) -> Any:
    """Create a sandbox; building its image first when needed (streamed as SSE on request)."""
    refuse_cloud_fields(body)
    manifest, snapshot = _source(state, body)
    # Refused before any build starts: nonsense limits, or an engine storage too full for more.
    resolve_sandbox_limits(body.memoryMB, body.cpuCount, body.networkEnabled)
    build_limits(manifest.builderMemoryMB)
    _check_preview_auth(body)
    await ensure_disk_space(state.engine(), "creating a sandbox")
    job = state.builder.start(manifest)
    if wants_event_stream(accept):
        return sse_response(_events(state, body, job, manifest, snapshot))
    return JSONResponse(await _start(state, body, job, manifest, snapshot), status_code=201)


@router.get("/sandboxes", response_model=list[SandboxInfo], responses=error_responses(401, 500, 503))
async def list_sandboxes(state: State = Depends(get_state)) -> Any:
    statuses = await state.sandboxes.statuses()
    return [r.to_api(statuses.get(r.id, "stopped")) for r in state.store.list_sandboxes()]


@router.get("/sandboxes/{sandbox_id}", response_model=SandboxInfo, responses=error_responses(401, 404, 500, 503))
async def get_sandbox(
    sandbox_id: str,
    state: State = Depends(get_state),
    usage: bool = Query(default=False, description="Also measure `diskUsedMB` (about 0.5 s)."),
) -> Any:
    """The sandbox; ``oomKills`` when cheap to read (always with ``usage``), ``diskUsedMB`` with ``usage``."""
    record = state.sandboxes.record(sandbox_id)
    status = await state.sandboxes.status(sandbox_id)
    info = record.to_api(status)
    if status == "running" and usage:
        info["diskUsedMB"], info["oomKills"] = await asyncio.gather(
            state.sandboxes.disk_used_mb(sandbox_id), state.sandboxes.oom_kills(sandbox_id)
        )
    elif status == "running":
        info["oomKills"] = state.sandboxes.cheap_oom_kills(sandbox_id)
    return info


@router.delete(
    "/sandboxes/{sandbox_id}", status_code=204, response_class=Response, responses=error_responses(401, 404, 500, 503)
)
async def kill_sandbox(sandbox_id: str, state: State = Depends(get_state)) -> Response:
    """Kill the sandbox: its container is removed with everything in it."""
    await state.sandboxes.kill(sandbox_id)
    return Response(status_code=204)


@router.post(
    "/sandboxes/{sandbox_id}/timeout",
    status_code=204,
    response_class=Response,
    responses=error_responses(400, 401, 404),
)
async def set_timeout(sandbox_id: str, body: TimeoutBody, state: State = Depends(get_state)) -> Response:
    """Change the idle timeout (seconds; 0 = never) and count this call as activity."""
    state.sandboxes.set_timeout(sandbox_id, body.timeout)
    return Response(status_code=204)
