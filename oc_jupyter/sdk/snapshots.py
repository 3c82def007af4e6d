"""Named snapshots: images built once and kept under a name, to start sandboxes from instantly."""

from __future__ import annotations

import asyncio
import builtins
import time
from urllib.parse import quote

from . import _http
from .builds import LogCallback, deliver, post_build, reattach_log
from .config import Config
from .errors import BuildFailed, BuildStreamLost, OCError, SnapshotNotFound
from .image import Image
from .models import BuildLog, SnapshotInfo
from .sandbox import resolve_config

__all__ = ["Snapshots"]

# How long a snapshot may stay invisible (404) after the server accepted its build.
_INVISIBLE_GRACE = 30.0


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A snapshot name must be a non-empty str, got {name!r}.")
    return name


class Snapshots:
    """Create, list, inspect and delete named snapshots.

    ``api_key``/``api_url`` fall back to ``OPENCOMPUTER_API_KEY``/``OPENCOMPUTER_API_URL``;
    with neither, the local backend is used. The backend is chosen on first use.
    """

    def __init__(self, api_key: str | None = None, api_url: str | None = None, *, config: Config | None = None) -> None:
        self._api_key = api_key
        self._api_url = api_url
        self._config = config

    def __repr__(self) -> str:
        where = repr(self._config) if self._config else "backend chosen on first use"
        return f"Snapshots({where})"

    async def config(self) -> Config:
        """The backend configuration, resolved once."""
        if self._config is None:
            self._config = await resolve_config(None, self._api_key, self._api_url)
        return self._config

    def _path(self, name: str) -> str:
        return f"/snapshots/{quote(_check_name(name), safe='')}"

    async def create(self, name: str, image: Image, on_build_logs: LogCallback | None = None) -> SnapshotInfo:
        """Build ``image`` and keep it as snapshot ``name``; returns its info once ``ready``.

        Build logs stream to ``on_build_logs``. If the backend answers without
        a stream, or the stream breaks, this polls the snapshot until it is
        ready or failed; a broken stream is announced to ``on_build_logs`` by
        a ``BuildLog`` of phase ``"reattach"`` first. Raises :class:`Conflict`
        if the name is taken and :class:`BuildFailed` if a step fails.
        """
        _check_name(name)
        if not isinstance(image, Image):
            raise TypeError(
                f"image must be an Image (e.g. Image.base().pip_install([...])), got {type(image).__name__}."
            )
        config = await self.config()
        what = f"create snapshot {name!r}"
        try:
            outcome = await post_build(config, "/snapshots", {"name": name, "image": image}, on_build_logs, what=what)
        except BuildStreamLost as lost:
            # The build goes on in the backend; only the view of it was lost.
            await deliver(
                on_build_logs,
                reattach_log(
                    f"The build stream dropped; following snapshot {name!r} by polling its status until the build ends.",
                    lost.message,
                ),
            )
            return await self.wait_until_ready(name, log=lost.log)
        info = _http.decode(outcome.data, config, SnapshotInfo, what=what) if isinstance(outcome.data, dict) else None
        if info is not None and info.status == "ready":
            return info
        if info is not None and info.status == "failed":
            raise self._failed(info, outcome.log)
        return await self.wait_until_ready(name, log=outcome.log)

    async def list(self) -> list[SnapshotInfo]:
        """Every named snapshot."""
        response = await _http.request(await self.config(), "GET", "/snapshots", what="list snapshots")
        return _http.decode(response, await self.config(), SnapshotInfo, many=True, what="list snapshots")

    async def get(self, name: str) -> SnapshotInfo:
        """The snapshot called ``name``; raises :class:`SnapshotNotFound` if there is none."""
        response = await _http.request(
            await self.config(), "GET", self._path(name), not_found=SnapshotNotFound, what=f"snapshot {name!r}"
        )
        return _http.decode(response, await self.config(), SnapshotInfo, what=f"snapshot {name!r}")

    async def delete(self, name: str) -> None:
        """Delete the snapshot ``name``; sandboxes already made from it keep running."""
        await _http.request(
            await self.config(), "DELETE", self._path(name), not_found=SnapshotNotFound, what=f"snapshot {name!r}"
        )

    async def close(self) -> None:
        """Release client resources (nothing to hold: connections are shared); kept for OpenComputer's API."""

    async def wait_until_ready(
        self, name: str, timeout: float = 600, *, log: builtins.list[BuildLog] | None = None
    ) -> SnapshotInfo:
        """Poll snapshot ``name`` until it is ``ready`` (returned) or ``failed`` (:class:`BuildFailed`)."""
        deadline = time.monotonic() + timeout
        first_seen = time.monotonic()
        delay = 0.5
        while True:
            try:
                info = await self.get(name)
            except SnapshotNotFound:
                # A server that answered 202 may not list the snapshot yet.
                if time.monotonic() - first_seen > _INVISIBLE_GRACE:
                    raise
                info = None
            if info is not None and info.status == "ready":
                return info
            if info is not None and info.status == "failed":
                raise self._failed(info, log or [])
            if time.monotonic() + delay > deadline:
                status = info.status if info is not None else "not visible yet"
                raise OCError(
                    f"Snapshot {name!r} is still {status} after {timeout:.0f} s; "
                    f"call wait_until_ready({name!r}, timeout=...) again to keep waiting."
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    @staticmethod
    def _failed(info: SnapshotInfo, log: builtins.list[BuildLog]) -> BuildFailed:
        reason = info.get("error") or info.get("reason") or info.get("message")
        detail = f": {reason}" if reason else ""
        return BuildFailed(f"Snapshot {info.name!r} failed to build{detail}", log=log)
