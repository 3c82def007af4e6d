"""Errors that fail a cell without a Python traceback of our own code.

IPython shows an exception's ``_render_traceback_()`` lines instead of the
traceback when the method exists. A failed remote command or remote Python
error is not a bug in the magic, so the cell shows only what happened in the
sandbox (the exit code, or the remote traceback) and Run All stops there, as
with ``%%bash``. User mistakes in a magic's arguments are IPython's
``UsageError`` (one line).
"""

from __future__ import annotations

__all__ = ["CommandFailed", "CommandTimedOut", "RemotePythonError"]


class _Quiet(Exception):
    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class CommandFailed(_Quiet):
    """A command in a sandbox exited with a non-zero code (like ``subprocess.CalledProcessError``)."""

    def __init__(self, returncode: int, cmd: str, sandbox_id: str = "", reason: str | None = None) -> None:
        self.returncode = returncode
        self.cmd = cmd
        self.sandbox_id = sandbox_id
        #: Why it ended, when known (an out-of-memory kill): one sentence replacing the exit-code one.
        self.reason = reason
        shown = " ".join(cmd.split())
        if len(shown) > 80:
            shown = shown[:77] + "..."
        where = f" in sandbox {sandbox_id}" if sandbox_id else ""
        super().__init__(reason or f"Command {shown!r} exited with code {returncode}{where}.")


class CommandTimedOut(_Quiet):
    """A command in a sandbox ran longer than its ``--timeout`` and was stopped."""


class RemotePythonError(_Quiet):
    """Code run by ``%%oc_run`` raised; the traceback shown is the sandbox's."""

    def __init__(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.ename = ename
        self.evalue = evalue
        self.remote_traceback = list(traceback)
        super().__init__(f"{ename}: {evalue}" if evalue else ename)

    def _render_traceback_(self) -> list[str]:
        lines = [line.rstrip("\n") for line in self.remote_traceback]
        return lines or [str(self)]
