"""Terminals in a sandbox: create, attach over a WebSocket carrying raw bytes, resize, end.

The WebSocket carries the terminal's bytes unframed both ways (text frames
from the client are taken as UTF-8 input). A client attaching late first gets
the terminal's recent output. OpenComputer's own SDK opens the socket at
``{api_url}/sandboxes/…`` without the ``/api`` prefix when it talks to the
control plane, so :data:`bare_router` serves the same socket there.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import (
    APIRouter,
    Depends,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from pydantic import BaseModel, ConfigDict, Field

from ..agent.lookup import authorize_websocket, refuse, require_key
from ..agent.pty import Terminal, TerminalAgent, terminals_for
from ..errors import ApiError, BadRequest
from ..models import JsonInt, error_responses
from ..state import get_state

__all__ = ["bare_router", "router"]

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/pty", tags=["terminals"], responses=error_responses(400, 401, 404, 500, 503)
)
bare_router = APIRouter(prefix="/sandboxes/{sandbox_id}/pty", include_in_schema=False)

# A real terminal is never this big; the limit keeps TIOCSWINSZ's 16-bit fields sane.
_MAX_SIDE = 10000
# The sandbox's idle timer is refreshed at most this often while someone types.
_TOUCH_EVERY = 30.0


class PtyBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    cols: JsonInt = Field(default=80, ge=1, le=_MAX_SIDE)
    rows: JsonInt = Field(default=24, ge=1, le=_MAX_SIDE)
    # The pattern documents the rule for schema-driven clients; the route says it in a sentence.
    shell: str = Field(default="/bin/bash", min_length=1, json_schema_extra={"pattern": r"^/[^\x00]*$"})


class ResizeBody(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    cols: JsonInt = Field(ge=1, le=_MAX_SIDE)
    rows: JsonInt = Field(ge=1, le=_MAX_SIDE)


class PtyInfo(BaseModel):
    sessionID: str
    sandboxID: str


async def _terminals(conn: Request | WebSocket, sandbox_id: str) -> tuple[TerminalAgent, dict[str, str]]:
    state = get_state(conn)
    record = await state.get_sandbox(sandbox_id)
    state.touch(sandbox_id)
    return terminals_for(record.id, record.container_id, state.engine()), dict(record.envs or {})


@router.post("", status_code=201, response_model=PtyInfo, dependencies=[Depends(require_key)])
async def create_pty(sandbox_id: str, request: Request, body: PtyBody | None = None) -> dict[str, str]:
    """Start a login shell on a new pseudo-terminal (``TERM=xterm-256color``)."""
    body = body or PtyBody()
    if not body.shell.startswith("/") or "\0" in body.shell:
        raise BadRequest(f'shell must be an absolute path such as "/bin/bash", not {body.shell!r}.')
    agent, env = await _terminals(request, sandbox_id)
    terminal = await agent.open_terminal(cols=body.cols, rows=body.rows, shell=body.shell, env=env)
    return terminal.info()


@router.post("/{session_id}/resize", status_code=204, dependencies=[Depends(require_key)])
async def resize_pty(sandbox_id: str, session_id: str, body: ResizeBody, request: Request) -> Response:
    """Set the terminal's size; the shell's foreground program gets SIGWINCH."""
    agent, _ = await _terminals(request, sandbox_id)
    await agent.terminal(session_id).resize(body.cols, body.rows)
    return Response(status_code=204)


@router.delete("/{session_id}", status_code=204, dependencies=[Depends(require_key)])
async def delete_pty(sandbox_id: str, session_id: str, request: Request) -> Response:
    """Hang up the terminal's shell and forget the terminal."""
    agent, _ = await _terminals(request, sandbox_id)
    await agent.terminal(session_id).close()
    return Response(status_code=204)


async def attach_pty(websocket: WebSocket, sandbox_id: str, session_id: str) -> None:
    """Bytes in, bytes out; the socket closes when the shell exits."""
    if not await authorize_websocket(websocket):
        return
    try:
        agent, _ = await _terminals(websocket, sandbox_id)
        terminal = agent.terminal(session_id)
    except ApiError as exc:
        await refuse(websocket, exc.status_code, exc.message)
        return
    await websocket.accept()
    scrollback, queue = terminal.attach()
    keys = asyncio.create_task(_keys(websocket, terminal))
    try:
        if scrollback:
            await websocket.send_bytes(scrollback)
        while True:
            get = asyncio.create_task(queue.get())
            await asyncio.wait({get, keys}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                break  # the client left
            data = get.result()
            if data is None:
                await websocket.close()
                break
            await websocket.send_bytes(data)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        keys.cancel()
        with contextlib.suppress(BaseException):
            await keys
        terminal.detach(queue)
        get_state(websocket).touch(sandbox_id)


async def _keys(websocket: WebSocket, terminal: Terminal) -> None:
    # Typing is use of the sandbox: it keeps the idle timer from running out.
    touched = 0.0
    loop = asyncio.get_running_loop()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None and message.get("text") is not None:
            data = message["text"].encode()
        if data:
            await terminal.send(data)
            if loop.time() - touched > _TOUCH_EVERY:
                get_state(websocket).touch(terminal.sandbox_id)
                touched = loop.time()


router.add_api_websocket_route("/{session_id}", attach_pty)
bare_router.add_api_websocket_route("/{session_id}", attach_pty)
