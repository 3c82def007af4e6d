"""How the exec and files routes reach a sandbox's agent, its idle timer and the API key check.

The sandbox registry, the engine and the key live in the server's state; this
module is the one place the agent routes touch them.
"""

from __future__ import annotations

from fastapi import Request, WebSocket
from fastapi.responses import JSONResponse

from oc_jupyter.wire.codes import ErrorCode

from ..auth import require_key
from ..errors import Unauthorized
from ..state import get_state
from .registry import agent_for
from .sandbox import SandboxAgent

__all__ = ["authorize_websocket", "refuse", "require_key", "sandbox_agent", "touch"]


async def authorize_websocket(websocket: WebSocket) -> bool:
    """Check ``?api_key=``; refuse the handshake with 401 when it is missing or wrong."""
    try:
        require_key(websocket)
    except Unauthorized as exc:
        await refuse(websocket, exc.status_code, exc.message, exc.code)
        return False
    return True


async def refuse(websocket: WebSocket, status: int, message: str, code: ErrorCode | None = None) -> None:
    """Refuse a WebSocket handshake with an HTTP status and the error envelope when the server can."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        body = {"error": message} if code is None else {"error": message, "code": code.value}
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(code=4000 + status, reason=message[:120])


async def sandbox_agent(conn: Request | WebSocket, sandbox_id: str) -> SandboxAgent:
    """The agent of a known sandbox (404 for an unknown id); also refreshes its idle timer."""
    state = get_state(conn)
    record = await state.get_sandbox(sandbox_id)
    state.touch(sandbox_id)
    return agent_for(record.id, record.container_id, state.engine(), lambda: state.touch(sandbox_id), env=record.envs)


def touch(conn: Request | WebSocket, sandbox_id: str) -> None:
    get_state(conn).touch(sandbox_id)
