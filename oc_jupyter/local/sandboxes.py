"""Sandboxes as containers: started from a built image, labelled, tracked, reaped when idle.

A sandbox is a detached container running an init process and an idle
``sleep`` (so it stays up and stops promptly), on the engine's default
network (so pip and apt reach their indexes), with nothing from the host
mounted. It is labelled ``oc-jupyter.sandbox=<id>`` and
``oc-jupyter.instance=<server instance>`` so ``podman ps --filter label=…``
finds it and a restarted server recognises its own.

Creates are served from a :class:`~.warm_pool.WarmPool` when it holds a
started container (and agent) for the image. Sandbox-level ``envs`` are
therefore not baked into the container: the agent adds them to every
command it runs (they are still passed to ``run`` for a cold start, so
``podman exec`` sees them there too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shlex
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable

from oc_jupyter.wire.codes import ErrorCode

from .builder import INSTANCE_LABEL
from .engine import Engine
from .errors import EngineError, NotFoundError
from .store import SandboxRecord, Store, parse_time, utcnow
from .warm_pool import POOL_LABEL, Warm, WarmPool

__all__ = ["Sandboxes", "SANDBOX_LABEL", "CONTAINER_PREFIX", "SandboxStopped"]

log = logging.getLogger(__name__)

SANDBOX_LABEL = "oc-jupyter.sandbox"
CONTAINER_PREFIX = "oc-jupyter-"
REAP_INTERVAL = 5.0
# Where a warm container handed out with ``envs`` gets them for login shells.
PROFILE_ENV = "/etc/profile.d/oc-sandbox-env.sh"
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# How long a positive "its container runs" check is trusted before asking the engine again.
ALIVE_TRUST_SECONDS = 10.0

RemovedHook = Callable[[str], Awaitable[None] | None]


class SandboxStopped(NotFoundError):
    """The sandbox's container was removed or stopped by something other than this server."""

    code = ErrorCode.SANDBOX_STOPPED

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(
            f"Sandbox {sandbox_id!r} was stopped outside oc_jupyter (its container is gone or not running); "
            "create a new sandbox."
        )


