"""What one kernel's magics remember: the backend, its sandboxes per target, remote interpreters.

A cell that names the same target (an image, a snapshot, the base) as an
earlier cell reuses that cell's sandbox, so a notebook pays for a sandbox
once. Sandboxes the magics created on their own are killed when the kernel
shuts down, unless kept with ``--keep`` (or ``OCJupyter.keep_sandboxes``).

A sandbox idle longer than ``OCJupyter.sandbox_timeout`` hibernates with its
memory; the next cell that uses it wakes it (and says so in one line), so
remote Python names survive a long pause.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from . import bridge
from .output import OutputWriter

if TYPE_CHECKING:  # the SDK is imported when first used, not when the extension loads
    from ..sdk import Config

__all__ = ["NotebookState", "Target", "Limits", "MIN_MEMORY_MB"]

#: The smallest memory limit the local backend accepts (its agent needs a Python interpreter).
MIN_MEMORY_MB = 64


@dataclass(frozen=True)
class Limits:
    """The limits ``%oc_run --memory/--cpus/--no-network`` ask of the sandbox it creates (``None``: the backend's)."""

    memory_mb: int | None = None
    cpus: int | None = None
    network: bool = True

    @property
    def custom(self) -> bool:
        return self != Limits()

    def flags(self) -> str:
        """The options that asked for these limits, as typed: ``--memory 512 --no-network``."""
        parts = [
            f"--memory {self.memory_mb}" if self.memory_mb is not None else "",
            f"--cpus {self.cpus}" if self.cpus is not None else "",
            "" if self.network else "--no-network",
        ]
        return " ".join(p for p in parts if p)

    def describe(self) -> str:
        """``512 MB, 2 CPUs, no network``: what a sandbox label adds."""
        parts = [
            f"{self.memory_mb} MB" if self.memory_mb is not None else "",
            f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}" if self.cpus is not None else "",
            "" if self.network else "no network",
        ]
        return ", ".join(p for p in parts if p)

    def create_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.memory_mb is not None:
            kwargs["memory_mb"] = self.memory_mb
        if self.cpus is not None:
            kwargs["cpu_count"] = self.cpus
        if not self.network:
            kwargs["network"] = False
        return kwargs


@dataclass(frozen=True)
class Target:
    """Where a command runs: what a sandbox is made from, or which sandbox."""

    kind: str  # "image" | "snapshot" | "sandbox" | "base"
    key: str  # cache key, snapshot name, sandbox id, or base name
    label: str
    image: Any = None
    limits: Limits = Limits()

    @property
    def ident(self) -> tuple:
        # Limits are part of what a sandbox is: a cell asking for others gets its own.
        return (self.kind, self.key) if not self.limits.custom else (self.kind, self.key, self.limits)

    def with_limits(self, limits: Limits) -> Target:
        if not limits.custom or self.kind == "sandbox":
            return self
        return replace(self, limits=limits, label=f"{self.label} ({limits.describe()})")


