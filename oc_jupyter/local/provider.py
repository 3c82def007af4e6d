"""The ``local`` backend provider: how the SDK finds (and, if needed, starts) the local server.

Registered under the entry point group ``oc_jupyter.backends`` (see
``pyproject.toml``), so the SDK reaches the server through a name, not an
import. It needs only the standard library and the SDK's base dependencies to
load; the server itself runs in its own process and needs the ``[local]``
extra, which is checked before starting it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field

from oc_jupyter.sdk.errors import BackendUnavailable, OCError

__all__ = ["Endpoint", "local_backend", "LOCAL_TRUST_SECONDS"]

#: How long a resolved local server is trusted without asking for its health again (tens of ms
#: each time), provided its ``server.json`` is unchanged and its process still exists.
LOCAL_TRUST_SECONDS = 10.0

# What the server process imports; without them `oc-jupyter server start` cannot work.
_SERVER_MODULES = ("fastapi", "uvicorn")


@dataclass(frozen=True)
class Endpoint:
    """Where a backend listens and the key it accepts (the key never appears in ``repr``)."""

    url: str
    key: str = field(repr=False)


# home folder -> (server.json stamp, when checked, server pid, endpoint)
_seen: dict[str, tuple[tuple[int, int, int], float, int, Endpoint]] = {}
_lock = threading.Lock()


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


def _check_installed() -> None:
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendUnavailable(
            f"The local backend is not installed (missing {', '.join(missing)}); "
            "run `pip install 'oc_jupyter[local]'`, or set OPENCOMPUTER_API_KEY to use the OpenComputer cloud."
        )


def local_backend(refresh: bool = False) -> Endpoint:
    """The running local server of ``$OC_JUPYTER_HOME``, started in the background first if none answers.

    A server found healthy is trusted for :data:`LOCAL_TRUST_SECONDS` while its
    ``server.json`` stays the same; ``refresh=True`` checks it again now.
    """
    from .daemon import SERVER_JSON, ensure_running, home_dir

    home = home_dir()
    info_path = os.path.join(home, SERVER_JSON)
    with _lock:
        seen = _seen.get(str(home))
    if (
        seen is not None
        and not refresh
        and time.monotonic() - seen[1] < LOCAL_TRUST_SECONDS
        and seen[0] == _stamp(info_path)
        and _process_exists(seen[2])
    ):
        return seen[3]
    _check_installed()
    try:
        server = ensure_running(home)
    except OCError:
        raise
    except Exception as exc:  # the daemon reports engine or port problems in its own words
        raise BackendUnavailable(f"Could not start the local backend: {exc}") from exc
    endpoint = Endpoint(server.url, server.key)
    stamp = _stamp(info_path)
    if stamp is not None:
        with _lock:
            _seen[str(home)] = (stamp, time.monotonic(), server.pid, endpoint)
    return endpoint
