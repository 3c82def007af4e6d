"""Stateful shell sessions: one bash process whose ``cd``, exports and functions persist across runs.

The protocol is OpenComputer's own SDK's, so either SDK can reattach to a
shell the other opened: bash runs as ``bash --noprofile --norc +m`` in an exec
session, each command goes in on stdin wrapped so that it ends by printing a
per-run DONE marker on stdout and an EXIT marker carrying ``$?`` on stderr.
A run completes only once both markers arrived, because the two pipes are
read independently and either may drain first.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .exec import ExecSession
from .models import ProcessResult

if TYPE_CHECKING:
    from .exec import Exec

__all__ = ["Shell", "ShellBusyError", "ShellClosedError"]

BASH_ARGS = ["--noprofile", "--norc", "+m"]

OutputCallback = Callable[[bytes], Any]


class ShellBusyError(Exception):
    """Raised when ``shell.run()`` is called while another run is in flight."""

    def __init__(self) -> None:
        super().__init__("The shell is already running a command; await that run before starting another.")


class ShellClosedError(Exception):
    """Raised when ``shell.run()`` is called after the shell exited (also after a command ran ``exit``)."""


class _Stream:
    """One pipe of the current run: decoded text, how much of it the callback has seen, and its marker."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.sent = 0
        self.callback: OutputCallback | None = None

    def reset(self, callback: OutputCallback | None) -> None:
        self.decoder.reset()
        self.text, self.sent, self.callback = "", 0, callback

    def forward(self, upto: int) -> None:
        """Hand ``text[sent:upto]`` to the callback as UTF-8 bytes."""
        if upto > self.sent:
            if self.callback is not None:
                self.callback(self.text[self.sent : upto].encode("utf-8"))
            self.sent = upto


