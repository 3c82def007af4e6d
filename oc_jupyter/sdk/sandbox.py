"""Sandboxes: create one from an image, a snapshot or a template, use it, kill it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import httpx

from . import _http
from .builds import LogCallback, post_build
from .config import Config
from .errors import BackendUnavailable, NotFound, OCError, SandboxNotFound, SandboxStopped, SnapshotNotFound
from .exec import Exec
from .files import Files
from .image import Image
from .models import SandboxInfo

__all__ = ["Sandbox", "resolve_config"]

CREATE_TIMEOUT = httpx.Timeout(600.0, connect=10.0)


async def resolve_config(config: Config | None, api_key: str | None = None, api_url: str | None = None) -> Config:
    """``config`` if given, else :meth:`Config.resolve` run off the event loop (it may start the local server)."""
    if config is not None:
        return config
    return await asyncio.to_thread(Config.resolve, api_key, api_url)


class Sandbox:
    """A running sandbox: ``commands``/``exec`` run programs in it, ``files`` reaches its file system.

    A ``Sandbox`` holds only its id and configuration, so it can be used from
    any event loop (a notebook cell's or the SDK's background loop alike).
    """

    def __init__(self, sandbox_id: str, config: Config, info: SandboxInfo | None = None) -> None:
        self.id = sandbox_id
        self.config = config
        self._info = info
        self.exec = Exec(self)
        self.commands = self.exec
        self.files = Files(self)

    def __repr__(self) -> str:
        status = f", status={self._info.status!r}" if self._info and self._info.status else ""
        return f"Sandbox({self.id!r}{status}, backend={self.config.backend!r})"

    @property
    def sandbox_id(self) -> str:
        """The sandbox id (the name the official client uses)."""
        return self.id

    @property
    def status(self) -> str | None:
        """The status last reported by the backend (call :meth:`info` to refresh)."""
        return self._info.status if self._info else None

    # ── lifecycle ────────────────────────────────────────────────────────
    @classmethod
    async def create(
        cls,
        image: Image | None = None,
        snapshot: str | None = None,
        template: str | None = None,
        timeout: int = 300,
        envs: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        on_build_log: LogCallback | None = None,
        config: Config | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        memory_mb: int | None = None,
        cpu_count: int | None = None,
    ) -> Sandbox:
        """Create a sandbox from ``image`` (built or taken from cache), a ready ``snapshot``, or a ``template``.

        ``timeout`` is the idle time in seconds after which the backend stops
        it (0: never). ``on_build_log`` receives each :class:`BuildLog` while
        an image builds.
        """
        given = [name for name, value in (("image", image), ("snapshot", snapshot)) if value is not None]
        if len(given) > 1:
            raise ValueError("Sandbox.create takes image= or snapshot=, not both; pick one.")
        if image is not None and not isinstance(image, Image):
            raise TypeError(
                f"image must be an Image (e.g. Image.base().pip_install([...])), got {type(image).__name__}."
            )
        if snapshot is not None and (not isinstance(snapshot, str) or not snapshot):
            raise TypeError(f"snapshot must be a snapshot name (str), got {snapshot!r}.")
        config = await resolve_config(config, api_key, api_url)
        body: dict[str, Any] = {"templateID": template or "base", "timeout": timeout}
        if envs:
            body["envs"] = dict(envs)
        if metadata:
            body["metadata"] = dict(metadata)
        if memory_mb is not None:
            body["memoryMB"] = memory_mb
        if cpu_count is not None:
            body["cpuCount"] = cpu_count
        if image is not None:
            body["image"] = image
        if snapshot is not None:
            body["snapshot"] = snapshot
        if given:
            outcome = await post_build(
                config,
                "/sandboxes",
                body,
                on_build_log,
                not_found=SnapshotNotFound if snapshot else NotFound,
                what="create sandbox" + (f" from snapshot {snapshot!r}" if snapshot else ""),
            )
            data = outcome.data
        else:
            # Starting a sandbox may first prepare the base image, which can take minutes.
            response = await _http.request(
                config, "POST", "/sandboxes", json_body=body, timeout=CREATE_TIMEOUT, what="create sandbox"
            )
            data = response
        info = _http.decode(data, config, SandboxInfo, what="create sandbox")
        if not info.sandbox_id:
            raise BackendUnavailable(
                f"create sandbox: {config.api_url} replied without a sandboxID ({info.to_dict()!r})."
            )
        return cls(info.sandbox_id, config, info)

    @classmethod
    async def connect(
        cls, sandbox_id: str, config: Config | None = None, *, api_key: str | None = None, api_url: str | None = None
    ) -> Sandbox:
        """Attach to an existing sandbox by id (for example after a kernel restart)."""
        config = await resolve_config(config, api_key, api_url)
        sandbox = cls(sandbox_id, config)
        await sandbox.info()
        return sandbox

    @classmethod
    async def list(
        cls, config: Config | None = None, *, api_key: str | None = None, api_url: str | None = None
    ) -> list[SandboxInfo]:
        """Every sandbox the backend runs for this key."""
        config = await resolve_config(config, api_key, api_url)
        response = await _http.request(config, "GET", "/sandboxes", what="list sandboxes")
        return _http.decode(response, config, SandboxInfo, many=True, what="list sandboxes")

    async def info(self) -> SandboxInfo:
        """The sandbox's current record (status, template, metadata, …)."""
        response = await _http.request(
            self.config, "GET", f"/sandboxes/{quote(self.id)}", not_found=SandboxNotFound, what=f"sandbox {self.id}"
        )
        self._info = _http.decode(response, self.config, SandboxInfo, what=f"sandbox {self.id}")
        return self._info

    async def is_running(self) -> bool:
        """Whether the sandbox still exists and runs."""
        try:
            return (await self.info()).status == "running"
        except SandboxNotFound:
            return False

    async def _explain_not_found(self, exc: NotFound) -> NotFound:
        """Why a 404 from a command or file call happened: the sandbox stopped, vanished, or only the path is missing.

        A backend that sends error codes has said which already, so the error
        stands as it is. One without codes (the cloud) answers 404 both for an
        unknown path and for a sandbox that is gone; one look at the sandbox's
        record tells them apart, and only on the error path.
        """
        if exc.code is not None:
            return exc
        try:
            running = (await self.info()).status == "running"
        except SandboxNotFound as gone:
            return gone
        except OCError:
            return exc
        if running:
            return exc
        return SandboxStopped(
            f"Sandbox {self.id!r} is no longer running (status {self._info.status!r}): {exc.message}", status=exc.status
        )

    async def set_timeout(self, timeout: int) -> None:
        """Set the idle timeout in seconds (0: never stop)."""
        await _http.request(
            self.config,
            "POST",
            f"/sandboxes/{quote(self.id)}/timeout",
            json_body={"timeout": timeout},
            idempotent=True,
            not_found=SandboxNotFound,
            what=f"sandbox {self.id}",
        )

    async def kill(self) -> None:
        """Stop and remove the sandbox."""
        await _http.request(
            self.config, "DELETE", f"/sandboxes/{quote(self.id)}", not_found=SandboxNotFound, what=f"sandbox {self.id}"
        )
        if self._info is not None:
            self._info = self._info.model_copy(update={"status": "stopped"})

    async def close(self) -> None:
        """Release client resources (nothing to do: connections are shared); kept for the official API."""

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Already gone (killed elsewhere or timed out) is what leaving the block wants anyway.
        with contextlib.suppress(SandboxNotFound):
            await self.kill()
