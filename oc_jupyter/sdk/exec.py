"""Running commands in a sandbox: one-shot ``run`` and streaming sessions over a WebSocket.

A session is started with ``POST /sandboxes/{id}/exec`` and attached with a
WebSocket whose binary frames start with a stream byte: ``0x01`` stdout,
``0x02`` stderr, ``0x03`` exit (4-byte big-endian signed code), ``0x04`` end
of the replayed scrollback; the client sends ``0x00`` + bytes for stdin.

Output callbacks receive ``bytes`` and ``session.done`` is an asyncio future
of the exit code, as in OpenComputer's own SDK. Cancelling :meth:`ExecSession.wait`
kills the remote process, so a kernel interrupt stops the work in the sandbox,
not just the wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import websockets

from . import _http
from .errors import OCError, SandboxError, SandboxNotFound
from .models import ExecSessionInfo, ProcessResult, SessionStarted

if TYPE_CHECKING:
    from .sandbox import Sandbox
    from .shell import Shell

__all__ = ["Exec", "ExecSession"]

OutputCallback = Callable[[bytes], Any]

STDIN, STDOUT, STDERR, EXIT, SCROLLBACK_END = 0x00, 0x01, 0x02, 0x03, 0x04

# The exit code ``done`` resolves to once this client detached before the command ended.
DETACHED = -1
# Seconds a cancelled wait spends killing the remote process before giving up on it.
KILL_GRACE = 1.5


def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    outcome = callback(*args)
    if inspect.isawaitable(outcome):
        asyncio.ensure_future(outcome)


class ExecSession:
    """A running command whose output streams to callbacks; ``await session.done`` gives its exit code.

    Output callbacks get the raw ``bytes`` of each frame and run on the event
    loop that attached the session. :meth:`wait` may be awaited from any event
    loop (the SDK's background loop and a notebook cell's alike).
    """

    def __init__(
        self,
        sandbox: Sandbox,
        session_id: str,
        *,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        on_exit: Callable[[int], Any] | None = None,
        on_scrollback_end: Callable[[], Any] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.session_id = session_id
        self._on_stdout = on_stdout
        self._on_stderr = on_stderr
        self._on_exit = on_exit
        self._on_scrollback_end = on_scrollback_end
        self._done_futures: dict[asyncio.AbstractEventLoop, asyncio.Future[int]] = {}
        self._detached = False
        # A thread-safe future, so a session started on one loop can be awaited on another.
        self._exit: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._ws: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task | None = None

    def __repr__(self) -> str:
        state = f"exit_code={self._exit.result()}" if self._exit.done() and not self._exit.exception() else "running"
        return f"ExecSession({self.session_id!r}, sandbox={self.sandbox.id!r}, {state})"

    @property
    def sandbox_id(self) -> str:
        """The id of the sandbox the command runs in."""
        return self.sandbox.id

    # ── attach ───────────────────────────────────────────────────────────
    async def _attach(self) -> None:
        config = self.sandbox.config
        url = (
            f"{config.ws_base}/sandboxes/{quote(self.sandbox.id)}/exec/{quote(self.session_id)}"
            f"?api_key={quote(config.api_key, safe='')}"
        )
        try:
            self._ws = await websockets.connect(
                url,
                additional_headers={"x-oc-sdk-version": _http.SDK_VERSION},
                max_size=None,
                open_timeout=15,
            )
        except Exception as exc:  # websockets raises many types; none may leak, nor the key in the URL
            detail = config.scrub(str(exc)) or type(exc).__name__
            raise SandboxError(
                f"Could not attach to command session {self.session_id!r} in sandbox {self.sandbox.id!r} ({detail})."
            ) from None
        self._loop = asyncio.get_running_loop()
        self._reader = asyncio.create_task(self._read(), name=f"oc-exec-{self.session_id}")

    async def _read(self) -> None:
        sinks = {STDOUT: self._on_stdout, STDERR: self._on_stderr}
        error: BaseException | None = None
        try:
            async for frame in self._ws:
                if isinstance(frame, str) or not frame:
                    continue
                kind, payload = frame[0], bytes(frame[1:])
                if kind in sinks:
                    if payload:
                        _call(sinks[kind], payload)
                elif kind == EXIT:
                    code = struct.unpack(">i", payload[:4])[0] if len(payload) >= 4 else -1
                    self._finish(code)
                elif kind == SCROLLBACK_END:
                    _call(self._on_scrollback_end)
        except websockets.ConnectionClosed:
            pass
        except Exception as exc:  # a callback raised (or the socket failed oddly): surface it to the waiter
            error = exc
        finally:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if error is not None and not self._exit.done():
            self._exit.set_exception(error)
        if self._detached and not self._exit.done():
            # As OpenComputer's SDK does: a session this client left resolves to -1; the command goes on.
            self._finish(DETACHED)
        if not self._exit.done():
            await self._settle_lost()

    def _finish(self, code: int) -> None:
        if not self._exit.done():
            self._exit.set_result(code)
            _call(self._on_exit, code)

    async def _settle_lost(self) -> None:
        # The socket closed without an exit frame: ask the API how the command ended.
        try:
            sessions = await self.sandbox.exec.list()
        except OCError as exc:
            self._exit.set_exception(SandboxError(f"Lost command session {self.session_id!r}: {exc}"))
            return
        for info in sessions:
            if info.session_id == self.session_id and not info.running and info.exit_code is not None:
                self._finish(info.exit_code)
                return
        self._exit.set_exception(
            SandboxError(
                f"The connection to command session {self.session_id!r} in sandbox {self.sandbox.id!r} "
                "closed before the command finished."
            )
        )

    # ── public ───────────────────────────────────────────────────────────
    @property
    def done(self) -> asyncio.Future[int]:
        """A future of the exit code on the running event loop: ``code = await session.done``.

        It resolves to -1 after :meth:`close` (the command goes on), and fails
        with :class:`SandboxError` when the connection was lost and the API
        no longer knows how the command ended.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = self._loop or asyncio.get_event_loop()
        future = self._done_futures.get(loop)
        if future is None:
            future = self._done_futures[loop] = asyncio.wrap_future(self._exit, loop=loop)
        return future

    @property
    def exit_code(self) -> int | None:
        """The exit code once finished, else ``None``."""
        if self._exit.done() and self._exit.exception() is None:
            return self._exit.result()
        return None

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the command to finish and return its exit code.

        If this wait is cancelled (a kernel interrupt) or times out, the
        remote process is killed before the cancellation propagates.
        """
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._exit)), timeout)
        except (asyncio.CancelledError, asyncio.TimeoutError):
            await self._kill_quietly()
            raise

    async def _kill_quietly(self) -> None:
        if self._exit.done():
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.kill()), KILL_GRACE)

    async def send_stdin(self, data: str | bytes) -> None:
        """Write ``data`` to the command's standard input."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if self._ws is None or self._loop is None:
            raise SandboxError(f"Command session {self.session_id!r} is not attached.")
        frame = bytes([STDIN]) + payload
        try:
            if asyncio.get_running_loop() is self._loop:
                await self._ws.send(frame)
            else:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._ws.send(frame), self._loop))
        except websockets.ConnectionClosed as exc:
            raise SandboxError(f"Cannot write to command session {self.session_id!r}: it has ended.") from exc

    async def kill(self, signal: int = 9) -> None:
        """Send ``signal`` (default SIGKILL) to the command."""
        await _http.request(
            self.sandbox.config,
            "POST",
            f"/sandboxes/{quote(self.sandbox.id)}/exec/{quote(self.session_id)}/kill",
            json_body={"signal": int(signal)},
            idempotent=True,
            not_found=SandboxNotFound,
            what=f"kill command session {self.session_id}",
        )

    async def close(self) -> None:
        """Detach from the session without stopping the command; ``done`` then resolves to -1."""
        self._detached = True
        if self._ws is not None and self._loop is not None:
            if asyncio.get_running_loop() is self._loop:
                await self._ws.close()
            else:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop))


