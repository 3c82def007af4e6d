"""Sandboxes as containers: started from a built image, labelled, tracked, hibernated when idle.

A sandbox is a detached container running an init process and an idle
``sleep`` (so it stays up and stops promptly), on the engine's default
network (so pip and apt reach their indexes), with nothing from the host
mounted. It is labelled ``oc-jupyter.sandbox=<id>`` and
``oc-jupyter.instance=<server instance>`` so ``podman ps --filter label=…``
finds it and a restarted server recognises its own.

A sandbox idle longer than its timeout is hibernated, as OpenComputer does:
its container is paused (memory and processes kept, no CPU) and the next
command or file call unpauses it first. A paused container is the record of
hibernation, so a restarted server finds its hibernated sandboxes as it left
them. Disk-only checkpoints are images committed from a sandbox's container,
tagged under :data:`CHECKPOINT_REPOSITORY`; restoring one recreates the
container from it, forking one starts a new sandbox from it.

Every container runs under :mod:`.limits` (memory, CPUs, processes, and no
network when asked). Creates are served from a :class:`~.warm_pool.WarmPool`
when it holds a started container (and agent) for the image; warm
containers carry the default limits, so a create asking for other limits (or
no network) starts its own. Sandbox-level ``envs`` are therefore not baked
into the container: the agent adds them to every command it runs (a cold
start also passes them to ``run`` through an env file, never the command
line, so ``podman exec`` sees them there too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shlex
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timezone

from oc_jupyter.wire.codes import ErrorCode

from .builder import INSTANCE_LABEL
from .engine import Engine, env_file_args
from .errors import ConflictError, EngineError, NotFoundError
from .limits import KILLED_STATUS, Limits, host_memory_mb, host_oom_kills, oom_kills, oom_message, sandbox_defaults
from .store import CheckpointRecord, SandboxRecord, Store, parse_time, utcnow
from .warm_pool import POOL_LABEL, Warm, WarmPool

__all__ = ["Sandboxes", "SANDBOX_LABEL", "CONTAINER_PREFIX", "CHECKPOINT_REPOSITORY", "SandboxStopped"]

log = logging.getLogger(__name__)

SANDBOX_LABEL = "oc-jupyter.sandbox"
CONTAINER_PREFIX = "oc-jupyter-"
REAP_INTERVAL = 5.0
# Where a warm container handed out with ``envs`` gets them for login shells.
PROFILE_ENV = "/etc/profile.d/oc-sandbox-env.sh"
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# How long a positive "its container runs" check is trusted before asking the engine again.
ALIVE_TRUST_SECONDS = 10.0
CHECKPOINT_REPOSITORY = "localhost/oc-jupyter/checkpoint"
# Seconds a reboot lets the sandbox's processes end on SIGTERM; a power cycle gives none.
REBOOT_GRACE = 3

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
        # The OOM-kill count of each sandbox's cgroup when last looked at.
        self._oom_seen: dict[str, int] = {}
        self.removed_hooks: list[RemovedHook] = []
        self._hibernated: set[str] = set()
        self._lifecycle_locks: dict[str, asyncio.Lock] = {}
        self.pool = WarmPool(self._start_warm, self._discard_warm, is_ready=self._warm_ready)

    @staticmethod
    def container_name(sandbox_id: str) -> str:
        return CONTAINER_PREFIX + sandbox_id

    @staticmethod
    def new_id() -> str:
        return "sb-" + secrets.token_hex(8)

    async def _run_container(
        self, sandbox_id: str, image_ref: str, envs: dict[str, str], limits: Limits, labels: tuple[str, ...] = ()
    ) -> str:
        """``run -d`` the sandbox's container; return its id (nothing is left behind on failure)."""
        engine = self._engine()
        name = self.container_name(sandbox_id)
        label_args = [arg for label in labels for arg in ("--label", label)]
        try:
            with env_file_args(envs) as env_args:
                result = await engine.run(
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--hostname",
                    sandbox_id,
                    "--init",
                    "--label",
                    f"{SANDBOX_LABEL}={sandbox_id}",
                    "--label",
                    f"{INSTANCE_LABEL}={self.instance}",
                    *label_args,
                    *limits.engine_args(),
                    # The image's own entrypoint (a pulled base may have one) must not swallow the idle command.
                    "--entrypoint",
                    "sleep",
                    *env_args,
                    image_ref,
                    "infinity",
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
        container_id = await self._run_container(sandbox_id, image_ref, {}, sandbox_defaults(), (f"{POOL_LABEL}=1",))
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
        script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in envs.items() if _SHELL_NAME.fullmatch(k)).encode()

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

    async def create(
        self,
        *,
        image_ref: str,
        template_id: str,
        content_hash: str | None,
        snapshot: str | None,
        envs: dict[str, str],
        metadata: dict[str, str],
        timeout: int,
        limits: Limits | None = None,
    ) -> SandboxRecord:
        """Hand out a warm container or start one, and record the sandbox; nothing is kept if either fails."""
        engine = self._engine()
        limits = limits or sandbox_defaults()
        # Warm containers run with the default limits, which cannot change once started.
        warm = await self.pool.take(image_ref) if limits == sandbox_defaults() else None
        if warm is not None and envs and not await self._write_profile_env(warm, envs):
            await self._discard_warm([warm])
            warm = None
        if warm is not None:
            sandbox_id, container_id = warm.sandbox_id, warm.container_id
        else:
            sandbox_id = self.new_id()
            container_id = await self._run_container(sandbox_id, image_ref, envs, limits)
        name = self.container_name(sandbox_id)
        now = utcnow()
        record = SandboxRecord(
            id=sandbox_id,
            container_id=container_id,
            template_id=template_id,
            image_ref=image_ref,
            content_hash=content_hash,
            snapshot=snapshot,
            envs=dict(envs),
            metadata=dict(metadata),
            timeout=timeout,
            cpu_count=limits.cpus,
            memory_mb=limits.memory_mb,
            network_enabled=limits.network,
            created_at=now,
            last_active_at=now,
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
                f"Sandbox {sandbox_id!r} not found; it was killed or never existed "
                "(list sandboxes with GET /sandboxes).",
                code=ErrorCode.SANDBOX_NOT_FOUND,
            )
        return record

    async def get(self, sandbox_id: str) -> SandboxRecord:
        """The sandbox's record, after checking (at most every few seconds) that its container runs."""
        record = self.record(sandbox_id)
        if sandbox_id in self._hibernated:
            await self.wake(sandbox_id)
            return record
        checked = self._alive_checked.get(sandbox_id)
        if checked is None or time.monotonic() - checked > ALIVE_TRUST_SECONDS:
            state = await self._engine().container_state(self.container_name(sandbox_id))
            if state == "paused":
                # Hibernated before this server started (or paused by hand): wake it like any other.
                self._hibernated.add(sandbox_id)
                await self.wake(sandbox_id)
                return record
            if state != "running":
                self._alive_checked.pop(sandbox_id, None)
                raise SandboxStopped(sandbox_id)
            self._alive_checked[sandbox_id] = time.monotonic()
        return record

    async def disk_used_mb(self, sandbox_id: str) -> int | None:
        """Megabytes the sandbox wrote on top of its image (``None`` when the engine cannot tell)."""
        result = await self._engine().run(
            "container", "inspect", "--size", "--format", "{{.SizeRw}}", self.container_name(sandbox_id), check=False
        )
        text = result.stdout.strip()
        return int(text) // (1024 * 1024) if result.ok and text.isdigit() else None

    async def oom_kills(self, sandbox_id: str) -> int | None:
        """How many processes the sandbox's memory limit has killed since it started."""
        record = self._store.get_sandbox(sandbox_id)
        return await oom_kills(self._engine(), self.container_name(sandbox_id), record.container_id if record else "")

    def cheap_oom_kills(self, sandbox_id: str) -> int | None:
        """The same count when the host's cgroup files show it (no engine call), else ``None``."""
        record = self._store.get_sandbox(sandbox_id)
        return host_oom_kills(record.container_id) if record else None

    async def oom_report(self, sandbox_id: str, exit_code: int, what: str) -> str | None:
        """The out-of-memory sentence if a command that ended with ``exit_code`` was killed by the memory limit.

        An exit of 137 alone only says SIGKILL; the container's memory cgroup
        counts the kills its limit made, so a rise in that count since the
        last look tells the two apart. (``State.OOMKilled`` is no help: it
        covers the container's first process only, never an exec'd command.)
        """
        if exit_code != KILLED_STATUS:
            return None
        record = self._store.get_sandbox(sandbox_id)
        if record is None or record.memory_mb is None:
            return None
        count = await self.oom_kills(sandbox_id)
        if count is None or count <= self._oom_seen.get(sandbox_id, 0):
            return None
        self._oom_seen[sandbox_id] = count
        return oom_message(
            what,
            record.memory_mb,
            f"create the sandbox with more memory (memory_mb={_more(record.memory_mb)}, "
            f"or %oc_run --memory {_more(record.memory_mb)})",
        )

    async def status(self, sandbox_id: str) -> str:
        """``running``, ``hibernated`` or ``stopped``, without waking the sandbox."""
        if sandbox_id in self._hibernated:
            return "hibernated"
        state = await self._engine().container_state(self.container_name(sandbox_id))
        if state == "paused":
            self._hibernated.add(sandbox_id)
        return _STATUS.get(state or "", "stopped")

    async def statuses(self) -> dict[str, str]:
        """Every sandbox's status in one engine call."""
        rows = await self._engine().containers(f"{INSTANCE_LABEL}={self.instance}", f"{SANDBOX_LABEL}")
        states = {row["name"][len(CONTAINER_PREFIX) :]: row["state"] for row in rows}
        self._hibernated |= {sid for sid, state in states.items() if state == "paused"}
        return {r.id: _STATUS.get(states.get(r.id, ""), "stopped") for r in self._store.list_sandboxes()}

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
        if sandbox_id in self._hibernated:
            # The agent's engine process is frozen with the container; it must be able to end.
            with contextlib.suppress(Exception):
                await self._engine().unpause(self.container_name(sandbox_id))
            self._hibernated.discard(sandbox_id)
        record = self._store.get_sandbox(sandbox_id)
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
        self._lifecycle_locks.pop(sandbox_id, None)
        await self._forget_checkpoints(sandbox_id, record)
        self._oom_seen.pop(sandbox_id, None)

    def _last_active(self, record: SandboxRecord) -> float:
        stored = parse_time(record.last_active_at).timestamp()
        return max(stored, self._activity.get(record.id, 0.0))

    async def reap_once(self) -> list[str]:
        """Hibernate every sandbox idle longer than its timeout (0 = never); return their ids.

        A running command counts as activity (its agent marks the sandbox
        active while it runs), so a long silent command is never frozen. A
        sandbox whose container vanished is removed instead.
        """
        now = time.time()
        reaped = []
        await self.pool.reap_idle()
        for record in self._store.list_sandboxes():
            if record.id in self._hibernated:
                continue
            if record.timeout > 0 and now - self._last_active(record) > record.timeout:
                log.info("hibernating %s after %ss idle", record.id, record.timeout)
                try:
                    await self.hibernate(record.id)
                except SandboxStopped:
                    await self._remove(record.id)
                except Exception:  # noqa: BLE001 - one sandbox the engine fails to pause must not spare the rest
                    log.exception("could not hibernate idle sandbox %s", record.id)
                    continue
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
        # The same listing tells which sandboxes a previous run left hibernated.
        self._hibernated |= {
            row["name"][len(CONTAINER_PREFIX) :]
            for row in rows
            if row["state"] == "paused" and row["name"][len(CONTAINER_PREFIX) :] in known
        }
        orphans = [
            row["id"]
            for row in rows
            if row["name"].startswith(CONTAINER_PREFIX) and row["name"][len(CONTAINER_PREFIX) :] not in known
        ]
        await engine.remove_containers(orphans)
        return orphans

    # -- hibernate and wake, restart, resize --------------------------------
    def _lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._lifecycle_locks.setdefault(sandbox_id, asyncio.Lock())

    def is_hibernated(self, sandbox_id: str) -> bool:
        return sandbox_id in self._hibernated

    async def hibernate(self, sandbox_id: str) -> None:
        """Pause the sandbox's container: its memory and processes stay, it uses no CPU until woken."""
        self.record(sandbox_id)
        name = self.container_name(sandbox_id)
        async with self._lock(sandbox_id):
            if sandbox_id in self._hibernated:
                return
            try:
                await self._engine().pause(name)
            except EngineError:
                state = await self._engine().container_state(name)
                if state is None or state not in {"running", "paused"}:
                    raise SandboxStopped(sandbox_id) from None
                if state != "paused":
                    raise
            self._hibernated.add(sandbox_id)
            self._alive_checked.pop(sandbox_id, None)

    async def wake(self, sandbox_id: str) -> float | None:
        """Unpause a hibernated sandbox; the milliseconds it took, or None if it was not hibernated."""
        self.record(sandbox_id)
        name = self.container_name(sandbox_id)
        async with self._lock(sandbox_id):
            if sandbox_id not in self._hibernated:
                return None
            started = time.perf_counter()
            try:
                await self._engine().unpause(name)
            except EngineError:
                state = await self._engine().container_state(name)
                if state != "running":
                    if state != "paused":
                        self._hibernated.discard(sandbox_id)
                        raise SandboxStopped(sandbox_id) from None
                    raise
            self._hibernated.discard(sandbox_id)
            self.touch(sandbox_id)
            self._alive_checked[sandbox_id] = time.monotonic()
            return (time.perf_counter() - started) * 1000

    async def restart(self, sandbox_id: str, *, grace: int = REBOOT_GRACE) -> None:
        """Restart the sandbox's container: every process ends, the disk stays."""
        await self.get(sandbox_id)
        from .agent import close_sandbox

        async with self._lock(sandbox_id):
            await close_sandbox(sandbox_id)
            await self._engine().restart(self.container_name(sandbox_id), grace=grace)
            self.touch(sandbox_id)
            self._alive_checked[sandbox_id] = time.monotonic()

    async def scale(self, sandbox_id: str, memory_mb: int) -> SandboxRecord:
        """Change the sandbox's memory limit while it runs."""
        await self.get(sandbox_id)
        result = await self._engine().run(
            "update",
            "--memory",
            f"{memory_mb}m",
            "--memory-swap",
            f"{memory_mb}m",
            self.container_name(sandbox_id),
            check=False,
        )
        if not result.ok:
            detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConflictError(
                f"The container engine refused to change the memory of sandbox {sandbox_id!r} to {memory_mb} MB "
                f"({detail}); ask for more than the sandbox uses now, or create a new sandbox with memory_mb."
            )
        self._store.set_sandbox_memory(sandbox_id, memory_mb)
        self.touch(sandbox_id)
        return self.record(sandbox_id)

    # -- disk checkpoints ---------------------------------------------------
    async def checkpoint(self, sandbox_id: str, name: str, kind: str) -> CheckpointRecord:
        """Commit the sandbox's file system to an image and record it under ``name``."""
        await self.get(sandbox_id)
        if any(c.name == name for c in self._store.list_checkpoints(sandbox_id)):
            raise _name_taken(sandbox_id, name)
        checkpoint_id = str(uuid.uuid4())
        image = f"{CHECKPOINT_REPOSITORY}:{checkpoint_id}"
        engine = self._engine()
        await engine.commit(self.container_name(sandbox_id), image)
        record = CheckpointRecord(
            id=checkpoint_id,
            sandbox_id=sandbox_id,
            name=name,
            kind=kind,
            status="ready",
            size_bytes=await engine.image_size(image),
            image_ref=image,
            created_at=utcnow(),
        )
        if not self._store.add_checkpoint(record):
            await engine.remove_image(image)
            raise _name_taken(sandbox_id, name)
        self.touch(sandbox_id)
        return record

    def get_checkpoint(self, checkpoint_id: str, sandbox_id: str | None = None) -> CheckpointRecord:
        record = self._store.get_checkpoint(checkpoint_id)
        if record is None or (sandbox_id is not None and record.sandbox_id != sandbox_id):
            where = f" of sandbox {sandbox_id!r}" if sandbox_id else ""
            raise NotFoundError(
                f"Checkpoint {checkpoint_id!r}{where} not found; list them with GET /sandboxes/<id>/checkpoints."
            )
        return record

    async def delete_checkpoint(self, sandbox_id: str, checkpoint_id: str) -> None:
        """Forget the checkpoint; its image goes too unless a sandbox still runs from it."""
        record = self.get_checkpoint(checkpoint_id, sandbox_id)
        self._store.delete_checkpoint(checkpoint_id)
        await self._release_images({record.image_ref})

    async def restore(self, sandbox_id: str, checkpoint_id: str) -> SandboxRecord:
        """Revert the sandbox to the checkpoint in place: same id, envs and limits, a new container from its image."""
        checkpoint = self.get_checkpoint(checkpoint_id, sandbox_id)
        record = await self.get(sandbox_id)
        from .agent import close_sandbox

        engine = self._engine()
        name = self.container_name(sandbox_id)
        async with self._lock(sandbox_id):
            await close_sandbox(sandbox_id)
            await engine.remove_containers([name])
            container_id = await self._run_container(sandbox_id, checkpoint.image_ref, record.envs, _limits_of(record))
            self._store.set_sandbox_container(sandbox_id, container_id, checkpoint.image_ref)
            self.touch(sandbox_id)
            self._alive_checked[sandbox_id] = time.monotonic()
        await self._release_images({record.image_ref})
        return self.record(sandbox_id)

    async def fork(
        self,
        checkpoint_id: str,
        *,
        envs: dict[str, str],
        metadata: dict[str, str],
        timeout: int,
        memory_mb: int | None = None,
    ) -> SandboxRecord:
        """A new sandbox started from the checkpoint's image, with the source's variables under ``envs``."""
        checkpoint = self.get_checkpoint(checkpoint_id)
        source = self.record(checkpoint.sandbox_id)
        merged = {**source.envs, **envs}
        sandbox_id = self.new_id()
        limits = _limits_of(source)
        if memory_mb:
            limits = replace(limits, memory_mb=memory_mb)
        container_id = await self._run_container(sandbox_id, checkpoint.image_ref, merged, limits)
        now = utcnow()
        record = SandboxRecord(
            id=sandbox_id,
            container_id=container_id,
            template_id=source.template_id,
            image_ref=checkpoint.image_ref,
            content_hash=source.content_hash,
            snapshot=source.snapshot,
            envs=merged,
            metadata=dict(metadata),
            timeout=timeout,
            cpu_count=limits.cpus,
            memory_mb=limits.memory_mb,
            network_enabled=limits.network,
            created_at=now,
            last_active_at=now,
        )
        try:
            self._store.add_sandbox(record)
        except BaseException:
            await asyncio.shield(self._engine().remove_containers([self.container_name(sandbox_id)]))
            raise
        self._activity[sandbox_id] = time.time()
        self._alive_checked[sandbox_id] = time.monotonic()
        return record

    async def _forget_checkpoints(self, sandbox_id: str, record: SandboxRecord | None) -> None:
        """A removed sandbox's checkpoints go with it; an image a fork still runs from stays until that fork goes."""
        images = set()
        for checkpoint in self._store.list_checkpoints(sandbox_id):
            self._store.delete_checkpoint(checkpoint.id)
            images.add(checkpoint.image_ref)
        if record is not None:
            images.add(record.image_ref)
        await self._release_images(images)

    async def _release_images(self, images: set[str]) -> None:
        """Remove the checkpoint images among ``images`` that no sandbox or checkpoint uses any more."""
        images = {image for image in images if image.startswith(CHECKPOINT_REPOSITORY + ":")}
        if not images:
            return
        in_use = {r.image_ref for r in self._store.list_sandboxes()}
        in_use |= {c.image_ref for c in self._store.list_checkpoints()}
        for image in sorted(images - in_use):
            if not await self._engine().remove_image(image):
                log.warning("could not remove checkpoint image %s", image)


def _limits_of(record: SandboxRecord) -> Limits:
    """The limits a sandbox's container runs with, as recorded (a restore or a fork keeps them)."""
    defaults = sandbox_defaults()
    return Limits(
        record.memory_mb or defaults.memory_mb, record.cpu_count or defaults.cpus, defaults.pids, record.network_enabled
    )


# The engine's container states as the API reports them.
_STATUS = {"running": "running", "paused": "hibernated"}


def _name_taken(sandbox_id: str, name: str) -> ConflictError:
    return ConflictError(
        f"Sandbox {sandbox_id!r} already has a checkpoint named {name!r}; pick another name or delete that one first."
    )


def _more(memory_mb: int) -> int:
    """A limit worth suggesting after an out-of-memory kill: twice the old one, within the host's RAM."""
    return min(memory_mb * 2, host_memory_mb())
