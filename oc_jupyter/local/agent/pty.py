"""Terminals and port tunnels inside a sandbox, through its terminal agent (``_pty_inside.py``).

The terminal agent is a second resident ``exec -i`` process beside the
command agent, started on a sandbox's first terminal or preview request. A
:class:`Terminal` keeps the last output it printed, so a client attaching
after the shell drew its prompt still sees it; it ends on ``DELETE``, when its
shell exits, or when no client has been attached for the grace period.
A :class:`Tunnel` is one TCP connection to ``127.0.0.1:PORT`` inside the
sandbox, which works whatever the sandbox's network (``--network none``
included) and without knowing the container's address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from importlib import resources
from typing import Any

from ..engine import Engine
from ..errors import ApiError, BadRequest, NotFoundError
from ..settings import env_number
from .client import AgentConnection, AgentLost, NoAgent

__all__ = [
    "Terminal",
    "TerminalAgent",
    "TerminalsUnavailable",
    "Tunnel",
    "close_all_terminals",
    "close_terminals",
    "terminals_for",
]

log = logging.getLogger(__name__)

# Output kept for a client that attaches later: a screenful many times over.
_SCROLLBACK = 64 * 1024
# Output chunks queued for one client before it counts as gone (each at most 64 KiB).
_CLIENT_BACKLOG = 256
# How often a tunnel tells the agent what it consumed: a fraction of the agent's window.
_ACK_EVERY = 256 * 1024


def grace_seconds() -> float:
    """How long a terminal lives with no client attached (``OC_JUPYTER_PTY_GRACE``)."""
    return env_number("OC_JUPYTER_PTY_GRACE", 60.0)


@functools.cache
def pty_source() -> str:
    return resources.files(__package__).joinpath("_pty_inside.py").read_text()


class TerminalsUnavailable(ApiError):
    """The sandbox cannot run the terminal agent (no ``python3`` in its image)."""

    status_code = 503


class PortUnreachable(ApiError):
    """Nothing listens on the port inside the sandbox."""

    status_code = 502


class Terminal:
    """One shell on a pseudo-terminal inside a sandbox."""

    def __init__(self, owner: TerminalAgent, session_id: str, rid: int) -> None:
        self.owner = owner
        self.session_id = session_id
        self.rid = rid
        self.scrollback = bytearray()
        self.clients: set[asyncio.Queue] = set()
        self.exit_code: int | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task | None = None
        self._pump = asyncio.create_task(self._read())
        self._arm_grace()

    @property
    def sandbox_id(self) -> str:
        return self.owner.sandbox_id

    def info(self) -> dict[str, Any]:
        return {"sessionID": self.session_id, "sandboxID": self.sandbox_id}

    async def _read(self) -> None:
        conn = self.owner.conn
        try:
            while True:
                header, payload = await conn.receive(self.rid)
                if header["t"] == "out":
                    self.scrollback += payload
                    del self.scrollback[:-_SCROLLBACK]
                    for queue in list(self.clients):
                        if queue.qsize() >= _CLIENT_BACKLOG:
                            # Too slow to keep up: let it go (it can attach again and get the scrollback).
                            self.clients.discard(queue)
                            queue.put_nowait(None)
                        else:
                            queue.put_nowait(payload)
                elif header["t"] == "exit":
                    self.exit_code = int(header.get("code", 0))
                    return
        except AgentLost:
            self.exit_code = -1
        finally:
            conn.release(self.rid)
            self.owner.terminals.pop(self.session_id, None)
            for queue in self.clients:
                queue.put_nowait(None)

    def attach(self) -> tuple[bytes, asyncio.Queue]:
        """Subscribe to the output: what was printed so far, then a queue of new bytes (``None`` at exit)."""
        queue: asyncio.Queue = asyncio.Queue()
        if self.exit_code is not None:
            queue.put_nowait(None)
        self.clients.add(queue)
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        return bytes(self.scrollback), queue

    def detach(self, queue: asyncio.Queue) -> None:
        self.clients.discard(queue)
        if not self.clients:
            self._arm_grace()

    def _arm_grace(self) -> None:
        if self.exit_code is None and self._grace is None:
            loop = asyncio.get_running_loop()
            self._grace = loop.call_later(grace_seconds(), self._expire)

    def _expire(self) -> None:
        self._grace = None
        # Kept until done: the loop holds tasks only weakly.
        self._closing = asyncio.get_running_loop().create_task(self.close())

    async def send(self, data: bytes) -> None:
        if data and self.exit_code is None:
            await self.owner.conn.send({"op": "pty_in", "id": self.rid}, data)

    async def resize(self, cols: int, rows: int) -> None:
        # The reply comes to this terminal's inbox, where _read() skips it.
        await self.owner.conn.send({"op": "pty_resize", "id": self.rid, "cols": cols, "rows": rows})

    async def close(self) -> None:
        """Hang up the shell (SIGHUP to its session); the terminal ends when its processes have gone."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        if self.exit_code is None:
            with contextlib.suppress(AgentLost):
                await self.owner.conn.send({"op": "pty_close", "id": self.rid})
        self.owner.terminals.pop(self.session_id, None)