class Exec:
    """Commands in one sandbox; ``sandbox.commands`` and ``sandbox.exec`` are this object."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def _path(self, suffix: str = "") -> str:
        return f"/sandboxes/{quote(self._sandbox.id)}/exec{suffix}"

    async def run(
        self,
        command: str,
        timeout: int = 60,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ProcessResult:
        """Run ``command`` with ``sh -c`` and return its exit code and output once it finishes.

        ``timeout`` is in seconds (0: no limit). A non-zero exit is not an
        error: check ``result.exit_code``.
        """
        if not isinstance(command, str):
            raise TypeError(f"exec.run expects the command as a str, got {command!r}; join a list with shlex.join().")
        body: dict[str, Any] = {"cmd": "sh", "args": ["-c", command], "timeout": timeout}
        if env:
            body["envs"] = dict(env)
        if cwd:
            body["cwd"] = cwd
        response = await self._request(
            "POST",
            self._path("/run"),
            json_body=body,
            timeout=None if not timeout else httpx.Timeout(timeout + 30, connect=10.0),
            what=f"run in sandbox {self._sandbox.id}",
        )
        return _http.decode(response, self._sandbox.config, ProcessResult, what="run")

    async def start(
        self,
        command: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: int | None = None,
        max_run_after_disconnect: int | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        on_exit: Callable[[int], Any] | None = None,
        on_scrollback_end: Callable[[], Any] | None = None,
    ) -> ExecSession:
        """Start ``command`` (a program, with ``args``) and stream its output to the callbacks as bytes.

        To run a shell line, pass ``"sh", args=["-c", line]``. The command goes
        on when the session is closed; ``max_run_after_disconnect`` (seconds)
        kills it that long after its last client left.
        """
        if not isinstance(command, str) or not command:
            raise TypeError(f"exec.start expects a program name as a str, got {command!r}.")
        if isinstance(args, str):
            raise TypeError(f"exec.start expects args as a list of str, got the str {args!r}; write args=[{args!r}].")
        body: dict[str, Any] = {"cmd": command}
        if args:
            body["args"] = list(args)
        if env:
            body["envs"] = dict(env)
        if cwd:
            body["cwd"] = cwd
        if timeout is not None:
            body["timeout"] = timeout
        if max_run_after_disconnect is not None:
            body["maxRunAfterDisconnect"] = max_run_after_disconnect
        response = await self._request(
            "POST",
            self._path(),
            json_body=body,
            what=f"start command in sandbox {self._sandbox.id}",
        )
        session_id = _http.decode(response, self._sandbox.config, SessionStarted, what="start command").session_id
        session = ExecSession(
            self._sandbox,
            session_id,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            on_exit=on_exit,
            on_scrollback_end=on_scrollback_end,
        )
        try:
            await session._attach()
        except BaseException:
            await session._kill_quietly()
            raise
        return session

    async def background(
        self,
        command: str,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: int | None = None,
        max_run_after_disconnect: int | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        on_exit: Callable[[int], Any] | None = None,
    ) -> ExecSession:
        """:meth:`start` under the name that says the intent: run in the background and observe."""
        return await self.start(
            command,
            args=args,
            env=env,
            cwd=cwd,
            timeout=timeout,
            max_run_after_disconnect=max_run_after_disconnect,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            on_exit=on_exit,
        )

    async def attach(
        self,
        session_id: str,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
        on_exit: Callable[[int], Any] | None = None,
        on_scrollback_end: Callable[[], Any] | None = None,
    ) -> ExecSession:
        """Attach to the running (or recently finished) session ``session_id``.

        The callbacks first receive the session's scrollback (its last 1 MiB
        of output), then ``on_scrollback_end``, then live output.
        """
        if not isinstance(session_id, str) or not session_id:
            raise TypeError(f"exec.attach expects a session id as a str, got {session_id!r}; see exec.list().")
        session = ExecSession(
            self._sandbox,
            session_id,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            on_exit=on_exit,
            on_scrollback_end=on_scrollback_end,
        )
        await session._attach()
        return session

    async def shell(self, cwd: str | None = None, env: dict[str, str] | None = None) -> Shell:
        """A stateful bash session: ``cd``, exported variables and functions persist across ``run`` calls."""
        from .shell import Shell

        return await Shell._open(self, cwd=cwd, env=env)

    async def reattach_shell(self, session_id: str) -> Shell:
        """The shell session ``session_id`` opened earlier by :meth:`shell` (it should be idle)."""
        from .shell import Shell

        return await Shell._reattach(self, session_id)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request about this sandbox whose 404 says whether the sandbox stopped or vanished."""
        try:
            return await _http.request(self._sandbox.config, method, path, not_found=SandboxNotFound, **kwargs)
        except SandboxNotFound as exc:
            raise await self._sandbox._explain_not_found(exc) from None

    async def list(self) -> list[ExecSessionInfo]:
        """The command sessions of this sandbox, running and recently finished."""
        response = await _http.request(
            self._sandbox.config, "GET", self._path(), not_found=SandboxNotFound, what=f"sandbox {self._sandbox.id}"
        )
        return _http.decode(response, self._sandbox.config, ExecSessionInfo, many=True, what="list commands")

    async def kill(self, session_id: str, signal: int = 9) -> None:
        """Send ``signal`` (default SIGKILL) to the command session ``session_id``."""
        await ExecSession(self._sandbox, session_id).kill(signal)
