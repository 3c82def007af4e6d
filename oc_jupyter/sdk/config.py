"""Which backend the SDK talks to, and with what key: one ``Config`` for the cloud or the local server.

With an API key (the ``api_key`` argument or ``OPENCOMPUTER_API_KEY``) the SDK
talks to the OpenComputer cloud, or to ``OPENCOMPUTER_API_URL`` when set.
Without one it uses the embedded local server, starting it if needed, so a
notebook works with nothing configured.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from .errors import AuthError, BackendUnavailable, OCError

__all__ = ["Config", "DEFAULT_API_URL"]

#: The OpenComputer cloud, as the official clients default to it.
DEFAULT_API_URL = "https://app.opencomputer.dev"

#: How long a resolved local server is trusted without asking for its health again (tens of ms
#: each time), provided its ``server.json`` is unchanged and its process still exists.
LOCAL_TRUST_SECONDS = 10.0

# home folder -> (server.json stamp, when checked, server pid, Config)
_local_seen: dict[str, tuple[tuple[int, int, int], float, int, Config]] = {}
_local_lock = threading.Lock()


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _process_exists(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return False  # signal 0 is only a probe on POSIX
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    """Where the API lives and the key to use; the key never appears in ``repr`` or ``str``.

    ``backend`` is ``"local"`` for a server on this machine (a loopback URL)
    and ``"cloud"`` otherwise. Prefer :meth:`Config.resolve` to building one by hand.
    """

    api_url: str
    api_key: str = field(repr=False)
    backend: str | None = None

    def __post_init__(self) -> None:
        url = self.api_url.rstrip("/")
        # The official clients accept a URL with or without the /api suffix.
        if url.endswith("/api"):
            url = url[: -len("/api")]
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"api_url must start with http:// or https://, got {self.api_url!r}.")
        object.__setattr__(self, "api_url", url)
        if self.backend is None:
            object.__setattr__(self, "backend", "local" if _is_loopback(url) else "cloud")
        elif self.backend not in ("local", "cloud"):
            raise ValueError(f"backend must be 'local' or 'cloud', got {self.backend!r}.")

    @classmethod
    def resolve(cls, api_key: str | None = None, api_url: str | None = None, *, refresh: bool = False) -> Config:
        """Pick the backend: a key (argument or ``OPENCOMPUTER_API_KEY``) means cloud, none means local.

        For the local backend this starts the embedded server if it is not
        running, which can take a few seconds the first time. A server found
        healthy is trusted for :data:`LOCAL_TRUST_SECONDS` while its
        ``server.json`` stays the same; ``refresh=True`` checks it again now
        (after a connection failure, say).
        """
        key = api_key or os.environ.get("OPENCOMPUTER_API_KEY") or ""
        url = api_url or os.environ.get("OPENCOMPUTER_API_URL") or ""
        if key:
            url = url or DEFAULT_API_URL
            return cls(url, key)
        if url and not _is_loopback(url):
            raise cls._no_key(url)
        local = cls._local(refresh)
        if url and url.rstrip("/").removesuffix("/api") != local.api_url:
            raise cls._no_key(url)
        return local

    @staticmethod
    def _no_key(url: str) -> AuthError:
        return AuthError(
            f"No API key for {url!r}; set OPENCOMPUTER_API_KEY (or pass api_key=), "
            "or unset OPENCOMPUTER_API_URL to use the local backend."
        )

    @classmethod
    def _local(cls, refresh: bool = False) -> Config:
        try:
            from oc_jupyter.local.daemon import SERVER_JSON, ensure_running, home_dir
        except ImportError as exc:
            raise BackendUnavailable(
                f"The local backend is not installed ({exc}); set OPENCOMPUTER_API_KEY to use the OpenComputer cloud."
            ) from exc
        home = home_dir()
        info_path = os.path.join(home, SERVER_JSON)
        with _local_lock:
            seen = _local_seen.get(str(home))
        if (
            seen is not None
            and not refresh
            and time.monotonic() - seen[1] < LOCAL_TRUST_SECONDS
            and seen[0] == _stamp(info_path)
            and _process_exists(seen[2])
        ):
            return seen[3]
        try:
            server: Any = ensure_running(home)
        except OCError:
            raise
        except Exception as exc:  # the daemon reports engine or port problems in its own words
            raise BackendUnavailable(f"Could not start the local backend: {exc}") from exc
        url = server["url"] if isinstance(server, dict) else server.url
        key = server["key"] if isinstance(server, dict) else server.key
        pid = server.get("pid") if isinstance(server, dict) else getattr(server, "pid", None)
        config = cls(url, key, "local")
        stamp = _stamp(info_path)
        if stamp is not None and isinstance(pid, int):
            with _local_lock:
                _local_seen[str(home)] = (stamp, time.monotonic(), pid, config)
        return config

    @property
    def api_base(self) -> str:
        """The root of the HTTP routes: ``{api_url}/api``."""
        return f"{self.api_url}/api"

    @property
    def ws_base(self) -> str:
        """``api_base`` with the WebSocket scheme."""
        return "ws" + self.api_base[len("http") :]

    def scrub(self, text: str) -> str:
        """``text`` with the API key masked, for messages built from library errors."""
        if not self.api_key:
            return text
        # The WebSocket URL carries the key percent-encoded.
        return text.replace(self.api_key, "***").replace(quote(self.api_key, safe=""), "***")

    def __repr__(self) -> str:
        shown = "set" if self.api_key else "missing"
        return f"Config(backend={self.backend!r}, api_url={self.api_url!r}, api_key=<{shown}>)"

    __str__ = __repr__
