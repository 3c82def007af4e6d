"""Commands in a sandbox: ``exec/run``, exec sessions and their WebSocket attach.

WebSocket frames, server to client: ``0x01`` stdout bytes, ``0x02`` stderr
bytes, ``0x03`` exit (4-byte big-endian signed code), ``0x04`` end of
scrollback; client to server: ``0x00`` + stdin bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import struct
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..agent import SandboxAgent
from ..agent.errors import BadPath
from ..agent.lookup import (
    authorize_websocket,
    refuse,
    require_key,
    sandbox_agent,
    touch,
)
from ..errors import ApiError
from ..models import error_responses
from ..state import get_state

__all__ = ["router"]

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/exec", tags=["commands"], responses=error_responses(400, 401, 404, 500, 503)
)

STDOUT, STDERR, EXIT, SCROLLBACK_END, STDIN = 0x01, 0x02, 0x03, 0x04, 0x00
_EXIT = struct.Struct(">i")
# A session's idle timer is refreshed this often while a client watches it.
_TOUCH_EVERY = 30.0
# run-async answers inline when the command ends this soon, as the cloud does.
_INLINE_WAIT = 0.4
# How long GET .../result holds the request open waiting for the command to end.
_RESULT_POLL = 0.5


_NO_NUL = r"^[^\x00]*$"


class RunBody(BaseModel):
    """A command: ``cmd`` is the program, ``args`` its arguments (no shell unless you run one)."""

    # strict: a JSON true must not pass as 1, nor a number as a string. The NUL patterns only
    # document the rule for schema-driven clients; the agent refuses NUL with a clearer sentence.
    model_config = ConfigDict(extra="allow", strict=True)

    cmd: str = Field(min_length=1, json_schema_extra={"pattern": _NO_NUL})
    args: list[Annotated[str, Field(json_schema_extra={"pattern": _NO_NUL})]] = Field(default_factory=list)
    envs: dict[str, Annotated[str, Field(json_schema_extra={"pattern": _NO_NUL})]] | None = Field(
        default=None, json_schema_extra={"propertyNames": {"pattern": r"^[^=\x00]+$"}}
    )
    cwd: str | None = Field(default=None, json_schema_extra={"pattern": _NO_NUL})
    timeout: float | None = Field(default=None, ge=0)


class SessionBody(RunBody):
    maxRunAfterDisconnect: float | None = Field(default=None, ge=0)


class KillBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    signal: int = Field(default=9, ge=1, le=64)

    @field_validator("signal", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        # JSON Schema counts 8.0 as an integer, so lax parsing stays; but true must not become signal 1.
        if isinstance(value, bool):
            raise ValueError(f"must be a number such as 9 (SIGKILL) or 15 (SIGTERM), not {str(value).lower()}")
        return value


class RunResult(BaseModel):
    exitCode: int
    stdout: str
    stderr: str
    oomKilled: bool = Field(default=False, description="The sandbox's memory limit killed the command (exit 137).")
    error: str | None = Field(default=None, description="Why the command was killed, when it was: one sentence.")


class RunPending(BaseModel):
    execId: str
    running: bool
    startedAt: str


class RunOutcome(BaseModel):
    running: bool
    exitCode: int | None = None
    stdout: str = ""
    stderr: str = ""


class SessionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    sessionID: str
    sandboxID: str
    command: str
    args: list[str]
    running: bool
    exitCode: int | None
    startedAt: str
    attachedClients: int


def _command(body: RunBody) -> tuple[list[str], dict[str, str], str | None]:
    # NUL cannot cross exec(2); say so instead of failing inside the sandbox.
    argv = [body.cmd, *body.args]
    envs = body.envs or {}
    for text in [*argv, *envs, *envs.values(), body.cwd or ""]:
        if "\0" in text:
            raise BadPath(f"Command fields must not contain a NUL character (found in {text!r}); remove it.")
    for key in envs:
        if not key or "=" in key:
            raise BadPath(f"Environment variable name {key!r} is invalid; use a non-empty name without '='.")
    return argv, envs, body.cwd or None


@router.post("/run", response_model=RunResult, dependencies=[Depends(require_key)])
async def run_command(sandbox_id: str, body: RunBody, request: Request) -> dict[str, Any]:
    """Run a command to its end and return its exit code and output."""
    agent = await sandbox_agent(request, sandbox_id)
    argv, envs, cwd = _command(body)
    work = asyncio.create_task(agent.run(argv, env=envs, cwd=cwd, timeout=body.timeout))
    # A client that hangs up (an interrupted notebook cell) stops the command.
    gone = asyncio.create_task(_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(BaseException):
                await work
    touch(request, sandbox_id)
    result = work.result()
    oom = await request.app.state.oc.sandboxes.oom_report(sandbox_id, result["exitCode"], f"Command `{_shown(argv)}`")
    if oom is not None:
        result = {
            **result,
            "oomKilled": True,
            "error": oom,
            "stderr": result["stderr"]
            + ("" if result["stderr"].endswith("\n") or not result["stderr"] else "\n")
            + oom
            + "\n",
        }
    return result


def _shown(argv: list[str]) -> str:
    """The command as a user wrote it (a shell's ``-c`` script is what they typed), short enough for a sentence."""
    if len(argv) >= 3 and argv[0] in ("sh", "bash", "/bin/sh", "/bin/bash") and argv[1] == "-c":
        text = argv[2]
    else:
        text = shlex.join(argv)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


@router.post(
    "/run-async",
    response_model=RunResult,
    dependencies=[Depends(require_key)],
    responses={202: {"model": RunPending, "description": "Still running: fetch the result by execId."}},
)
async def run_command_async(sandbox_id: str, body: RunBody, request: Request) -> Any:
    """Run a command: its result at once when it ends within about 400 ms, else 202 with an ``execId``.

    The command goes on when the client hangs up; fetch its result with
    ``GET /exec/{execId}/result``.
    """
    agent = await sandbox_agent(request, sandbox_id)
    argv, envs, cwd = _command(body)
    run = agent.runs.start(argv, env=envs, cwd=cwd, timeout=body.timeout)
    result = await run.wait(_INLINE_WAIT)
    touch(request, sandbox_id)
    if result is not None:
        return result
    return JSONResponse(run.pending(), status_code=202)


@router.get("/{exec_id}/result", response_model=RunOutcome, dependencies=[Depends(require_key)])
async def run_result(sandbox_id: str, exec_id: str, request: Request) -> dict[str, Any]:
    """A ``run-async`` command's outcome, waiting up to about 500 ms for it to end."""
    agent = await sandbox_agent(request, sandbox_id)
    result = await agent.runs.get(exec_id).wait(_RESULT_POLL)
    touch(request, sandbox_id)
    if result is None:
        return {"running": True, "stdout": "", "stderr": ""}
    return {"running": False, **result}


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("", status_code=201, response_model=SessionInfo, dependencies=[Depends(require_key)])
async def start_session(sandbox_id: str, body: SessionBody, request: Request) -> dict[str, Any]:
    """Start a command that clients attach to over the WebSocket."""
    agent = await sandbox_agent(request, sandbox_id)
    argv, envs, cwd = _command(body)
    session = await agent.sessions.start(
        argv[0],
        argv[1:],
        env=envs,
        cwd=cwd,
        timeout=body.timeout,
        max_run_after_disconnect=body.maxRunAfterDisconnect,
    )
    return session.info()


@router.get("", response_model=list[SessionInfo], dependencies=[Depends(require_key)])
async def list_sessions(sandbox_id: str, request: Request) -> list[dict[str, Any]]:
    agent = await sandbox_agent(request, sandbox_id)
    return [session.info() for session in agent.sessions.list()]


@router.post("/{session_id}/kill", status_code=204, dependencies=[Depends(require_key)])
async def kill_session(sandbox_id: str, session_id: str, request: Request, body: KillBody | None = None) -> Response:
    """Send a signal (default 9) to the session's whole process group."""
    agent = await sandbox_agent(request, sandbox_id)
    await agent.sessions.get(session_id).kill((body or KillBody()).signal)
    return Response(status_code=204)


@router.websocket("/{session_id}")
async def attach_session(websocket: WebSocket, sandbox_id: str, session_id: str) -> None:
    """Replay the session's scrollback, then stream it live; binary ``0x00`` frames feed its stdin."""
    if not await authorize_websocket(websocket):
        return
    try:
        agent: SandboxAgent = await sandbox_agent(websocket, sandbox_id)
        session = agent.sessions.get(session_id)
    except ApiError as exc:
        await refuse(websocket, exc.status_code, exc.message, exc.code)
        return
    await websocket.accept()
    scrollback, queue = session.attach()
    stdin_task = asyncio.create_task(_feed_stdin(websocket, session))
    try:
        for fd, data in scrollback:
            await websocket.send_bytes(bytes([fd]) + data)
        await websocket.send_bytes(bytes([SCROLLBACK_END]))
        touched = asyncio.get_running_loop().time()
        while True:
            get = asyncio.create_task(queue.get())
            await asyncio.wait({get, stdin_task}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break  # the client left
            item = get.result()
            if item[0] == "out":
                await websocket.send_bytes(bytes([item[1]]) + item[2])
            else:
                await websocket.send_bytes(bytes([EXIT]) + _EXIT.pack(item[1]))
                await websocket.close()
                break
            now = asyncio.get_running_loop().time()
            if now - touched > _TOUCH_EVERY:
                touch(websocket, sandbox_id)
                touched = now
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        stdin_task.cancel()
        session.detach(queue)
        touch(websocket, sandbox_id)


async def _feed_stdin(websocket: WebSocket, session) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None and message.get("text") is not None:
            data = message["text"].encode()
        if data and data[0] == STDIN:
            # Input for a hibernated sandbox wakes it first, as any other request does.
            sandboxes = get_state(websocket).sandboxes
            if sandboxes.is_hibernated(session.table.owner.sandbox_id):
                await sandboxes.wake(session.table.owner.sandbox_id)
            await session.send_stdin(data[1:])
