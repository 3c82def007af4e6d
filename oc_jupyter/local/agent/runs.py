"""Commands run with ``exec/run-async``: started at once, their result fetched later by id.

As in the cloud, a client that hangs up does not stop such a command (that
is what the route is for), and a finished command's result stays available
for a while so a client that was away can still collect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import SessionNotFound
from .sessions import FINISHED_TTL

if TYPE_CHECKING:
    from .sandbox import SandboxAgent

__all__ = ["AsyncRun", "RunTable"]


class AsyncRun:
    """One command of ``exec/run-async`` and, once it ends, its ``{exitCode, stdout, stderr}``."""

    def __init__(self, run_id: str, task: asyncio.Task[dict[str, Any]]) -> None:
        self.id = run_id
        self.task = task
        self.started_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")

    async def wait(self, seconds: float) -> dict[str, Any] | None:
        """The result if the command ends within ``seconds``, else ``None`` (the command goes on)."""
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(asyncio.shield(self.task), seconds)
        return None

    def pending(self) -> dict[str, Any]:
        return {"execId": self.id, "running": True, "startedAt": self.started_at}


class RunTable:
    """The ``run-async`` commands of one sandbox."""

    def __init__(self, owner: SandboxAgent) -> None:
        self.owner = owner
        self._runs: dict[str, AsyncRun] = {}

    def start(self, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, timeout: float | None) -> AsyncRun:
        run_id = "ex-" + uuid.uuid4().hex[:12]
        task = asyncio.create_task(self.owner.run(argv, env=env, cwd=cwd, timeout=timeout), name=f"oc-{run_id}")
        run = self._runs[run_id] = AsyncRun(run_id, task)
        task.add_done_callback(lambda done: self._finished(run_id, done))
        return run

    def _finished(self, run_id: str, task: asyncio.Task) -> None:
        # A failure is reported to whoever fetches the result; this only keeps asyncio from calling it lost.
        if not task.cancelled():
            task.exception()
        asyncio.get_running_loop().call_later(FINISHED_TTL, self._runs.pop, run_id, None)

    def get(self, run_id: str) -> AsyncRun:
        run = self._runs.get(run_id)
        if run is None:
            raise SessionNotFound(
                f"No command with execId {run_id!r} in sandbox {self.owner.sandbox_id!r}; results are kept "
                f"{FINISHED_TTL / 60:g} minutes after the command ends, start it again with POST /exec/run-async."
            )
        return run

    async def close(self) -> None:
        for run in self._runs.values():
            run.task.cancel()
        for run in list(self._runs.values()):
            with contextlib.suppress(BaseException):
                await run.task
        self._runs.clear()