class NotebookState:
    """The magics' memory for one shell."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._config: Config | None = None
        self._stale_config: Config | None = None
        self.sandboxes: dict[tuple, Any] = {}
        # Each sandbox's count of out-of-memory kills when last looked at (see ``oom_note``).
        self.oom_seen: dict[str, int] = {}
        self.implicit: dict[str, Any] = {}
        self.current = None
        self.repls: dict[str, Any] = {}
        self.no_python: set[str] = set()
        self._last_used: dict[str, float] = {}
        self.hibernated: set[str] = set()
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    # ---------------------------------------------------------------- backend

    @property
    def config(self):
        """The SDK ``Config`` of the backend in use, resolved once per kernel (again after a connection failure)."""
        if self._config is None:
            from ..sdk import Config

            stale, self._stale_config = self._stale_config, None
            self._config = Config.resolve(refresh=stale is not None)
            if stale is not None and self._config != stale:
                # A restarted local server keeps its sandboxes but may listen elsewhere with a new key.
                for sandbox in self._known_sandboxes():
                    if sandbox.config == stale:
                        sandbox.config = self._config
        return self._config

    def after_cell(self, result) -> None:
        """Drop the cached backend when a cell failed to reach it, so the next magic resolves it again."""
        from ..sdk import errors

        exc = getattr(result, "error_in_exec", None)
        seen = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            lost = isinstance(exc, errors.BackendUnavailable) and exc.status is None
            if lost and not isinstance(exc, errors.BuildStreamLost) and self._config is not None:
                self._stale_config, self._config = self._config, None
                return
            exc = exc.__cause__ or exc.__context__

    def _known_sandboxes(self) -> list:
        found = list(self.sandboxes.values()) + list(self.implicit.values())
        if self.current is not None:
            found.append(self.current)
        return found

    def backend_line(self) -> str:
        config = self.config
        if config.backend == "local":
            return f"oc_jupyter: using the local backend at {config.api_url}"
        return f"oc_jupyter: using OpenComputer at {config.api_url}"

    def snapshots(self):
        from ..sdk import Snapshots

        return Snapshots(config=self.config)

    # ---------------------------------------------------------------- sandboxes

    def base_image(self, base: str | None = None):
        from ..sdk import Image

        image = Image.base()
        base = base or self.settings.default_base
        return image if base == image.base_image else replace(image, base_image=base)

    def target_for_image(self, name: str, image) -> Target:
        return Target("image", image.cache_key(), f"image {name}", image)

    def sandbox_for(self, target: Target, *, keep: bool = False):
        """The sandbox for ``target``, reusing the one an earlier cell made."""
        if target.kind == "sandbox":
            return self.ensure_awake(self.connect(target.key))
        existing = self.sandboxes.get(target.ident)
        if existing is not None:
            return self.ensure_awake(existing)
        sandbox = self.create(target, keep=keep)
        self._last_used[sandbox.id] = time.monotonic()
        return sandbox

    def _timeout_of(self, sandbox) -> int:
        info = getattr(sandbox, "_info", None)
        extra = (info.model_extra or {}) if info is not None else {}
        timeout = extra.get("timeout")
        return timeout if isinstance(timeout, int) else self.settings.sandbox_timeout

    def ensure_awake(self, sandbox):
        """Wake ``sandbox`` if it may have hibernated since its last cell, noting it in one line.

        Only a sandbox idle about as long as its timeout (or hibernated with
        ``%oc_sandbox hibernate``) is asked, so busy notebooks pay nothing; a
        sandbox hibernated elsewhere still wakes on the cell's first request.
        """
        from ..sdk import errors, sync

        now = time.monotonic()
        last = self._last_used.get(sandbox.id)
        self._last_used[sandbox.id] = now
        timeout = self._timeout_of(sandbox)
        idle_long = last is not None and timeout > 0 and now - last >= max(timeout - 1, 0)
        if not (idle_long or sandbox.id in self.hibernated):
            return sandbox
        self.hibernated.discard(sandbox.id)
        try:
            if sync.run(sandbox.info()).status != "hibernated":
                return sandbox
            started = time.perf_counter()
            sync.run(sandbox.wake())
        except errors.OCError:
            return sandbox  # the cell's own request reports what is wrong
        print(f"woke sandbox {sandbox.id} in {(time.perf_counter() - started) * 1000:.0f} ms")
        return sandbox

    def connect(self, sandbox_id: str):
        for sandbox in list(self.sandboxes.values()) + list(self.implicit.values()):
            if sandbox.id == sandbox_id:
                return sandbox
        if self.current is not None and self.current.id == sandbox_id:
            return self.current
        from ..sdk import Sandbox, errors, sync

        try:
            sandbox = sync.run(Sandbox.connect(sandbox_id, config=self.config))
        except errors.NotFound:
            raise UsageError(
                f"No sandbox {sandbox_id!r} on this backend; %oc_sandboxes lists the running ones."
            ) from None
        self.sandboxes[("sandbox", sandbox_id)] = sandbox
        if sandbox.status == "hibernated":
            self.hibernated.add(sandbox.id)
        return sandbox

    def create(self, target: Target, *, keep: bool = False, view=None, always_show: bool = False):  # noqa: C901
        """Create a sandbox for ``target``, showing the build log if an image has to be built.

        One branch per kind of target and per way the build log is shown, in order.
        """
        from ..sdk import Sandbox, errors
        from ..widgets import BuildLogWidget

        kwargs: dict[str, Any] = {
            "timeout": self.settings.sandbox_timeout,
            "config": self.config,
            "metadata": {"oc_jupyter.target": target.label},
            **target.limits.create_kwargs(),
        }
        if target.kind == "snapshot":
            kwargs["snapshot"] = target.key
        else:
            kwargs["image"] = target.image if target.image is not None else self.base_image(target.key)
        image = kwargs.get("image")
        events = bridge.EventQueue()
        kwargs["on_build_log"] = events.callback("log")
        holder = {"view": view}

        def ensure_view():
            if holder["view"] is None:
                holder["view"] = BuildLogWidget(
                    f"Build {target.label}", image=image, tail_lines=self.settings.log_tail_lines
                )
            return holder["view"]

        pending: list = []

        def handle(event):
            if event is None:
                if holder["view"] is not None:
                    holder["view"].pump()
                return False
            log = event[1]
            if holder["view"] is None and not always_show and getattr(log, "type", "") == "cache_hit":
                pending.append(log)  # a cache hit is not worth a widget of its own
                return False
            v = ensure_view()
            for early in pending:
                v.feed(early)
            pending.clear()
            v.feed(log)
            return False

        if always_show:
            ensure_view()
        attempts = 2
        while True:
            attempts -= 1
            try:
                sandbox = bridge.run(Sandbox.create(**kwargs), events, handle, tick=0.25)
                break
            except errors.BuildFailed as exc:
                if holder["view"] is not None:
                    holder["view"].fail(exc)
                raise UsageError(f"Building {target.label} failed: {exc}") from None
            except errors.BackendUnavailable as exc:
                if type(exc).__name__ == "BuildStreamLost" and attempts > 0:
                    # The build goes on server-side; asking again for the same manifest joins it.
                    if holder["view"] is not None:
                        holder["view"].note("The build stream dropped; reattaching to the running build.")
                    continue
                if holder["view"] is not None:
                    holder["view"].fail(exc)
                raise UsageError(f"Could not create a sandbox from {target.label}: {exc}") from None
            except errors.NotFound as exc:
                raise UsageError(f"Could not create a sandbox from {target.label}: {exc}") from None
            except errors.OCError as exc:
                if holder["view"] is not None:
                    holder["view"].fail(exc)
                raise UsageError(f"Could not create a sandbox from {target.label}: {exc}") from None
            except KeyboardInterrupt:
                if holder["view"] is not None:
                    holder["view"].close(False, "Interrupted.")
                raise
        if holder["view"] is not None:
            holder["view"].close(True)
        self.sandboxes[target.ident] = sandbox
        if not (keep or self.settings.keep_sandboxes):
            self.implicit[sandbox.id] = sandbox
        return sandbox

    def usage_info(self, sandbox):
        """The sandbox's record with what it costs a moment to measure (disk used, out-of-memory kills)."""
        from urllib.parse import quote

        from ..sdk import SandboxInfo, _http, errors, sync

        async def fetch():
            response = await _http.request(
                sandbox.config,
                "GET",
                f"/sandboxes/{quote(sandbox.id)}",
                params={"usage": "true"},
                not_found=errors.SandboxNotFound,
                what=f"sandbox {sandbox.id}",
            )
            return _http.decode(response, sandbox.config, SandboxInfo, what=f"sandbox {sandbox.id}")

        return sync.run(fetch())

    def oom_note(self, sandbox, exit_code: int | None, what: str) -> str | None:
        """The out-of-memory sentence when the sandbox's memory limit killed ``what`` (exit 137), else ``None``.

        137 alone only says SIGKILL; the backend's count of the sandbox's
        out-of-memory kills rising since the last look tells the two apart.
        """
        if exit_code is not None and exit_code != 137:
            return None
        from ..sdk import errors

        try:
            info = self.usage_info(sandbox)
        except errors.OCError:
            return None
        count, limit = info.oom_kills, info.memory_mb
        if count is None or limit is None or count <= self.oom_seen.get(sandbox.id, 0):
            return None
        self.oom_seen[sandbox.id] = count
        return (
            f"{what} in sandbox {sandbox.id} was killed: it ran out of memory (limit {limit} MB); "
            f"run the cell with --memory {limit * 2} (on %oc_run or %%oc_run), or create the sandbox with "
            f"memory_mb={limit * 2}."
        )

    def forget(self, sandbox_id: str) -> None:
        """Drop every reference to a sandbox that is gone."""
        for key, sandbox in list(self.sandboxes.items()):
            if sandbox.id == sandbox_id:
                del self.sandboxes[key]
        self.implicit.pop(sandbox_id, None)
        self.repls.pop(sandbox_id, None)
        self.oom_seen.pop(sandbox_id, None)
        if self.current is not None and self.current.id == sandbox_id:
            self.current = None

    def keep(self, sandbox_id: str) -> None:
        self.implicit.pop(sandbox_id, None)

    def repl_for(self, sandbox, out: OutputWriter):
        from .remote_python import RemotePython

        repl = self.repls.get(sandbox.id)
        if repl is None or not repl.alive:
            repl = RemotePython(sandbox)
            timeout = self._timeout_of(sandbox)
            # Well inside the idle timeout, and never more often than twice a second.
            repl.keep_awake_every = max(0.5, min(30.0, timeout / 3)) if timeout > 0 else 0.0
            repl.start(out)
            self.repls[sandbox.id] = repl
        return repl

    def runner_for(self, sandbox, out: OutputWriter):
        """The sandbox's interpreter, used to run shell commands fast; ``None`` if it has no python3."""
        if sandbox.id in self.no_python:
            return None
        try:
            return self.repl_for(sandbox, out)
        except UsageError:
            self.no_python.add(sandbox.id)
            return None

    # ---------------------------------------------------------------- shutdown

    def shutdown(self) -> None:
        """Kill the sandboxes the magics created (kernel exit or ``%unload_ext``)."""
        with self._lock:
            doomed = list(self.implicit.values())
            self.implicit.clear()
            self.repls.clear()
            self.sandboxes.clear()
        if not doomed:
            return

        async def kill_all():
            await asyncio.gather(*(sb.kill() for sb in doomed), return_exceptions=True)

        # At interpreter exit the SDK's loop thread may already be gone, so a fresh
        # loop in a short-lived thread does the work (SDK objects are not loop-bound).
        worker = threading.Thread(target=lambda: asyncio.run(kill_all()), name="oc-jupyter-shutdown", daemon=True)
        worker.start()
        worker.join(15)