class Shell:
    """A long-lived bash process in the sandbox: ``await shell.run("cd /tmp")`` then ``run("pwd")`` prints /tmp.

    Runs are foreground-only: a second ``run`` while one is in flight raises
    :class:`ShellBusyError`. Per-run cwd, env or timeout are spelled inline
    (``cd /x && cmd``, ``FOO=bar cmd``, ``timeout 10 cmd``).
    """

    def __init__(self, session: ExecSession) -> None:
        self._session = session
        self.session_id = session.session_id
        self._state = "idle"  # idle | running | closed
        self._done_marker = ""
        self._exit_prefix = ""
        self._out = _Stream()
        self._err = _Stream()
        self._done_at: int | None = None
        self._exit: tuple[int, int] | None = None  # (exit code, where the marker starts)
        self._future: asyncio.Future[ProcessResult] | None = None
        # Replayed output of earlier runs holds their markers; ignore everything before the scrollback's end.
        self._live = False
        session.done.add_done_callback(self._on_session_done)

    def __repr__(self) -> str:
        return f"Shell({self.session_id!r}, {self._state})"

    # ── opening ──────────────────────────────────────────────────────────
    @classmethod
    async def _open(cls, exec_: Exec, *, cwd: str | None, env: dict[str, str] | None) -> Shell:
        holder: dict[str, Shell] = {}
        session = await exec_.start(
            "bash",
            args=BASH_ARGS,
            env=env,
            cwd=cwd,
            on_stdout=lambda chunk: holder["shell"]._on_stdout(chunk),  # noqa: PLW0108 -- the shell exists only after start returns
            on_stderr=lambda chunk: holder["shell"]._on_stderr(chunk),  # noqa: PLW0108 -- the shell exists only after start returns
            on_scrollback_end=lambda: holder["shell"]._on_scrollback_end(),  # noqa: PLW0108 -- the shell exists only after start returns
        )
        holder["shell"] = cls(session)
        return holder["shell"]

    @classmethod
    async def _reattach(cls, exec_: Exec, session_id: str) -> Shell:
        holder: dict[str, Shell] = {}
        session = await exec_.attach(
            session_id,
            on_stdout=lambda chunk: holder["shell"]._on_stdout(chunk),  # noqa: PLW0108 -- the shell exists only after start returns
            on_stderr=lambda chunk: holder["shell"]._on_stderr(chunk),  # noqa: PLW0108 -- the shell exists only after start returns
            on_scrollback_end=lambda: holder["shell"]._on_scrollback_end(),  # noqa: PLW0108 -- the shell exists only after start returns
        )
        holder["shell"] = cls(session)
        return holder["shell"]

    # ── output ───────────────────────────────────────────────────────────
    def _on_scrollback_end(self) -> None:
        self._live = True

    def _on_stdout(self, chunk: bytes) -> None:
        if not self._live or self._state != "running" or self._done_at is not None:
            return
        out = self._out
        out.text += out.decoder.decode(chunk)
        found = out.text.find(self._done_marker, out.sent)
        if found == -1:
            # Hold back what could be the start of a marker split across frames.
            out.forward(max(out.sent, len(out.text) - len(self._done_marker) + 1))
            return
        out.forward(found)
        self._done_at = found
        self._complete()

    def _on_stderr(self, chunk: bytes) -> None:
        if not self._live or self._state != "running" or self._exit is not None:
            return
        err = self._err
        err.text += err.decoder.decode(chunk)
        found = err.text.find(self._exit_prefix, err.sent)
        if found == -1:
            err.forward(max(err.sent, len(err.text) - len(self._exit_prefix) + 1))
            return
        err.forward(found)
        start = found + len(self._exit_prefix)
        end = err.text.find("__", start)
        if end == -1:
            return  # the code's digits are still on their way
        try:
            code = int(err.text[start:end])
        except ValueError:
            code = -1
        self._exit = (code, found)
        self._complete()

    def _complete(self) -> None:
        future = self._future
        if future is None or self._done_at is None or self._exit is None:
            return
        code, exit_at = self._exit
        result = ProcessResult(exit_code=code, stdout=self._out.text[: self._done_at], stderr=self._err.text[:exit_at])
        self._future = None
        self._done_at = self._exit = None
        if self._state != "closed":
            self._state = "idle"
        if not future.done():
            future.set_result(result)

    def _on_session_done(self, done: asyncio.Future) -> None:
        was_running = self._state == "running"
        self._state = "closed"
        future, self._future = self._future, None
        if future is not None and not future.done() and was_running:
            code = done.result() if not done.cancelled() and done.exception() is None else -1
            future.set_exception(ShellClosedError(f"The shell's bash exited with code {code} during the run."))

    # ── public ───────────────────────────────────────────────────────────
    async def run(
        self,
        cmd: str,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> ProcessResult:
        """Run ``cmd`` in the shell and return its exit code and output; the shell's state carries over."""
        if not isinstance(cmd, str):
            raise TypeError(f"shell.run expects the command as a str, got {cmd!r}.")
        if self._state == "closed":
            raise ShellClosedError(f"Shell {self.session_id!r} is closed; open a new one with exec.shell().")
        if self._state == "running":
            raise ShellBusyError()
        token = uuid.uuid4().hex
        self._done_marker = f"\n__OC_{token}_DONE__\n"
        self._exit_prefix = f"\n__OC_{token}_EXIT_"
        inner = cmd.strip() or ":"
        # `{ cmd\n}` groups the command so `$?` is its exit; the newline before `}` is required by bash.
        wrapped = (
            f"{{ {inner}\n}} ; __oc_ec=$? ; "
            f"printf '\\n__OC_%s_DONE__\\n' '{token}' ; "
            f"printf '\\n__OC_%s_EXIT_%d__\\n' '{token}' \"$__oc_ec\" >&2\n"
        )
        self._out.reset(on_stdout)
        self._err.reset(on_stderr)
        self._done_at = self._exit = None
        self._state = "running"
        future = self._future = asyncio.get_running_loop().create_future()
        try:
            await self._session.send_stdin(wrapped)
        except BaseException:
            self._state = "closed"
            self._future = None
            raise
        return await future

    async def close(self) -> None:
        """Exit bash and wait for it to end."""
        if self._state == "closed":
            return
        self._state = "closed"
        # A bash that is already gone is what closing wants.
        with contextlib.suppress(Exception):
            await self._session.send_stdin("exit\n")
            await self._session.done
        await self._session.close()
