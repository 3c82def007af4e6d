"""The host end of one in-sandbox agent: a resident ``exec -i`` process multiplexing requests.

One engine exec costs about 150 ms; after it, every command and file request
is a frame on an already open pipe, which is what makes a warm round trip a
few milliseconds. A reader task routes each reply frame to the inbox of the
request it names; writes are whole frames, so concurrent requests never
interleave bytes.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, cast

from ..engine import Engine
from .protocol import encode, read_frame

__all__ = ["AgentConnection", "AgentLost", "NoAgent", "RemoteError", "RemoteProcess", "agent_source"]

log = logging.getLogger(__name__)

# How long a fresh agent may take to say hello: python startup inside a
# loaded container can be slow, but not this slow.
_HELLO_TIMEOUT = 30.0
_LOST = ({"t": "lost"}, b"")


@functools.cache
def agent_source() -> str:
    """The agent's source, passed to ``python3 -c`` so nothing is copied into the sandbox."""
    return resources.files(__package__).joinpath("_inside.py").read_text()


class AgentLost(Exception):
    """The agent's pipe closed while a request was waiting for it."""


class RemoteError(Exception):
    """A file operation failed inside the sandbox; ``kind`` is notfound, isdir, notdir, exists,
    special, permission or other."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    if reply["t"] == "err":
        raise RemoteError(reply.get("kind", "other"), reply.get("message", ""))
    return reply


class NoAgent(Exception):
    """The agent could not start in this container (no usable ``python3``); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgentConnection:
    """One running agent inside one container."""

    def __init__(self, engine: Engine, container: str, source: str | None = None) -> None:
        self.engine = engine
        self.container = container
        # Another in-sandbox program speaking the same frames (the terminal agent).
        self.source = source
        self.cwd = "/"
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._inboxes: dict[int, asyncio.Queue] = {}
        self._ids = itertools.count(1)
        self._dead = False

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._dead

    async def start(self) -> None:
        """Start the agent and wait for its hello; raise :class:`NoAgent` if it cannot run."""
        self._proc = await asyncio.create_subprocess_exec(
            self.engine.binary,
            "exec",
            "-i",
            self.container,
            "python3",
            "-u",
            "-c",
            self.source or agent_source(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.engine.env,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None  # both are pipes
        try:
            header, _ = await asyncio.wait_for(read_frame(self._proc.stdout), _HELLO_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            self._kill()
            err = b""
            try:
                err = await asyncio.wait_for(self._proc.stderr.read(), 5)
            except asyncio.TimeoutError:
                pass
            reason = err.decode(errors="replace").strip().splitlines()[-1:] or [type(exc).__name__]
            raise NoAgent(reason[0]) from exc
        if header.get("t") != "hello":
            self._kill()
            raise NoAgent(f"unexpected first frame {header!r}")
        self.cwd = header.get("cwd") or "/"
        self._reader = asyncio.create_task(self._read_loop())
        asyncio.create_task(self._log_stderr())

    async def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            while True:
                header, payload = await read_frame(self._proc.stdout)
                inbox = self._inboxes.get(cast(int, header.get("id")))
                if inbox is not None:
                    inbox.put_nowait((header, payload))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            log.info("agent in %s stopped: %s", self.container[:12], exc)
        finally:
            self._dead = True
            for inbox in self._inboxes.values():
                inbox.put_nowait(_LOST)

    async def _log_stderr(self) -> None:
        # The agent only writes here when it crashes; keep that in the server log.
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            log.warning("agent in %s: %s", self.container[:12], line.decode(errors="replace").rstrip())

    # -- requests -------------------------------------------------------
    def open(self) -> int:
        """Reserve a request id and its inbox; pair with :meth:`release`."""
        rid = next(self._ids)
        inbox: asyncio.Queue = asyncio.Queue()
        if self._dead:
            inbox.put_nowait(_LOST)
        self._inboxes[rid] = inbox
        return rid

    def release(self, rid: int) -> None:
        self._inboxes.pop(rid, None)

    async def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if not self.alive:
            raise AgentLost("agent is not running")
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(encode(header, payload))
            await self._proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._dead = True
            raise AgentLost(str(exc)) from exc

    async def receive(self, rid: int) -> tuple[dict[str, Any], bytes]:
        header, payload = await self._inboxes[rid].get()
        if header["t"] == "lost":
            raise AgentLost("agent stopped")
        return header, payload

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its single reply (``ok`` or ``err``)."""
        rid = self.open()
        try:
            await self.send({"op": op, "id": rid, **fields})
            header, _ = await self.receive(rid)
            return header
        finally:
            self.release(rid)

    async def spawn(
        self, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, timeout: float | None, stdin: bool
    ) -> RemoteProcess | dict[str, Any]:
        """Start a command; returns its :class:`RemoteProcess`, or the agent's ``err`` reply."""
        rid = self.open()
        try:
            await self.send(
                {
                    "op": "spawn",
                    "id": rid,
                    "argv": argv,
                    "env": env or {},
                    "cwd": cwd,
                    "timeout": timeout,
                    "stdin": stdin,
                }
            )
            header, _ = await self.receive(rid)
        except BaseException:
            self.release(rid)
            raise
        if header["t"] == "err":
            self.release(rid)
            return header
        return RemoteProcess(self, rid, header["pid"])

    async def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """Open a file for reading: its size now, then its chunks as they arrive."""
        rid = self.open()
        try:
            await self.send({"op": "read", "id": rid, "path": path})
            header, _ = await self.receive(rid)
            _check(header)
        except BaseException:
            self.release(rid)
            raise
        return header["size"], self._chunks(rid)

    async def _chunks(self, rid: int) -> AsyncIterator[bytes]:
        finished = False
        try:
            while True:
                header, payload = await self.receive(rid)
                if header["t"] == "data":
                    yield payload
                    continue
                finished = True
                _check(header)
                return
        finally:
            self.release(rid)
            if not finished and self.alive:
                # The reader went away: stop the agent sending the rest.
                await self.send({"op": "cancel", "id": rid})

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        """Write a file from chunks, creating its parent folders."""
        rid = self.open()
        try:
            await self.send({"op": "write_open", "id": rid, "path": path})
            try:
                async for chunk in chunks:
                    await self.send({"op": "write_data", "id": rid}, chunk)
            finally:
                # Always closed, so an abandoned upload never leaves a file open.
                await self.send({"op": "write_close", "id": rid})
            header, _ = await self.receive(rid)
            _check(header)
        finally:
            self.release(rid)

    async def list(self, path: str) -> list[dict[str, Any]]:
        return _check(await self.call("list", path=path))["entries"]

    async def mkdir(self, path: str) -> None:
        _check(await self.call("mkdir", path=path))

    async def remove(self, path: str) -> None:
        _check(await self.call("remove", path=path))

    def _kill(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass

    async def close(self) -> None:
        """Stop the agent; closing its stdin makes it kill what it still runs."""
        if self._proc is None:
            return
        self._dead = True
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            await asyncio.wait_for(self._proc.wait(), 3)
        except (asyncio.TimeoutError, ConnectionError):
            self._kill()
        if self._reader is not None:
            self._reader.cancel()


class RemoteProcess:
    """A command the agent started: its output events, stdin and signals."""

    def __init__(self, conn: AgentConnection, rid: int, pid: int) -> None:
        self.conn = conn
        self.rid = rid
        self.pid = pid

    async def events(self) -> AsyncIterator[tuple]:
        """Yield ``("out", fd, bytes)`` as output comes, then one ``("exit", code, timed_out)``."""
        try:
            while True:
                header, payload = await self.conn.receive(self.rid)
                if header["t"] == "out":
                    yield ("out", header["fd"], payload)
                elif header["t"] == "exit":
                    yield ("exit", header["code"], header.get("timedOut", False))
                    return
        finally:
            self.conn.release(self.rid)

    async def write_stdin(self, data: bytes) -> None:
        await self.conn.send({"op": "stdin", "id": self.rid}, data)

    async def close_stdin(self) -> None:
        await self.conn.send({"op": "stdin_close", "id": self.rid})

    async def signal(self, sig: int) -> None:
        # The reply arrives in this process's inbox and is skipped by events().
        await self.conn.send({"op": "signal", "id": self.rid, "sig": sig})