class Tunnel:
    """A TCP connection to a port on the sandbox's loopback: ``read()`` gives ``b""`` at its end."""

    def __init__(self, conn: AgentConnection, rid: int) -> None:
        self.conn = conn
        self.rid = rid
        self.closed = False
        self._consumed = 0

    async def read(self) -> bytes:
        if self.closed:
            return b""
        try:
            header, payload = await self.conn.receive(self.rid)
        except AgentLost:
            header, payload = {"t": "eof"}, b""
        if header["t"] == "data":
            self._consumed += len(payload)
            if self._consumed >= _ACK_EVERY:
                # Lets the agent read on past its window (see WINDOW in _pty_inside.py).
                await self.conn.send({"op": "tcp_ack", "id": self.rid, "n": self._consumed})
                self._consumed = 0
            return payload
        self._forget()
        return b""

    async def write(self, data: bytes) -> None:
        if data and not self.closed:
            await self.conn.send({"op": "tcp_data", "id": self.rid}, data)

    async def write_eof(self) -> None:
        if not self.closed:
            await self.conn.send({"op": "tcp_eof", "id": self.rid})

    def _forget(self) -> None:
        self.closed = True
        self.conn.release(self.rid)

    async def close(self) -> None:
        if not self.closed:
            self._forget()
            with contextlib.suppress(AgentLost):
                await self.conn.send({"op": "tcp_close", "id": self.rid})


class TerminalAgent:
    """The terminal agent of one sandbox: its terminals and the way to open tunnels."""

    def __init__(self, sandbox_id: str, container: str, engine: Engine) -> None:
        self.sandbox_id = sandbox_id
        self.container = container
        self.conn = AgentConnection(engine, container, source=pty_source())
        self.terminals: dict[str, Terminal] = {}
        self._starting: asyncio.Lock = asyncio.Lock()
        self._started = False

    async def _ready(self) -> AgentConnection:
        async with self._starting:
            if not self.conn.alive:
                if self._started:
                    # It died (the container restarted): start a fresh one.
                    self.conn = AgentConnection(self.conn.engine, self.container, source=pty_source())
                self._started = True
                try:
                    await self.conn.start()
                except NoAgent as exc:
                    raise TerminalsUnavailable(
                        f"Sandbox {self.sandbox_id!r} cannot serve terminals or previews because its image "
                        f"has no usable python3 ({exc.reason}); add python3 to the image."
                    ) from exc
        return self.conn

    async def open_terminal(self, *, cols: int, rows: int, shell: str, env: dict[str, str]) -> Terminal:
        message = {
            "op": "pty_open",
            "argv": [shell, "-l"],
            "cols": cols,
            "rows": rows,
            "env": {**env, "TERM": "xterm-256color"},
            "cwd": None,
        }
        # A terminal agent that died since its last use (its container restarted, or it was killed)
        # is started again once; only a second loss is the sandbox's failure.
        for attempt in (1, 2):
            conn = await self._ready()
            rid = conn.open()
            try:
                await conn.send({**message, "id": rid})
                header, _ = await conn.receive(rid)
                break
            except AgentLost as exc:
                conn.release(rid)
                if attempt == 2:
                    raise TerminalsUnavailable(
                        f"The terminal agent of sandbox {self.sandbox_id!r} stopped while starting a terminal "
                        f"({exc}); try again, or restart the sandbox with POST /sandboxes/{self.sandbox_id}/reboot."
                    ) from exc
            except BaseException:
                conn.release(rid)
                raise
        if header["t"] == "err":
            conn.release(rid)
            if header.get("kind") == "nocommand":
                raise BadRequest(
                    f"Shell {shell!r} does not exist in sandbox {self.sandbox_id!r} or is not executable; "
                    'pass an existing shell such as "/bin/bash" or "/bin/sh".'
                )
            raise BadRequest(
                f"Cannot start a terminal with shell {shell!r}: {header.get('message')}; "
                'pass an existing shell such as "/bin/bash" or "/bin/sh".'
            )
        session_id = "pty-" + secrets.token_hex(8)
        terminal = self.terminals[session_id] = Terminal(self, session_id, rid)
        return terminal

    def terminal(self, session_id: str) -> Terminal:
        terminal = self.terminals.get(session_id)
        if terminal is None:
            raise NotFoundError(
                f"No terminal {session_id!r} in sandbox {self.sandbox_id!r} (it ended, or never existed); "
                f"create one with POST /api/sandboxes/{self.sandbox_id}/pty."
            )
        return terminal

    async def open_tunnel(self, port: int) -> Tunnel:
        conn = await self._ready()
        rid = conn.open()
        try:
            await conn.send({"op": "tcp_open", "id": rid, "port": port})
            header, _ = await conn.receive(rid)
        except BaseException:
            conn.release(rid)
            raise
        if header["t"] == "err":
            conn.release(rid)
            raise PortUnreachable(
                f"Nothing answers on port {port} inside sandbox {self.sandbox_id!r} ({header.get('message')}); "
                f"start a server there listening on 127.0.0.1:{port} or 0.0.0.0:{port}."
            )
        return Tunnel(conn, rid)

    async def close(self) -> None:
        for terminal in list(self.terminals.values()):
            await terminal.close()
        await self.conn.close()


_agents: dict[str, TerminalAgent] = {}


def terminals_for(sandbox_id: str, container: str, engine: Engine) -> TerminalAgent:
    """The sandbox's terminal agent, made on first use."""
    agent = _agents.get(sandbox_id)
    if agent is None or agent.container != container:
        agent = _agents[sandbox_id] = TerminalAgent(sandbox_id, container, engine)
    return agent


async def close_terminals(sandbox_id: str) -> None:
    """Call when a sandbox is removed: ends its terminals and tunnels."""
    agent = _agents.pop(sandbox_id, None)
    if agent is not None:
        await agent.close()


async def close_all_terminals() -> None:
    agents = list(_agents.values())
    _agents.clear()
    await asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True)
