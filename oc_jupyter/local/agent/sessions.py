"""Exec sessions: long-running commands that clients attach to over a WebSocket.

A session keeps its recent output in a bounded scrollback, replayed to each
client that attaches, then streams live output to every attached client. As
the cloud does, a session whose clients all left is killed after
``maxRunAfterDisconnect`` seconds when that is positive, and otherwise runs
on (bounded by its own ``timeout`` and the sandbox's idle timeout). Finished
sessions stay listed for a while so a late client still sees the exit code.

A running session keeps its sandbox awake (the idle timeout never hibernates
it under a long silent command), except one started with
``OC_JUPYTER_IDLE_SESSION=1`` in its environment: an interpreter that waits
for requests on stdin, such as the notebook magics' remote Python. For it
only its input and output count as activity, so its sandbox hibernates
between requests and keeps every name the interpreter holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal as signals
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .client import AgentLost
from .errors import SessionNotFound

if TYPE_CHECKING:
    from .sandbox import SandboxAgent

__all__ = ["IDLE_SESSION_ENV", "SCROLLBACK_BYTES", "ExecSession", "SessionTable"]

IDLE_SESSION_ENV = "OC_JUPYTER_IDLE_SESSION"

# The cloud keeps 1 MiB of output per session for late attachers.
SCROLLBACK_BYTES = 1 << 20
# How long a finished session stays listed and attachable.
FINISHED_TTL = 300.0


class ExecSession:
    """One command started through ``POST /exec`` and the clients watching it."""

    def __init__(
        self,
        table: SessionTable,
        session_id: str,
        command: str,
        args: list[str],
        process: Any,
        max_run_after_disconnect: float | None,
        keeps_awake: bool = True,
    ) -> None:
        self.table = table
        self.id = session_id
        self.command = command
        self.args = args
        self.process = process
        self.started_at = datetime.now(timezone.utc)
        self.exit_code: int | None = None
        self.max_run_after_disconnect = max_run_after_disconnect or 0
        self.scrollback: collections.deque[tuple[int, bytes]] = collections.deque()
        self._scrollback_size = 0
        self._subscribers: set[asyncio.Queue] = set()
        self._disconnect_timer: asyncio.TimerHandle | None = None
        self.exited = asyncio.Event()
        self.keeps_awake = keeps_awake
        self._pump = asyncio.create_task(self._read_output())

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def info(self) -> dict[str, Any]:
        return {
            "sessionID": self.id,
            "sandboxID": self.table.owner.sandbox_id,
            "command": self.command,
            "args": self.args,
            "running": self.running,
            "exitCode": self.exit_code,
            "startedAt": self.started_at.isoformat().replace("+00:00", "Z"),
            "attachedClients": len(self._subscribers),
        }

    async def _read_output(self) -> None:
        code = -1
        try:
            async with self.table.owner.busy() if self.keeps_awake else contextlib.nullcontext():
                async for event in self.process.events():
                    if event[0] == "out":
                        self._publish(event[1], event[2])
                    else:
                        code = event[1]
        except AgentLost:
            # The sandbox went away under the command: it is over, with no code of its own.
            self._publish(2, b"\nThe sandbox stopped while this command was running.\n")
        self.exit_code = code
        self.exited.set()
        for queue in self._subscribers:
            queue.put_nowait(("exit", code))
        self._cancel_timer()
        asyncio.get_running_loop().call_later(FINISHED_TTL, self.table.forget, self.id)

    def _activity(self) -> None:
        if not self.keeps_awake and self.table.owner.on_activity is not None:
            self.table.owner.on_activity()

    def _publish(self, fd: int, data: bytes) -> None:
        self._activity()
        self.scrollback.append((fd, data))
        self._scrollback_size += len(data)
        while self._scrollback_size > SCROLLBACK_BYTES and len(self.scrollback) > 1:
            self._scrollback_size -= len(self.scrollback.popleft()[1])
        for queue in self._subscribers:
            queue.put_nowait(("out", fd, data))

    def attach(self) -> tuple[list[tuple[int, bytes]], asyncio.Queue]:
        """Subscribe: the scrollback so far and a queue of what comes after it, with no gap."""
        self._cancel_timer()
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(queue)
        if not self.running:
            queue.put_nowait(("exit", self.exit_code))
        return list(self.scrollback), queue

    def detach(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)
        if not self._subscribers and self.running and self.max_run_after_disconnect > 0:
            self._disconnect_timer = asyncio.get_running_loop().call_later(
                self.max_run_after_disconnect,
                lambda: asyncio.create_task(self.kill(signals.SIGKILL)),
            )

    def _cancel_timer(self) -> None:
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
            self._disconnect_timer = None

    async def send_stdin(self, data: bytes) -> None:
        self._activity()
        if self.running:
            with contextlib.suppress(AgentLost):
                await self.process.write_stdin(data)

    async def kill(self, sig: int = signals.SIGKILL) -> None:
        if self.running:
            with contextlib.suppress(AgentLost):
                await self.process.signal(sig)


class SessionTable:
    """The exec sessions of one sandbox."""

    def __init__(self, owner: SandboxAgent) -> None:
        self.owner = owner
        self._sessions: dict[str, ExecSession] = {}

    async def start(
        self,
        command: str,
        args: list[str],
        *,
        env: dict[str, str] | None,
        cwd: str | None,
        timeout: float | None,
        max_run_after_disconnect: float | None,
    ) -> ExecSession:
        process = await self.owner.spawn([command, *args], env=env, cwd=cwd, timeout=timeout or None, stdin=True)
        session_id = uuid.uuid4().hex[:8]
        while session_id in self._sessions:
            session_id = uuid.uuid4().hex[:8]
        session = ExecSession(
            self,
            session_id,
            command,
            args,
            process,
            max_run_after_disconnect,
            keeps_awake=(env or {}).get(IDLE_SESSION_ENV) != "1",
        )
        self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> ExecSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFound(
                f"Exec session {session_id!r} not found in sandbox {self.owner.sandbox_id!r}; "
                "list the sandbox's sessions with GET /exec."
            )
        return session

    def list(self) -> list[ExecSession]:
        return sorted(self._sessions.values(), key=lambda s: s.started_at)

    def forget(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and not session.running:
            del self._sessions[session_id]

    async def close(self) -> None:
        for session in list(self._sessions.values()):
            await session.kill(signals.SIGKILL)
            session._pump.cancel()
        self._sessions.clear()
