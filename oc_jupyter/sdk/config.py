"""Which backend the SDK talks to, and with what key: one ``Config`` for the cloud or the local server.

With an API key (the ``api_key`` argument or ``OPENCOMPUTER_API_KEY``) the SDK
talks to the OpenComputer cloud, or to ``OPENCOMPUTER_API_URL`` when set.
Without one it uses the embedded local server, starting it if needed, so a
notebook works with nothing configured.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from .errors import AuthError, BackendUnavailable

__all__ = ["BACKENDS_GROUP", "Config", "DEFAULT_API_URL", "Provider", "backend_provider"]

#: The OpenComputer cloud, as the official clients default to it.
DEFAULT_API_URL = "https://app.opencomputer.dev"

#: The entry point group where backends register; ``local`` is the embedded server.
BACKENDS_GROUP = "oc_jupyter.backends"

# An install whose metadata predates the group (an editable install made before
# it existed) still finds the provider the package ships under this name.
_BUNDLED = {"local": "oc_jupyter.local.provider:local_backend"}


class Provider(Protocol):
    """A backend provider: finds (or starts) its server and says where it listens and with which key."""

    def __call__(self, refresh: bool = False) -> Any: ...


def backend_provider(name: str) -> Provider:
    """The provider registered as ``name`` in :data:`BACKENDS_GROUP`."""
    found = [ep for ep in entry_points(group=BACKENDS_GROUP) if ep.name == name]
    if found:
        entry = found[0]
    elif name in _BUNDLED:
        entry = EntryPoint(name, _BUNDLED[name], BACKENDS_GROUP)
    else:
        raise BackendUnavailable(f"No backend named {name!r} is installed; set OPENCOMPUTER_API_KEY to use the cloud.")
    try:
        return entry.load()
    except ImportError as exc:
        raise BackendUnavailable(
            f"The {name} backend is not installed ({exc}); run `pip install 'oc_jupyter[{name}]'`, "
            "or set OPENCOMPUTER_API_KEY to use the OpenComputer cloud."
        ) from exc


# backend name -> (the provider's last answer, the Config made from it)
_last_answer: dict[str, tuple[Any, Config]] = {}


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

        For the local backend the ``local`` provider (entry point group
        :data:`BACKENDS_GROUP`) starts the embedded server if it is not
        running, which can take a few seconds the first time; it may trust a
        server found healthy for a few seconds, and ``refresh=True`` checks it
        again now (after a connection failure, say).
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
        server = backend_provider("local")(refresh)
        # A provider answering from memory returns the same object; so is the Config, and callers
        # (the notebook's backend cache) tell "unchanged" by identity.
        last = _last_answer.get("local")
        if last is not None and last[0] is server:
            return last[1]
        config = cls(server.url, server.key, "local")
        _last_answer["local"] = (server, config)
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
