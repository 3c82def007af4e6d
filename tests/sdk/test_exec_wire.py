"""The exec-session WebSocket protocol, byte for byte, against a small real Starlette server.

The local server is tested end to end in ``test_exec.py``; this server
produces frame sequences on purpose (a UTF-8 character split across frames,
scrollback replay, a dropped socket) that a real command cannot time exactly.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from oc_jupyter.sdk import Config, Sandbox, SandboxError, sync

KEY = "ws-key/with+odd=chars"


class ExecServer:
    """Serves one exec session whose frames the test scripts."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.received: list[bytes] = []
        self.queries: list[str] = []
        self.killed: list[dict] = []
        self.bodies: list[bytes] = []
        self.hold_open = False
        self.session_id = "s-1"
        self.release = asyncio.Event()
        app = Starlette(
            routes=[
                Route("/api/sandboxes/sb-1/exec", self.start, methods=["POST"]),
                Route("/api/sandboxes/sb-1/exec", self.list, methods=["GET"]),
                Route("/api/sandboxes/sb-1/exec/{session}/kill", self.kill, methods=["POST"]),
                WebSocketRoute("/api/sandboxes/sb-1/exec/s-1", self.attach),
            ]
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.02)
        self.config = Config(f"http://127.0.0.1:{port}", KEY)

    async def start(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        return JSONResponse({"sessionID": self.session_id, "sandboxID": "sb-1", "running": True}, status_code=201)

    async def list(self, request: Request) -> Response:
        return JSONResponse(
            [{"sessionID": "s-1", "sandboxID": "sb-1", "command": "x", "running": False, "exitCode": 5}]
        )

    async def kill(self, request: Request) -> Response:
        self.killed.append(await request.json())
        self.release.set()
        return Response(status_code=204)

    async def attach(self, websocket: WebSocket) -> None:
        self.queries.append(websocket.url.query)
        await websocket.accept()
        for frame in self.frames:
            await websocket.send_bytes(frame)
            await asyncio.sleep(0.01)
        if self.hold_open:
            reader = asyncio.ensure_future(websocket.receive_bytes())
            await asyncio.wait([reader], timeout=10)
            if reader.done() and not reader.exception():
                self.received.append(reader.result())
                await websocket.send_bytes(b"\x01echo:" + reader.result()[1:])
                await websocket.send_bytes(b"\x03" + struct.pack(">i", 0))
            else:
                await asyncio.wait_for(self.release.wait(), 10)
        await websocket.close()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def exec_server():
    server = ExecServer()
    yield server
    server.stop()


async def test_frames_become_byte_callbacks_and_the_scrollback_end_is_signalled(exec_server):
    exec_server.frames = [
        b"\x01sc",
        b"\x04",  # scrollback, then its end
        b"\x01caf\xc3",
        b"\x01\xa9\n",  # é split over two frames
        b"\x02warn\n",
        b"\x03" + struct.pack(">i", -2),
    ]
    out, err, exits, marks = [], [], [], []
    session = await Sandbox("sb-1", exec_server.config).exec.start(
        "python3",
        ["-u", "x.py"],
        env={"A": "1"},
        cwd="/w",
        timeout=5,
        on_stdout=out.append,
        on_stderr=err.append,
        on_exit=exits.append,
        on_scrollback_end=lambda: marks.append(len(out)),
    )
    assert await session.wait(timeout=10) == -2
    assert out == [b"sc", b"caf\xc3", b"\xa9\n"] and err == [b"warn\n"] and exits == [-2]
    assert marks == [1]  # after the replayed scrollback, before live output
    assert exec_server.bodies == [b'{"args":["-u","x.py"],"cmd":"python3","cwd":"/w","envs":{"A":"1"},"timeout":5}']
    assert exec_server.queries == ["api_key=ws-key%2Fwith%2Bodd%3Dchars"]


async def test_stdin_is_sent_as_a_zero_prefixed_frame(exec_server):
    exec_server.hold_open = True
    out = []
    session = await Sandbox("sb-1", exec_server.config).exec.start("cat", on_stdout=out.append)
    await session.send_stdin("hi\n")
    assert await session.wait(timeout=10) == 0
    assert exec_server.received == [b"\x00hi\n"]
    assert b"".join(out) == b"echo:hi\n"


async def test_a_socket_closed_without_exit_asks_the_api_for_the_exit_code(exec_server):
    exec_server.frames = [b"\x01partial"]
    session = await Sandbox("sb-1", exec_server.config).exec.start("x")
    assert await session.wait(timeout=10) == 5


def test_cancelling_the_wait_kills_the_remote_session(exec_server):
    exec_server.hold_open = True
    session = sync.run(Sandbox("sb-1", exec_server.config).exec.start("sleep", ["100"]))

    async def wait_then_cancel():
        waiter = asyncio.ensure_future(session.wait())
        await asyncio.sleep(0.2)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    sync.run(wait_then_cancel())
    assert exec_server.killed == [{"signal": 9}]


async def test_attach_failure_is_a_sandbox_error_without_the_key(exec_server):
    exec_server.session_id = "s-unknown"  # no WebSocket route: the handshake is refused
    with pytest.raises(SandboxError) as info:
        await Sandbox("sb-1", exec_server.config).exec.start("x")
    assert "s-unknown" in str(info.value)
    assert KEY not in str(info.value) and "ws-key" not in str(info.value)
    assert exec_server.killed == [{"signal": 9}]  # the orphaned session was stopped
