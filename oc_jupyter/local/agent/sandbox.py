"""Everything the server runs inside one sandbox: commands, files and exec sessions.

The agent is started on first use and replaced once if it dies while the
container still runs; an image without ``python3`` is detected once and
served by :class:`~.fallback.ExecFallback`. Agent failures become one clear
error: :class:`~.errors.SandboxGone` when the container is gone, else
:class:`~.errors.AgentFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal as signals
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..engine import Engine
from .client import AgentConnection, AgentLost, NoAgent, RemoteError
from .errors import AgentFailed, BadPath, PathConflict, PathNotFound, SandboxGone
from .fallback import ExecFallback
from .runs import RunTable
from .sessions import SessionTable

__all__ = ["DEFAULT_RUN_TIMEOUT", "SandboxAgent"]

log = logging.getLogger(__name__)

# exec/run without a timeout (or with 0) gets the cloud's default.
DEFAULT_RUN_TIMEOUT = 60.0
# While a command runs the sandbox is marked active this often, so the idle
# reaper never removes a sandbox under a long, quiet command: well under the
# shortest idle timeout (1 s), and only an in-memory write each time.
ACTIVITY_EVERY = 0.5


class SandboxAgent:
    """Commands and files of one sandbox, through its agent or the engine's exec."""

    def __init__(
        self, sandbox_id: str, container: str, engine: Engine, on_activity: Callable[[], None] | None = None
    ) -> None:
        self.sandbox_id = sandbox_id
        self.container = container
        self.engine = engine
        self.on_activity = on_activity
        # The sandbox's own variables: a container from the warm pool was
        # started before they were known, so they travel with each command.
        self.base_env: dict[str, str] = {}
        self.sessions = SessionTable(self)
        self.runs = RunTable(self)
        self._busy = 0
        self._ticker: asyncio.Task | None = None
        self._backend: AgentConnection | ExecFallback | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._prestart: asyncio.Future | None = None

    def prestart(self) -> None:
        """Start the backend in the background now, so the first command finds it running (or nearly)."""
        if self._prestart is None:
            self._prestart = asyncio.ensure_future(self.backend())
            # A failed start is retried (and reported) by the first request instead.
            self._prestart.add_done_callback(lambda task: task.cancelled() or task.exception())

    @property
    def usable(self) -> bool:
        """Whether its backend runs or is starting: not known dead (an agent dies with its container)."""
        if self._closed:
            return False
        if self._prestart is not None and not self._prestart.done():
            return True
        return self._backend is not None and self._backend.alive

    async def backend(self) -> AgentConnection | ExecFallback:
        """The live backend, starting (or restarting) the agent if needed."""
        current = self._backend
        if current is not None and current.alive:
            return current
        async with self._lock:
            if self._closed:
                raise SandboxGone(self.sandbox_id)
            if self._backend is not None and self._backend.alive:
                return self._backend
            if self._backend is not None:
                log.info("restarting the agent of %s", self.sandbox_id)
            conn = AgentConnection(self.engine, self.container)
            try:
                await conn.start()
            except NoAgent as exc:
                if not await self._container_runs():
                    raise SandboxGone(self.sandbox_id) from exc
                log.info("sandbox %s has no usable python3 (%s): using the engine's exec", self.sandbox_id, exc.reason)
                self._backend = ExecFallback(self.engine, self.container)
            except FileNotFoundError as exc:
                raise AgentFailed(
                    f"Container engine {self.engine.binary!r} could not be run; check that it is still installed."
                ) from exc
            else:
                self._backend = conn
            return self._backend

    async def _container_runs(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.engine.container_running(self.container), 15))
        except (asyncio.TimeoutError, OSError):
            return False

    async def _retrying(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``call(backend)``, once more on a fresh agent if the agent died before answering.

        Only for requests that have no effect until answered (a spawn not yet
        started, a lookup), so a retry never runs anything twice.
        """
        for attempt in (1, 2):
            backend = await self.backend()
            try:
                return await call(backend)
            except AgentLost as exc:
                if attempt == 2 or self._closed or not await self._container_runs():
                    raise await self.lost(exc) from exc
                log.info("the agent of %s died before answering; retrying on a new one", self.sandbox_id)

    async def lost(self, exc: BaseException) -> Exception:
        """The error to raise after the agent died under a request."""
        if self._closed or not await self._container_runs():
            return SandboxGone(self.sandbox_id)
        return AgentFailed(
            f"The command channel of sandbox {self.sandbox_id!r} broke during the request ({exc}); "
            "retry it, the channel restarts on the next call."
        )

    @contextlib.asynccontextmanager
    async def busy(self) -> AsyncIterator[None]:
        """Mark a command as running for as long as the block lasts."""
        self._busy += 1
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick())
        try:
            yield
        finally:
            self._busy -= 1

    async def _tick(self) -> None:
        while self._busy > 0:
            if self.on_activity is not None:
                self.on_activity()
            await asyncio.sleep(ACTIVITY_EVERY)

    # -- commands -------------------------------------------------------
    async def spawn(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        stdin: bool = False,
    ):
        """Start a command; a command that cannot start becomes a finished process saying why."""
        if self.base_env:
            env = {**self.base_env, **(env or {})}
        started = await self._retrying(
            lambda backend: backend.spawn(argv, env=env, cwd=cwd, timeout=timeout, stdin=stdin)
        )
        if isinstance(started, dict):
            kind = started.get("kind")
            if kind == "notfound":
                raise BadPath(
                    f"Working directory {cwd!r} does not exist in sandbox {self.sandbox_id!r}; "
                    "create it first or pass an existing cwd."
                )
            # As a shell does: 127 when the command is missing, 126 when it cannot run.
            return FinishedProcess(127 if kind == "nocommand" else 126, started.get("message", "") + "\n")
        return started

    async def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run a command to its end: ``{"exitCode", "stdout", "stderr"}``."""
        timeout = timeout or DEFAULT_RUN_TIMEOUT
        proc = await self.spawn(argv, env=env, cwd=cwd, timeout=timeout)
        out, err = bytearray(), bytearray()
        code, timed_out = -1, False
        finished = False
        try:
            async with self.busy():
                async for event in proc.events():
                    if event[0] == "out":
                        (out if event[1] == 1 else err).extend(event[2])
                    else:
                        _, code, timed_out = event
            finished = True
        except AgentLost as exc:
            raise await self.lost(exc) from exc
        finally:
            if not finished:
                # The caller gave up (client gone, server stopping): stop the command too.
                with contextlib.suppress(Exception):
                    await asyncio.shield(proc.signal(signals.SIGKILL))
        stderr = err.decode(errors="replace")
        if timed_out:
            stderr += f"\nProcess timed out after {timeout:g} seconds"
        return {"exitCode": code, "stdout": out.decode(errors="replace"), "stderr": stderr}

    # -- files ----------------------------------------------------------
    def _file_error(self, exc: RemoteError, path: str) -> Exception:
        shown = repr(path) if len(path) <= 200 else repr(path[:200]) + "…"
        where = f"in sandbox {self.sandbox_id!r}"
        # The agent reports OSError text; its "[Errno N]" prefix means nothing to a user.
        detail = re.sub(r"^\[Errno \d+\] ", "", exc.message)
        if exc.kind == "notfound":
            return PathNotFound(f"No file or folder at {shown} {where}; check the path with files/list.")
        if exc.kind == "isdir":
            return PathConflict(f"Path {shown} is a folder {where}; give a file path, or use files/list for folders.")
        if exc.kind in ("notdir", "exists"):
            return PathConflict(
                f"Path {shown} {where} runs through or onto a file where a folder is needed; "
                "choose another path or remove that file."
            )
        if exc.kind == "special":
            return PathConflict(
                f"Path {shown} {where} is a device, pipe or socket, not a regular file; "
                "read and write regular files only."
            )
        if exc.kind == "permission":
            return PathConflict(
                f"Permission denied for {shown} {where} ({detail}); choose a path the sandbox user may change."
            )
        return PathConflict(f"File operation on {shown} failed {where}: {detail}.")

    async def _file_op(self, name: str, path: str, *args: Any) -> Any:
        try:
            if name == "write":
                # The body can be read only once, so a write is never retried.
                backend = await self.backend()
                return await backend.write(path, *args)
            return await self._retrying(lambda backend: getattr(backend, name)(path, *args))
        except RemoteError as exc:
            raise self._file_error(exc, path) from exc
        except AgentLost as exc:
            raise await self.lost(exc) from exc

    async def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        """Size and chunks of a file; missing files fail here, before any byte is sent."""
        size, chunks = await self._file_op("open_read", path)

        async def guarded() -> AsyncIterator[bytes]:
            try:
                async for chunk in chunks:
                    yield chunk
            except RemoteError as exc:
                raise self._file_error(exc, path) from exc
            except AgentLost as exc:
                raise await self.lost(exc) from exc

        return size, guarded()

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        await self._file_op("write", path, chunks)

    async def list(self, path: str) -> list[dict[str, Any]]:
        return await self._file_op("list", path)

    async def mkdir(self, path: str) -> None:
        await self._file_op("mkdir", path)

    async def remove(self, path: str) -> None:
        await self._file_op("remove", path)

    async def close(self) -> None:
        """Forget the sandbox: end its sessions and stop its agent."""
        self._closed = True
        if self._prestart is not None:
            self._prestart.cancel()
        await self.sessions.close()
        await self.runs.close()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._backend is not None:
            await self._backend.close()


class FinishedProcess:
    """A command that could not start, shaped like a process that printed why and exited."""

    pid = 0

    def __init__(self, code: int, stderr: str) -> None:
        self.code = code
        self.stderr = stderr.encode()

    async def events(self) -> AsyncIterator[tuple]:
        if self.stderr:
            yield ("out", 2, self.stderr)
        yield ("exit", self.code, False)

    async def write_stdin(self, data: bytes) -> None:
        pass

    async def close_stdin(self) -> None:
        pass

    async def signal(self, sig: int) -> None:
        pass
