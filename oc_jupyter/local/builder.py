"""Image builds: each manifest step becomes its own cached layer in the engine.

The layer after step ``i`` is tagged ``localhost/oc-jupyter/layer:<hash of
steps[:i]>``, so the cache is simply "the tag exists" and survives a new
server home; the last layer's tag is the manifest's ``contentHash``. Editing
the last step of an image therefore rebuilds only that step.

A step runs in a container made from the previous layer (``run`` for shell
steps, ``create`` + ``cp`` of a tar stream for file steps), which is then
committed. Running the step ourselves, rather than through ``podman build``,
streams its output line by line as it is printed, and lets the build
container carry the ``oc-jupyter.build``/``oc-jupyter.instance`` labels so a
server killed mid-build can find and remove it on its next start. A
committed layer keeps only ``oc-jupyter.built-by`` (the instance that built
it), which is not a label any cleanup filters containers by, so a layer
store shared by several servers can tell whose builds a layer came from.

Step containers mount shared download caches (pip's wheelhouse, apt's
archives and lists; see :mod:`.cache`) outside the committed file system, and
layers beyond the cache budget are evicted after each build.

Concurrent requests for one manifest share one :class:`BuildJob`; a late
joiner gets the events so far replayed, then the live ones. The build runs in
its own task, so a client that disconnects does not stop it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import posixpath
import secrets
import shlex
import tarfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baseimage import base_image_ref, ensure_base_image
from .cache import DEFAULT_LAYER_REPOSITORY, LayerCache, ensure_cache_volumes, layer_repository, volume_args
from .engine import SLOW_TIMEOUT, Engine, env_file_args
from .errors import ApiError, BuildError
from .limits import KILLED_STATUS, OOM_PROBE, Limits, build_limits, ensure_disk_space, oom_message
from .limits import host_memory_mb as _host_mb
from .manifest import Manifest, decode_base64, describe_step
from .store import Store

__all__ = ["Builder", "BuildJob", "BuildEvent", "LAYER_REPOSITORY", "BUILD_LABEL", "BUILT_BY_LABEL", "INSTANCE_LABEL"]

log = logging.getLogger(__name__)

LAYER_REPOSITORY = DEFAULT_LAYER_REPOSITORY
BUILD_LABEL = "oc-jupyter.build"
INSTANCE_LABEL = "oc-jupyter.instance"
BUILT_BY_LABEL = "oc-jupyter.built-by"
# Builds use the engine's default network, as sandboxes do: package indexes are
# reachable, services listening on the host's loopback (this server, Jupyter) are not.
TAIL_LINES = 20
# Events kept for replay to late joiners (between this and twice this many);
# older ones are dropped so a build printing millions of lines keeps the
# server's memory bounded.
REPLAY_LIMIT = 20_000
#: How long a build waits for a slow follower before dropping lines it has not taken.
FOLLOWER_GRACE = 30.0

# Runs a step's script with bash when the image has it (users write bash), else sh;
# stderr joins stdout so the log keeps the order in which lines were printed.
# A script killed with SIGKILL is followed by the count of the memory limit's
# kills in the container's cgroup (the engine's OOMKilled flag covers only
# the container's first process), on a last line the builder recognises.
_OOM_LINE = "oc-jupyter: out-of-memory kills:"
_WRAPPER = (
    "exec 2>&1; export DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 "
    'PIP_PROGRESS_BAR=off; if command -v bash >/dev/null 2>&1; then bash -c "$1"; else sh -c "$1"; fi; rc=$?; '
    f'if [ "$rc" -eq {KILLED_STATUS} ]; then n=$({OOM_PROBE}); '
    f'[ "${{n:-0}}" -gt 0 ] && echo "{_OOM_LINE} $n"; fi; exit "$rc"'
)


@dataclass(frozen=True)
class BuildEvent:
    """One Server-Sent Event of a build: ``build_log`` or ``error``."""

    event: str
    data: dict[str, Any]


class BuildJob:
    """One running (or finished) build of a manifest, observable by many clients.

    Events are kept for replay to late joiners. To bound memory, old events
    are dropped once there are many; a live follower still loses no line: the
    build waits (up to :data:`FOLLOWER_GRACE` seconds) until every follower
    has taken the events about to be dropped, so a slow client slows the
    build's output instead. Only a stalled client sees a gap notice.
    """

    def __init__(self, content_hash: str, total: int) -> None:
        self.content_hash = content_hash
        self.total = total
        self._events: list[BuildEvent] = []
        self._offset = 0
        self._cursors: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self.finished = False
        self.image: str | None = None
        self.error: BuildError | ApiError | None = None
        self.task: asyncio.Task | None = None

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        async with self._changed:
            self._events.append(BuildEvent(event, data))
            self._changed.notify_all()
            if len(self._events) > 2 * REPLAY_LIMIT:
                keep_from = self._offset + REPLAY_LIMIT
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: all(c >= keep_from for c in self._cursors.values())),
                        FOLLOWER_GRACE,
                    )
                except asyncio.TimeoutError:
                    pass
                del self._events[:REPLAY_LIMIT]
                self._offset += REPLAY_LIMIT

    async def log(self, step: int, type_: str, message: str, phase: str, **extra: Any) -> None:
        await self.emit("build_log", {"step": step, "type": type_, "message": message, "phase": phase, **extra})

    async def finish(self, image: str | None, error: BuildError | ApiError | None) -> None:
        async with self._changed:
            self.image, self.error, self.finished = image, error, True
            self._changed.notify_all()

    async def follow_batches(self) -> AsyncIterator[list[BuildEvent]]:
        """Every event so far, then the new ones as they come, in batches, until the build ends."""
        token = id(object())
        cursor = 0
        try:
            while True:
                async with self._changed:
                    self._cursors[token] = cursor
                    await self._changed.wait_for(lambda: self.finished or cursor < self._offset + len(self._events))  # noqa: B023 -- called within this iteration
                    batch: list[BuildEvent] = []
                    if cursor < self._offset:
                        batch.append(
                            BuildEvent(
                                "build_log",
                                {
                                    "step": 0,
                                    "type": "build",
                                    "phase": "output",
                                    "message": f"... {self._offset - cursor} lines not shown (the client fell behind) ...",
                                },
                            )
                        )
                        cursor = self._offset
                    new = self._events[cursor - self._offset :]
                    cursor += len(new)
                    batch += new
                    self._cursors[token] = cursor
                    self._changed.notify_all()
                    done = self.finished and cursor >= self._offset + len(self._events)
                if batch:
                    yield batch
                if done:
                    return
        finally:
            self._cursors.pop(token, None)

    async def result(self) -> str:
        """The built image reference; raises the build's error if it failed."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.finished)
        if self.error is not None:
            raise self.error
        assert self.image is not None
        return self.image


