"""Sandboxes: create one from an image, a snapshot or a template, use it, kill it."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from typing import Any
from urllib.parse import quote

import httpx

from . import _http, previews
from .builds import LogCallback, post_build
from .config import Config
from .errors import BackendUnavailable, NotFound, OCError, SandboxNotFound, SandboxStopped, SnapshotNotFound
from .exec import Exec
from .files import Filesystem
from .image import Image
from .models import SandboxInfo
from .pty import Pty

__all__ = ["Sandbox", "resolve_config"]

CREATE_TIMEOUT = httpx.Timeout(600.0, connect=10.0)


async def resolve_config(config: Config | None, api_key: str | None = None, api_url: str | None = None) -> Config:
    """``config`` if given, else :meth:`Config.resolve` run off the event loop (it may start the local server)."""
    if config is not None:
        return config
    return await asyncio.to_thread(Config.resolve, api_key, api_url)


async def _patches(
    method: str,
    checkpoint_id: str,
    suffix: str,
    body: dict | None,
    config: Config | None,
    api_key: str | None,
    api_url: str | None,
) -> Any:
    config = await resolve_config(config, api_key, api_url)
    what = f"patches of checkpoint {checkpoint_id}"
    response = await _http.request(
        config, method, f"/sandboxes/checkpoints/{quote(checkpoint_id)}/patches{suffix}", json_body=body, what=what
    )
    return None if method == "DELETE" else _http.decode(response, config, what=what)


class Sandbox:
    """A running sandbox: ``commands``/``exec`` run programs in it, ``files`` reaches its file system.

    A ``Sandbox`` holds only its id and configuration, so it can be used from
    any event loop (a notebook cell's or the SDK's background loop alike).
    """

    def __init__(self, sandbox_id: str, config: Config, info: SandboxInfo | None = None) -> None:
        self.id = sandbox_id
        self.config = config
        self._info = info
        # Answered once, by the create that asked for it: kept here, since a later info() no longer has it.
        self._preview_auth_token: str = ((info.model_extra or {}).get("previewAuthToken") or "") if info else ""
        self.exec = Exec(self)
        self.commands = self.exec
        self.files = Filesystem(self)

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

    @property
    def template(self) -> str:
        """The template the sandbox started from, as last reported."""
        return (self._info.template_id or "") if self._info else ""

    # ── lifecycle ────────────────────────────────────────────────────────
    @classmethod
    async def create(  # noqa: C901 -- one branch per optional parameter of OpenComputer's signature
        cls,
        template: str = "base",
        timeout: int = 0,
        api_key: str | None = None,
        api_url: str | None = None,
        envs: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        burst: bool | None = None,
        sandbox_family: str | None = None,
        disk_mb: int | None = None,
        memory_mb: int | None = None,
        secret_store: str | None = None,
        image: Image | None = None,
        snapshot: str | None = None,
        on_build_log: LogCallback | None = None,
        preview_auth: dict[str, str] | None = None,
        *,
        config: Config | None = None,
        cpu_count: int | None = None,
        network: bool = True,
    ) -> Sandbox:
        """Create a sandbox from a ``template``, an ``image`` (built or taken from cache) or a ready ``snapshot``.

        The positional parameters and their defaults are OpenComputer's own
        SDK's, so code moves between the two by changing the import.
        ``timeout`` is the idle time in seconds after which the backend stops
        the sandbox (0, the default: never). ``on_build_log`` receives each
        :class:`BuildLog` while an image builds. Keyword-only extras:
        ``config`` (a resolved :class:`Config`), ``cpu_count``, and
        ``network=False`` for a sandbox without network access.
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
        if burst is not None:
            body["burst"] = burst
        if sandbox_family:
            body["sandboxFamily"] = sandbox_family
        if disk_mb is not None:
            body["diskMB"] = disk_mb
        if memory_mb is not None:
            body["memoryMB"] = memory_mb
        if cpu_count is not None:
            body["cpuCount"] = cpu_count
        if not network:
            body["networkEnabled"] = False
        if secret_store:
            body["secretStore"] = secret_store
        if image is not None:
            body["image"] = image
        if snapshot is not None:
            body["snapshot"] = snapshot
        if preview_auth is not None:
            body["previewAuth"] = {
                "scheme": preview_auth.get("scheme", "bearer"),
                "token": preview_auth.get("token", "auto"),
            }
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
        cls, sandbox_id: str, api_key: str | None = None, api_url: str | None = None, *, config: Config | None = None
    ) -> Sandbox:
        """Attach to an existing sandbox by id (for example after a kernel restart)."""
        config = await resolve_config(config, api_key, api_url)
        sandbox = cls(sandbox_id, config)
        await sandbox.info()
        return sandbox

    @classmethod
    async def list(
        cls, api_key: str | None = None, api_url: str | None = None, *, config: Config | None = None
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

    # ── cloud-only resource controls (the local backend answers NotSupported) ──
    async def _cloud_call(self, method: str, suffix: str, body: dict[str, Any] | None, what: str) -> dict:
        response = await _http.request(
            self.config,
            method,
            f"/sandboxes/{quote(self.id)}{suffix}",
            json_body=body,
            not_found=SandboxNotFound,
            what=f"{what} of sandbox {self.id}",
        )
        return _http.decode(response, self.config, what=what)

    async def set_autoscale(
        self, enabled: bool, *, min_memory_mb: int | None = None, max_memory_mb: int | None = None
    ) -> dict:
        """Let the cloud resize the sandbox between ``min_memory_mb`` and ``max_memory_mb`` with load."""
        body: dict[str, Any] = {"enabled": enabled}
        if min_memory_mb is not None:
            body["minMemoryMB"] = min_memory_mb
        if max_memory_mb is not None:
            body["maxMemoryMB"] = max_memory_mb
        return await self._cloud_call("PUT", "/autoscale", body, "autoscale")

    async def get_autoscale(self) -> dict:
        """The sandbox's autoscale settings (``enabled``, ``minMemoryMB``, ``maxMemoryMB``)."""
        return await self._cloud_call("GET", "/autoscale", None, "autoscale")

    async def set_scaling_lock(self, locked: bool) -> dict:
        """Freeze (``True``) or release the sandbox's size; locking also turns autoscale off."""
        return await self._cloud_call("PUT", "/scaling-lock", {"locked": locked}, "scaling lock")

    async def get_scaling_lock(self) -> dict:
        """Whether the sandbox's size is locked (``{"sandboxID", "locked"}``)."""
        return await self._cloud_call("GET", "/scaling-lock", None, "scaling lock")

    async def get_allowed_hosts(self) -> dict:
        """The egress allowlist the sandbox's secret store enforces."""
        return await self._cloud_call("GET", "/allowed-hosts", None, "allowed hosts")

    @staticmethod
    async def create_checkpoint_patch(
        checkpoint_id: str,
        script: str,
        description: str = "",
        api_key: str | None = None,
        api_url: str | None = None,
        *,
        config: Config | None = None,
    ) -> dict:
        """Add a bash ``script`` to run on every sandbox forked from the checkpoint (cloud only)."""
        return await _patches(
            "POST", checkpoint_id, "", {"script": script, "description": description}, config, api_key, api_url
        )

    @staticmethod
    async def list_checkpoint_patches(
        checkpoint_id: str, api_key: str | None = None, api_url: str | None = None, *, config: Config | None = None
    ) -> builtins.list[dict]:
        """The checkpoint's patches in the order they apply (cloud only)."""
        return await _patches("GET", checkpoint_id, "", None, config, api_key, api_url)

    @staticmethod
    async def delete_checkpoint_patch(
        checkpoint_id: str,
        patch_id: str,
        api_key: str | None = None,
        api_url: str | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        """Remove one patch from the checkpoint (cloud only); an unknown patch is not an error."""
        with contextlib.suppress(NotFound):
            await _patches("DELETE", checkpoint_id, f"/{quote(patch_id)}", None, config, api_key, api_url)

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
            info = await self.info()
        except SandboxNotFound as gone:
            return gone
        except OCError:
            return exc
        if info.status == "running":
            return exc
        return SandboxStopped(
            f"Sandbox {self.id!r} is no longer running (status {info.status!r}): {exc.message}", status=exc.status
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

    async def kill(self, delete_secret_store: bool = False) -> None:
        """Stop and remove the sandbox; ``delete_secret_store`` also deletes its secret store (cloud only)."""
        await _http.request(
            self.config,
            "DELETE",
            f"/sandboxes/{quote(self.id)}",
            params={"deleteSecretStore": "true"} if delete_secret_store else None,
            not_found=SandboxNotFound,
            what=f"sandbox {self.id}",
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

    # ── terminals and preview URLs ───────────────────────────────────────
    @property
    def pty(self) -> Pty:
        """Terminals in the sandbox: ``await sandbox.pty.create(cols=80, rows=24)``."""
        return Pty(self)

    @property
    def preview_auth_token(self) -> str:
        """The preview URLs' bearer token: set by create (``previewAuthToken``) or :meth:`rotate_preview_auth_token`;
        empty when not known to this object."""
        return self._preview_auth_token

    @preview_auth_token.setter
    def preview_auth_token(self, token: str) -> None:
        self._preview_auth_token = token

    async def create_preview_url(self, port: int, domain: str | None = None, auth_config: dict | None = None) -> dict:
        """Expose ``port`` of the sandbox over HTTP and WebSocket; the answer names its ``hostname``."""
        return await previews.create_preview_url(self, port, domain, auth_config)

    async def list_preview_urls(self) -> builtins.list[dict]:
        """Every preview URL of the sandbox."""
        return await previews.list_preview_urls(self)

    async def delete_preview_url(self, port: int) -> None:
        """Stop exposing ``port`` (nothing happens if it was not exposed)."""
        await previews.delete_preview_url(self, port)

    async def rotate_preview_auth_token(self) -> str:
        """Make a new preview token, retiring the old one at once; also stored in :attr:`preview_auth_token`."""
        self.preview_auth_token = await previews.rotate_preview_auth_token(self)
        return self.preview_auth_token

    # ── hibernation, restarts, resizing, signed URLs and checkpoints (OpenComputer's surface) ──
    @property
    def end_at(self) -> str | None:
        """When the provider destroys the sandbox's host (RFC 3339), or None when nothing limits its life."""
        extra = (self._info.model_extra or {}) if self._info is not None else {}
        return extra.get("endAt")

    def _path(self, *parts: str) -> str:
        return "/".join([f"/sandboxes/{quote(self.id)}", *(quote(p) for p in parts)])

    async def _post(self, *parts: str, body: Any = None, timeout: Any = ..., what: str = "") -> httpx.Response:
        return await _http.request(
            self.config,
            "POST",
            self._path(*parts),
            json_body=body,
            timeout=timeout,
            not_found=SandboxNotFound,
            what=what or f"sandbox {self.id}",
        )

    def _remember(self, response: httpx.Response, what: str) -> None:
        self._info = _http.decode(response, self.config, SandboxInfo, what=what)

    async def hibernate(self) -> None:
        """Pause the sandbox with its memory and processes; the next call (or :meth:`wake`) resumes it."""
        await self._post("hibernate", what=f"hibernate sandbox {self.id}")
        if self._info is not None:
            self._info = self._info.model_copy(update={"status": "hibernated"})

    async def wake(self, timeout: int | None = None) -> None:
        """Resume a hibernated sandbox, optionally with a new idle ``timeout`` (seconds; 0 = never hibernate)."""
        body: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        what = f"wake sandbox {self.id}"
        self._remember(await self._post("wake", body=body, what=what), what)

    async def reboot(self) -> None:
        """Restart the sandbox: its processes end (SIGTERM, then SIGKILL) and the disk stays."""
        what = f"reboot sandbox {self.id}"
        self._remember(await self._post("reboot", timeout=CREATE_TIMEOUT, what=what), what)

    async def power_cycle(self) -> None:
        """Restart the sandbox at once: every process is killed, the disk stays."""
        what = f"power-cycle sandbox {self.id}"
        self._remember(await self._post("power-cycle", timeout=CREATE_TIMEOUT, what=what), what)

    async def scale(self, memory_mb: int) -> dict:
        """Change the sandbox's memory limit while it runs; ``{sandboxID, memoryMB, cpuPercent}``."""
        response = await self._post("scale", body={"memoryMB": memory_mb}, what=f"scale sandbox {self.id}")
        return _http.decode(response, self.config, what=f"scale sandbox {self.id}")

    async def download_url(self, path: str, *, expires_in: int = 3600) -> str:
        """A URL anyone can GET ``path`` from, without the API key, for ``expires_in`` seconds (at most 86400)."""
        return await self._signed_url("download-url", path, expires_in)

    async def upload_url(self, path: str, *, expires_in: int = 3600) -> str:
        """A URL anyone can PUT ``path``'s new content to, without the API key, for ``expires_in`` seconds."""
        return await self._signed_url("upload-url", path, expires_in)

    async def _signed_url(self, kind: str, path: str, expires_in: int) -> str:
        what = f"{kind} for {path!r} in sandbox {self.id}"
        response = await self._post("files", kind, body={"path": path, "expiresIn": expires_in}, what=what)
        data = _http.decode(response, self.config, what=what)
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise BackendUnavailable(f"{what}: {self.config.api_url} replied without a url.")
        return data["url"]

    async def create_checkpoint(
        self,
        name: str,
        kind: str | None = None,
        promote_to_full: bool | None = None,
        retention_policy: dict | None = None,
    ) -> dict:
        """Save the sandbox as checkpoint ``name``; ``kind`` is ``"disk_only"`` or (cloud only) ``"full"``."""
        body: dict[str, Any] = {"name": name}
        if kind is not None:
            body["kind"] = kind
        if promote_to_full is not None:
            body["promoteToFull"] = promote_to_full
        if retention_policy is not None:
            body["retentionPolicy"] = retention_policy
        what = f"checkpoint {name!r} of sandbox {self.id}"
        response = await self._post("checkpoints", body=body, timeout=CREATE_TIMEOUT, what=what)
        return _http.decode(response, self.config, what=what)

    async def list_checkpoints(self) -> builtins.list[dict]:
        """The sandbox's checkpoints, oldest first."""
        what = f"checkpoints of sandbox {self.id}"
        response = await _http.request(
            self.config, "GET", self._path("checkpoints"), not_found=SandboxNotFound, what=what
        )
        return _http.decode(response, self.config, what=what)

    async def restore_checkpoint(self, checkpoint_id: str) -> None:
        """Revert the sandbox in place to the checkpoint: its files become the checkpoint's, its processes restart."""
        what = f"restore checkpoint {checkpoint_id!r} of sandbox {self.id}"
        response = await _http.request(
            self.config, "POST", self._path("checkpoints", checkpoint_id, "restore"), timeout=CREATE_TIMEOUT, what=what
        )
        self._remember(response, what)

    async def delete_checkpoint(self, checkpoint_id: str) -> None:
        """Delete the checkpoint (its saved files go too once no sandbox runs from them)."""
        await _http.request(
            self.config,
            "DELETE",
            self._path("checkpoints", checkpoint_id),
            what=f"delete checkpoint {checkpoint_id!r} of sandbox {self.id}",
        )

    @classmethod
    async def create_from_checkpoint(
        cls,
        checkpoint_id: str,
        timeout: int = 0,
        api_key: str | None = None,
        api_url: str | None = None,
        envs: dict[str, str] | None = None,
        secret_store: str | None = None,
        *,
        config: Config | None = None,
    ) -> Sandbox:
        """A new sandbox (a fork) whose files start as the checkpoint's; ``timeout=0`` never hibernates it."""
        config = await resolve_config(config, api_key, api_url)
        body: dict[str, Any] = {"timeout": timeout}
        if envs:
            body["envs"] = dict(envs)
        if secret_store:
            body["secretStore"] = secret_store
        what = f"sandbox from checkpoint {checkpoint_id!r}"
        response = await _http.request(
            config,
            "POST",
            f"/sandboxes/from-checkpoint/{quote(checkpoint_id)}",
            json_body=body,
            timeout=CREATE_TIMEOUT,
            what=what,
        )
        info = _http.decode(response, config, SandboxInfo, what=what)
        if not info.sandbox_id:
            raise BackendUnavailable(f"{what}: {config.api_url} replied without a sandboxID.")
        return cls(info.sandbox_id, config, info)
