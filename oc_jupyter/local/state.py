"""Everything one running server holds: its store, engine, builder, sandboxes and background work.

Routes reach it through :func:`get_state` (a FastAPI dependency). Route
modules that act inside sandboxes use :meth:`State.get_sandbox` (404 for an
unknown id, a clear error when the container was stopped from outside),
:meth:`State.touch` (idle tracking) and :meth:`State.engine`; when a sandbox
goes away, every callback in :attr:`State.on_sandbox_removed` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection

from .builder import BUILD_LABEL, INSTANCE_LABEL, Builder
from .engine import Engine, detect_engine
from .errors import EngineNotFound
from .sandboxes import Sandboxes
from .store import SandboxRecord, Store

__all__ = ["State", "get_state", "INTERRUPTED_REASON"]

log = logging.getLogger(__name__)

INTERRUPTED_REASON = (
    "The server stopped while this snapshot was building, so the build was abandoned; create the snapshot again."
)


class State:
    """The live state of one server, made by the app factory and closed at shutdown."""

    def __init__(self, home: Path, key: str) -> None:
        self.home = home
        self.key = key
        self.store = Store(home / "state.sqlite")
        self.instance = self.store.instance_id()
        self._engine: Engine | None = None
        self.builder = Builder(self.engine, self.store, self.instance, home)
        self.sandboxes = Sandboxes(self.store, self.engine, self.instance)
        self._tasks: set[asyncio.Task] = set()

    # -- what other route modules use ---------------------------------------
    def engine(self) -> Engine:
        """The container engine; raises :class:`EngineNotFound` (503) when none is installed."""
        if self._engine is None:
            self._engine = detect_engine()
        return self._engine

    def engine_name(self) -> str | None:
        try:
            return self.engine().name
        except EngineNotFound:
            return None

    async def get_sandbox(self, sandbox_id: str) -> SandboxRecord:
        return await self.sandboxes.get(sandbox_id)

    def touch(self, sandbox_id: str) -> None:
        self.sandboxes.touch(sandbox_id)

    @property
    def on_sandbox_removed(self) -> list:
        return self.sandboxes.removed_hooks

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- lifecycle ----------------------------------------------------------
    async def startup(self) -> None:
        """Repair what a previous run left: interrupted snapshots, build containers, orphan sandboxes."""
        failed = self.store.fail_interrupted(INTERRUPTED_REASON)
        if failed:
            log.warning("marked %d interrupted snapshot(s) failed: %s", len(failed), ", ".join(failed))
        self._connect_agents()
        try:
            engine = self.engine()
        except EngineNotFound as exc:
            log.warning("%s", exc)
        else:
            with contextlib.suppress(Exception):
                rows = await engine.containers(f"{INSTANCE_LABEL}={self.instance}", BUILD_LABEL)
                leftovers = [r["id"] for r in rows if r["name"].startswith("oc-build-")]
                await engine.remove_containers(leftovers)
                if leftovers:
                    log.warning("removed %d build container(s) left by an interrupted build", len(leftovers))
            with contextlib.suppress(Exception):
                orphans = await self.sandboxes.remove_orphans()
                if orphans:
                    log.warning("removed %d orphan sandbox container(s)", len(orphans))
            # Layers beyond the cache budget (left by a previous run, or a lowered budget).
            self.builder.evict_soon()
        self.spawn(self.sandboxes.reap_forever(), "idle reaper")

    def _connect_agents(self) -> None:
        """Let the in-sandbox agents release a sandbox's sessions when it is removed."""
        from .agent import close_sandbox

        self.on_sandbox_removed.append(close_sandbox)

    async def shutdown(self) -> None:
        # Builds are cancelled too: their containers are removed now, and the
        # snapshots they served are marked failed on the next start.
        pending = list(self._tasks) + self.builder.running_tasks()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        with contextlib.suppress(Exception):
            await self.sandboxes.close()
        from .agent import close_all

        with contextlib.suppress(Exception):
            await close_all()
        self.store.close()


def get_state(connection: HTTPConnection) -> State:
    """FastAPI dependency: the server's :class:`State`."""
    return connection.app.state.oc