class Sandboxes:
    """The sandboxes of one server: create, look up, kill, keep alive, reap."""

    def __init__(self, store: Store, engine: Callable[[], Engine], instance: str) -> None:
        self._store = store
        self._engine = engine
        self.instance = instance
        self._activity: dict[str, float] = {}
        self._alive_checked: dict[str, float] = {}
        self.removed_hooks: list[RemovedHook] = []
        self.pool = WarmPool(self._start_warm, self._discard_warm, is_ready=self._warm_ready)

    @staticmethod
    def container_name(sandbox_id: str) -> str:
        return CONTAINER_PREFIX + sandbox_id

    @staticmethod
    def new_id() -> str:
        return "sb-" + secrets.token_hex(8)

    async def _run_container(self, sandbox_id: str, image_ref: str, envs: dict[str, str],
                             labels: tuple[str, ...] = ()) -> str:
        """``run -d`` the sandbox's container; return its id (nothing is left behind on failure)."""
        engine = self._engine()
        name = self.container_name(sandbox_id)
        env_args = [arg for k, v in envs.items() for arg in ("-e", f"{k}={v}")]
        label_args = [arg for label in labels for arg in ("--label", label)]
        try:
            result = await engine.run(
                "run", "-d", "--name", name, "--hostname", sandbox_id, "--init",
                "--label", f"{SANDBOX_LABEL}={sandbox_id}", "--label", f"{INSTANCE_LABEL}={self.instance}",
                *label_args,
                # The image's own entrypoint (a pulled base may have one) must not swallow the idle command.
                "--entrypoint", "sleep", *env_args, image_ref, "infinity",
                check=False,
            )
        except BaseException:
            await asyncio.shield(engine.remove_containers([name]))
            raise
        if not result.ok:
            await engine.remove_containers([name])
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise EngineError(f"Starting a container from {image_ref!r} failed: {detail}")
        return result.stdout.strip()

    # -- the warm pool's container work -------------------------------------
    async def _start_warm(self, image_ref: str) -> Warm:
        """A container for a future sandbox, its agent starting (so its first command is fast too)."""
        from .agent import agent_for

        sandbox_id = self.new_id()
        container_id = await self._run_container(sandbox_id, image_ref, {}, (f"{POOL_LABEL}=1",))
        # The agent starts in the background: a create arriving meanwhile takes the
        # container at once, and its first command waits for that same start.
        agent_for(sandbox_id, container_id, self._engine(), lambda: self.touch(sandbox_id)).prestart()
        return Warm(sandbox_id, container_id, image_ref, time.time())

    @staticmethod
    async def _write_profile_env(warm: Warm, envs: dict[str, str]) -> bool:
        """Give login shells (``bash -l``, ``podman exec … bash -lc``) the variables a cold start passes to ``run``."""
        from .agent.registry import peek

        agent = peek(warm.sandbox_id)
        if agent is None:
            return False
        # A name no shell accepts would break every login shell; commands still get it from the agent.
        script = "".join(
            f"export {k}={shlex.quote(v)}\n" for k, v in envs.items() if _SHELL_NAME.fullmatch(k)
        ).encode()

        async def body():
            yield script

        try:
            await agent.write(PROFILE_ENV, body())
        except Exception as exc:  # noqa: BLE001 - the caller starts a container itself instead
            log.warning("could not hand out warm container %s: %s", warm.sandbox_id, exc)
            return False
        return True

    @staticmethod
    def _warm_ready(warm: Warm) -> bool:
        """Whether the warm container's agent runs or is starting (it dies with the container), without an engine call."""
        from .agent.registry import peek

        agent = peek(warm.sandbox_id)
        return agent is not None and agent.usable

    async def _discard_warm(self, warm: list[Warm]) -> None:
        from .agent import close_sandbox

        for item in warm:
            with contextlib.suppress(Exception):
                await close_sandbox(item.sandbox_id)
        await self._engine().remove_containers([self.container_name(item.sandbox_id) for item in warm])

    async def create(self, *, image_ref: str, template_id: str, content_hash: str | None, snapshot: str | None,
                     envs: dict[str, str], metadata: dict[str, str], timeout: int,
                     cpu_count: int | None = None, memory_mb: int | None = None) -> SandboxRecord:
        """Hand out a warm container or start one, and record the sandbox; nothing is kept if either fails."""
        engine = self._engine()
        warm = await self.pool.take(image_ref)
        if warm is not None and envs and not await self._write_profile_env(warm, envs):
            await self._discard_warm([warm])
            warm = None
        if warm is not None:
            sandbox_id, container_id = warm.sandbox_id, warm.container_id
        else:
            sandbox_id = self.new_id()
            container_id = await self._run_container(sandbox_id, image_ref, envs)
        name = self.container_name(sandbox_id)
        now = utcnow()
        record = SandboxRecord(
            id=sandbox_id, container_id=container_id, template_id=template_id, image_ref=image_ref,
            content_hash=content_hash, snapshot=snapshot, envs=dict(envs), metadata=dict(metadata),
            timeout=timeout, cpu_count=cpu_count, memory_mb=memory_mb, created_at=now, last_active_at=now,
        )
        try:
            self._store.add_sandbox(record)
        except BaseException:
            await asyncio.shield(self._discard_warm([warm]) if warm else engine.remove_containers([name]))
            raise
        self._activity[sandbox_id] = time.time()
        self._alive_checked[sandbox_id] = time.monotonic()
        self.pool.refill(image_ref)
        return record

    def record(self, sandbox_id: str) -> SandboxRecord:
        record = self._store.get_sandbox(sandbox_id)
        if record is None:
            raise NotFoundError(
                f"Sandbox {sandbox_id!r} not found; it may have been killed or reaped after its idle "
                "timeout (list sandboxes with GET /sandboxes).",
                code=ErrorCode.SANDBOX_NOT_FOUND,
            )
        return record

    async def get(self, sandbox_id: str) -> SandboxRecord:
        """The sandbox's record, after checking (at most every few seconds) that its container runs."""
        record = self.record(sandbox_id)
        checked = self._alive_checked.get(sandbox_id)
        if checked is None or time.monotonic() - checked > ALIVE_TRUST_SECONDS:
            if not await self._engine().container_running(self.container_name(sandbox_id)):
                self._alive_checked.pop(sandbox_id, None)
                raise SandboxStopped(sandbox_id)
            self._alive_checked[sandbox_id] = time.monotonic()
        return record

    async def status(self, sandbox_id: str) -> str:
        running = await self._engine().container_running(self.container_name(sandbox_id))
        return "running" if running else "stopped"

    async def statuses(self) -> dict[str, str]:
        """Every sandbox's status in one engine call."""
        rows = await self._engine().containers(f"{INSTANCE_LABEL}={self.instance}", f"{SANDBOX_LABEL}")
        running = {row["name"][len(CONTAINER_PREFIX):] for row in rows if row["state"] == "running"}
        return {r.id: ("running" if r.id in running else "stopped") for r in self._store.list_sandboxes()}

    def touch(self, sandbox_id: str) -> None:
        """Note activity in a sandbox so the idle reaper leaves it alone (cheap: in memory)."""
        self._activity[sandbox_id] = time.time()

    def set_timeout(self, sandbox_id: str, timeout: int) -> None:
        self.record(sandbox_id)
        self._store.set_sandbox_timeout(sandbox_id, timeout)
        self.touch(sandbox_id)

    async def kill(self, sandbox_id: str) -> None:
        """Remove the sandbox's container and record, then tell whoever held resources for it."""
        self.record(sandbox_id)
        await self._remove(sandbox_id)

    async def _remove(self, sandbox_id: str) -> None:
        for hook in list(self.removed_hooks):
            try:
                outcome = hook(sandbox_id)
                if outcome is not None:
                    await outcome
            except Exception:  # noqa: BLE001 - one hook failing must not keep a container alive
                log.exception("sandbox removal hook failed for %s", sandbox_id)
        await self._engine().remove_containers([self.container_name(sandbox_id)])
        self._store.delete_sandbox(sandbox_id)
        self._activity.pop(sandbox_id, None)
        self._alive_checked.pop(sandbox_id, None)

    def _last_active(self, record: SandboxRecord) -> float:
        stored = parse_time(record.last_active_at).timestamp()
        return max(stored, self._activity.get(record.id, 0.0))

    async def reap_once(self) -> list[str]:
        """Kill every sandbox idle longer than its timeout (0 = never); return their ids."""
        now = time.time()
        reaped = []
        await self.pool.reap_idle()
        for record in self._store.list_sandboxes():
            if record.timeout > 0 and now - self._last_active(record) > record.timeout:
                log.info("reaping %s after %ss idle", record.id, record.timeout)
                await self._remove(record.id)
                reaped.append(record.id)
        self._flush_activity()
        return reaped

    def _flush_activity(self) -> None:
        stamps = {
            sid: datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for sid, t in self._activity.items()
        }
        self._store.touch_sandboxes(stamps)

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            with contextlib.suppress(Exception):
                await self.reap_once()

    async def close(self) -> None:
        """At server shutdown: remove the warm containers (sandboxes themselves stay until reaped or killed)."""
        await self.pool.close()
        # A fill cancelled half-way may have left a container the pool never saw.
        with contextlib.suppress(Exception):
            await self.remove_orphans()

    async def remove_orphans(self) -> list[str]:
        """Remove this instance's sandbox containers that no record names (left by a crash, or warm ones)."""
        engine = self._engine()
        known = {r.id for r in self._store.list_sandboxes()}
        rows = await engine.containers(f"{INSTANCE_LABEL}={self.instance}", SANDBOX_LABEL)
        orphans = [
            row["id"] for row in rows
            if row["name"].startswith(CONTAINER_PREFIX) and row["name"][len(CONTAINER_PREFIX):] not in known
        ]
        await engine.remove_containers(orphans)
        return orphans