class _StepFailed(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class Builder:
    """Builds manifests into engine images, sharing concurrent builds of one manifest."""

    def __init__(self, engine: Callable[[], Engine], store: Store, instance: str, lock_dir: Path) -> None:
        self._engine = engine
        self._store = store
        self.instance = instance
        self._lock_dir = lock_dir
        self._jobs: dict[str, BuildJob] = {}
        self._layer_locks: dict[str, asyncio.Lock] = {}
        # Images seen to exist: a cache hit on them costs no engine call. If one
        # is removed behind our back, starting a container fails and the caller
        # calls forget() and builds again.
        self._known: set[str] = set()
        self._configs: dict[str, dict[str, Any]] = {}
        # Layer refs of builds in progress (with a count: two manifests may share a prefix).
        self._pins: dict[str, int] = {}
        self._cache_guard = asyncio.Lock()
        self.cache = LayerCache(engine, store, lambda: set(self._pins), self.forget, self._cache_guard)
        self._evictions: set[asyncio.Task] = set()

    @staticmethod
    def layer_ref(layer_hash: str) -> str:
        return f"{layer_repository()}:{layer_hash}"

    def image_ref(self, manifest: Manifest) -> str:
        """The engine reference a manifest builds into (the base itself when it has no step)."""
        return self.layer_ref(manifest.content_hash()) if manifest.steps else base_image_ref()

    async def preview(self, manifest: Manifest) -> dict[str, Any]:
        """Which steps of ``manifest`` are already built, without building anything."""
        engine = self._engine()
        hashes = manifest.layer_hashes()
        refs = [self.layer_ref(h) for h in hashes]
        found = await engine.existing_images([*refs, base_image_ref()])
        base_ready = base_image_ref() in found
        # A later layer existing makes every earlier step moot: it is never rebuilt.
        cached = [False] * len(hashes)
        later = False
        for i in range(len(hashes) - 1, -1, -1):
            later = later or refs[i] in found
            cached[i] = later
        return {
            "contentHash": manifest.content_hash(),
            "base": {"image": base_image_ref(), "cached": base_ready},
            "steps": [
                {"index": i + 1, "type": step.type, "description": describe_step(step), "cached": cached[i]}
                for i, step in enumerate(manifest.steps)
            ],
            "cached": cached[-1] if cached else base_ready,
        }

    def forget(self, image: str) -> bool:
        """Stop trusting that ``image`` exists; ``True`` if it was trusted."""
        if image in self._known:
            self._known.discard(image)
            return True
        return False

    def running_tasks(self) -> list[asyncio.Task]:
        jobs = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        return jobs + [task for task in self._evictions if not task.done()]

    def active(self, content_hash: str) -> BuildJob | None:
        job = self._jobs.get(content_hash)
        return job if job is not None and not job.finished else None

    def start(self, manifest: Manifest) -> BuildJob:
        """The build of ``manifest``: the one already running, or a new one started now."""
        content_hash = manifest.content_hash()
        job = self.active(content_hash)
        if job is not None:
            return job
        job = BuildJob(content_hash, len(manifest.steps))
        self._jobs[content_hash] = job
        # Pinned before any await, so an eviction running now skips these layers.
        self._pin(manifest, 1)
        job.task = asyncio.get_running_loop().create_task(self._run(job, manifest), name=f"build {content_hash[:12]}")
        return job

    def _pin(self, manifest: Manifest, delta: int) -> None:
        for layer_hash in manifest.layer_hashes():
            ref = self.layer_ref(layer_hash)
            count = self._pins.get(ref, 0) + delta
            if count > 0:
                self._pins[ref] = count
            else:
                self._pins.pop(ref, None)

    def evict_soon(self) -> asyncio.Task:
        """Evict beyond the cache budget in the background (after a build, at server start)."""

        async def evict() -> None:
            try:
                await self.cache.evict()
            except Exception as exc:  # noqa: BLE001 - a failed eviction only leaves the cache larger
                log.warning("evicting layer images failed: %s", exc)

        task = asyncio.get_running_loop().create_task(evict(), name="evict layers")
        self._evictions.add(task)
        task.add_done_callback(self._evictions.discard)
        return task

    async def _run(self, job: BuildJob, manifest: Manifest) -> None:
        image: str | None = None
        error: BuildError | ApiError | None = None
        recorded = False
        try:
            engine = self._engine()
            final = self.image_ref(manifest)
            async with self._cache_guard:
                hit = final in self._known or await engine.image_exists(final)
            if hit:
                await job.log(
                    0, "cache_hit", f"Image {job.content_hash[:12]} is already built; using the cache", "done"
                )
                image = final
                return
            limits = build_limits(manifest.builderMemoryMB)
            await ensure_disk_space(engine, "building an image")
            self._store.start_build(job.content_hash)
            recorded = True
            image = await self._build(job, manifest, engine, limits)
            self._store.finish_build(job.content_hash, "ready")
        except BuildError as exc:
            error = exc
            await job.emit("error", {"error": str(exc), "step": exc.step, "tail": exc.tail})
        except ApiError as exc:
            error = exc
            await job.emit("error", {"error": str(exc), "step": 0, "tail": []})
        except asyncio.CancelledError:
            error = ApiError("The build was cancelled because the server is stopping; create it again after restart.")
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the client; the server keeps running
            log.exception("build %s crashed", job.content_hash[:12])
            error = ApiError(f"The build failed unexpectedly: {exc}.")
            await job.emit("error", {"error": str(error), "step": 0, "tail": []})
        finally:
            self._pin(manifest, -1)
            if image is not None:
                self._known.add(image)
                try:
                    self._store.touch_layers([self.layer_ref(h) for h in manifest.layer_hashes()])
                except Exception:  # noqa: BLE001 - the store may be closed during shutdown
                    pass
            if error is not None and recorded:
                try:
                    self._store.finish_build(job.content_hash, "failed", str(error))
                except Exception:  # noqa: BLE001 - the store may be closed during shutdown
                    pass
            await job.finish(image, error)
            # Finished jobs are forgotten (their followers keep their own reference):
            # the next request for this manifest finds the image cached.
            if self._jobs.get(job.content_hash) is job:
                del self._jobs[job.content_hash]
            if recorded:
                self.evict_soon()

    async def _build(self, job: BuildJob, manifest: Manifest, engine: Engine, limits: Limits) -> str:
        total = len(manifest.steps)

        async def base_progress(line: str) -> None:
            await job.log(0, "build", line, "output")

        # Each engine call here costs ~0.1-0.5 s on a busy machine, which a
        # one-step rebuild feels: the base and its config are looked up once
        # per server, and all layers are checked in one call.
        base = base_image_ref()
        if base not in self._known:
            base = await ensure_base_image(engine, base_progress, lock_dir=self._lock_dir)
            self._known.add(base)
        if total == 0:
            return base
        config = self._configs.get(base)
        if config is None:
            config = self._configs[base] = await self._image_config(engine, base)
        hashes = manifest.layer_hashes()
        await ensure_cache_volumes(engine)
        async with self._cache_guard:
            found = await engine.existing_images([self.layer_ref(h) for h in hashes[:-1]])
        resume = max((i + 1 for i, h in enumerate(hashes) if self.layer_ref(h) in found), default=0)
        parent = self.layer_ref(hashes[resume - 1]) if resume else base
        for i, step in enumerate(manifest.steps, start=1):
            label = f"Step {i}/{total}: {describe_step(step)}"
            if i <= resume:
                await job.log(i, step.type, f"{label} (cached)", "cached")
                continue
            tag = self.layer_ref(hashes[i - 1])
            lock = self._layer_locks.setdefault(tag, asyncio.Lock())
            contended = lock.locked()
            async with lock:
                # Another manifest sharing this prefix may have just built it (the
                # last layer was checked by the caller, the others just above).
                if contended and await engine.image_exists(tag):
                    await job.log(i, step.type, f"{label} (cached)", "cached")
                else:
                    await job.log(i, step.type, label, "start")
                    started = time.monotonic()
                    await self._build_step(job, engine, i, step, parent, tag, config, limits)
                    elapsed = round(time.monotonic() - started, 3)
                    await job.log(i, step.type, f"{label} done in {elapsed:.1f}s", "done", elapsed=elapsed)
            parent = tag
        await job.log(total, "checkpoint", f"Image {job.content_hash[:12]} is ready", "done")
        return parent

    @staticmethod
    async def _image_config(engine: Engine, ref: str) -> dict[str, Any]:
        raw = (await engine.run("image", "inspect", "--format", "{{json .Config}}", ref)).stdout
        try:
            return json.loads(raw) or {}
        except json.JSONDecodeError:
            return {}

    async def _build_step(
        self,
        job: BuildJob,
        engine: Engine,
        index: int,
        step,
        parent: str,
        tag: str,
        config: dict[str, Any],
        limits: Limits,
    ) -> None:
        name = f"oc-build-{job.content_hash[:12]}-{index}-{secrets.token_hex(3)}"
        labels = ["--label", f"{BUILD_LABEL}={job.content_hash}", "--label", f"{INSTANCE_LABEL}={self.instance}"]
        tail: deque[str] = deque(maxlen=TAIL_LINES)

        async def output(line: str) -> None:
            tail.append(line)
            await job.log(index, step.type, line, "output")

        # A committed image inherits the build container's labels, command and
        # entrypoint: reset them so images (and sandboxes made from them) carry
        # only what the base had.
        changes = [
            f"LABEL {BUILD_LABEL}=",
            f"LABEL {INSTANCE_LABEL}=",
            f"LABEL {BUILT_BY_LABEL}={self.instance}",
            "ENTRYPOINT " + json.dumps(config.get("Entrypoint") or []),
            "CMD " + json.dumps(config.get("Cmd") or ["/bin/bash"]),
        ]
        try:
            if step.type in ("add_file", "add_dir"):
                await engine.run(
                    "create",
                    "--name",
                    name,
                    *labels,
                    *limits.engine_args(),
                    "--entrypoint",
                    "/bin/sh",
                    parent,
                    "-c",
                    "true",
                )
                code = await engine.stream("cp", "-", f"{name}:/", input=_tar_of(step), on_line=output)
            else:
                script, env = _script_of(step)
                if step.type == "workdir":
                    changes.append(f"WORKDIR {step.args.path}")
                with env_file_args(env) as env_args:
                    code = await engine.stream(
                        "run",
                        "--name",
                        name,
                        *labels,
                        *limits.engine_args(),
                        *env_args,
                        *_cache_mounts(step),
                        "--entrypoint",
                        "/bin/sh",
                        parent,
                        "-c",
                        _WRAPPER,
                        "oc-build",
                        script,
                        on_line=output,
                    )
            if code != 0:
                raise _StepFailed(code)
            # docker's commit has no -q (it prints only the id anyway).
            quiet = ["-q"] if engine.name == "podman" else []
            await engine.run(
                "commit", *quiet, *[a for c in changes for a in ("--change", c)], name, tag, timeout=SLOW_TIMEOUT
            )
        except _StepFailed as exc:
            lines = [line for line in tail if line.strip()]
            if exc.code == KILLED_STATUS and lines and lines[-1].startswith(_OOM_LINE):
                raise BuildError(
                    oom_message(
                        f"Step {index}/{job.total} ({step.type})",
                        limits.memory_mb,
                        f"give the build more memory with Image.builder_memory({min(limits.memory_mb * 2, _host_mb())}) "
                        "(builderMemoryMB in the manifest)",
                    ),
                    step=index,
                    tail=list(tail),
                ) from None
            last = "\n".join(lines[-5:]) or "(no output)"
            raise BuildError(
                f"Step {index}/{job.total} ({step.type}) failed with exit code {exc.code}: {last}",
                step=index,
                tail=list(tail),
            ) from None
        finally:
            await asyncio.shield(engine.remove_containers([name]))


def _cache_mounts(step) -> list[str]:
    """The download caches a step's container mounts: apt's for apt steps, pip's for pip and shell steps.

    apt's volumes go to apt steps only: they run apt under a lock (see
    :func:`_script_of`), which a user's own ``apt-get`` in a shell step would not take.
    """
    if step.type == "apt_install":
        return volume_args("apt-archives", "apt-lists")
    if step.type in ("pip_install", "run"):
        return volume_args("pip")
    return []


# apt's lists and archives are shared by every build: one apt at a time may
# touch them (apt's own locks fail at once instead of waiting). The lists stay
# in the volume, outside the image, so they need no removal afterwards. The
# lock is the lists folder itself (the volume's root, one inode for every
# container): ``apt-get update`` deletes files it does not know from it.
_APT_LOCK = "/var/lib/apt/lists"


# The pip step's program (see pipcache.py), run by the image's Python.
_PIP_PROGRAM = (Path(__file__).with_name("pipcache.py")).read_text()


def _script_of(step) -> tuple[str, dict[str, str]]:
    """The shell script of a command step, and the variables its container sets (committed into the image)."""
    args = step.args
    if step.type == "apt_install":
        packages = " ".join(shlex.quote(p) for p in args.packages)
        apt = (
            "apt-get update && apt-get install -y --no-install-recommends"
            f" -o APT::Keep-Downloaded-Packages=true {packages}"
        )
        quoted = shlex.quote(apt)
        return (
            f"if command -v flock >/dev/null 2>&1; then flock {_APT_LOCK} sh -c {quoted}; else sh -c {quoted}; fi",
            {},
        )
    if step.type == "pip_install":
        packages = " ".join(shlex.quote(p) for p in args.packages)
        return f"python3 -c {shlex.quote(_PIP_PROGRAM)} {packages}", {}
    if step.type == "run":
        return " && ".join(f"{{ {c}\n}}" if "\n" in c else c for c in args.commands), {}
    if step.type == "env":
        environment = "".join(f"{k}={v}\n" for k, v in args.vars.items())
        profile = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in args.vars.items())
        script = (
            f"printf '%s' {shlex.quote(environment)} >> /etc/environment"
            f" && mkdir -p /etc/profile.d && printf '%s' {shlex.quote(profile)} >> /etc/profile.d/oc-env.sh"
        )
        return script, dict(args.vars)
    if step.type == "workdir":
        return f"mkdir -p {shlex.quote(args.path)}", {}
    raise ValueError(f"step type {step.type!r} has no script")


def _tar_of(step) -> bytes:
    """A tar archive writing the step's files at their absolute paths (parents created on extraction)."""
    args = step.args
    if step.type == "add_file":
        entries = [(args.path, decode_base64(args.content))]
        folders: list[str] = []
    else:
        root = posixpath.normpath(args.path)
        entries = [
            (posixpath.join(root, posixpath.normpath(f.relativePath)), decode_base64(f.content)) for f in args.files
        ]
        folders = [root] if not args.files else []
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in folders:
            info = tarfile.TarInfo(folder.lstrip("/") or ".")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for path, data in entries:
            info = tarfile.TarInfo(posixpath.normpath(path).lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
