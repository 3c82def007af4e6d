"""Start, find and stop the one local server of a state folder (``$OC_JUPYTER_HOME``).

Many kernels share one server: the first that needs it starts it in the
background (its own session, so it outlives the kernel), the others find it
through ``server.json``. A file lock makes two kernels starting at once get
the same server. ``server.json`` (mode 0600) holds the URL, the process id
and the API key; the server writes it once it is ready and removes it when it
stops.

The folder holds the key and the sandboxes' envs, so it is the user's alone:
mode 0700 and every file in it 0600, fixed whenever a server is started or
stopped through it (a folder made by an older version was 0755).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from oc_jupyter.sdk.errors import BackendUnavailable

__all__ = [
    "ServerInfo",
    "ServerStartFailed",
    "home_dir",
    "ensure_running",
    "status",
    "stop",
    "read_info",
    "secure_home",
]

SERVER_JSON = "server.json"
SERVER_LOG = "server.log"
LOCK_FILE = "server.lock"
#: The key reaches the server through this variable, never its command line (visible in `ps`).
KEY_VARIABLE = "OC_JUPYTER_SERVER_KEY"
START_TIMEOUT = 60.0


class ServerStartFailed(BackendUnavailable):
    """The local server did not start or did not become healthy."""


@dataclass(frozen=True)
class ServerInfo:
    """A running local server: where it listens and how to authenticate (the key is never shown)."""

    url: str
    key: str = field(repr=False)
    pid: int
    engine: str | None
    version: str
    instance: str
    home: Path

    def public(self) -> dict:
        """What ``oc-jupyter server status`` prints: everything but the key."""
        return {
            "url": self.url,
            "pid": self.pid,
            "engine": self.engine,
            "version": self.version,
            "instance": self.instance,
            "home": str(self.home),
        }


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """The state folder: ``home``, else ``$OC_JUPYTER_HOME``, else the user's data folder."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("OC_JUPYTER_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("oc-jupyter"))


def read_info(home: str | os.PathLike | None = None) -> ServerInfo | None:
    """What ``server.json`` says, without checking that the server still runs."""
    folder = home_dir(home)
    try:
        data = json.loads((folder / SERVER_JSON).read_text())
        return ServerInfo(
            url=data["url"],
            key=data["key"],
            pid=int(data["pid"]),
            engine=data.get("engine"),
            version=data.get("version", ""),
            instance=data.get("instance", ""),
            home=folder,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def secure_home(folder: Path) -> None:
    """Make ``folder`` (created if missing) 0700 and each file directly in it 0600."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                    os.chmod(entry.path, 0o600)


def _private_file(path: Path, flags: int) -> int:
    """Open ``path`` for the user only (0600 even if it existed looser)."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def write_info(home: Path, info: dict) -> None:
    """Write ``server.json`` atomically with mode 0600 (it holds the key)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = home / f".{SERVER_JSON}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(info, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, home / SERVER_JSON)


def remove_info(home: Path, pid: int) -> None:
    """Remove ``server.json`` if it still describes the process ``pid``."""
    info = read_info(home)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            (home / SERVER_JSON).unlink()


def _healthy(info: ServerInfo, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(
            f"{info.url}/api/x-oc-jupyter/v1/health",
            headers={"X-API-Key": info.key},
            timeout=timeout,
            trust_env=False,
        )
        return response.status_code == 200 and response.json().get("pid") == info.pid
    except (httpx.HTTPError, ValueError):
        return False


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return b"oc_jupyter.local" in cmdline


def status(home: str | os.PathLike | None = None) -> ServerInfo | None:
    """The running server of ``home``, or ``None`` when none answers."""
    info = read_info(home)
    return info if info is not None and _healthy(info) else None


@contextlib.contextmanager
def _locked(folder: Path):
    secure_home(folder)
    with os.fdopen(_private_file(folder / LOCK_FILE, os.O_WRONLY), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(folder: Path, lines: int = 15) -> str:
    try:
        text = (folder / SERVER_LOG).read_text(errors="replace")
    except OSError:
        return "(no server.log)"
    return "\n".join(text.splitlines()[-lines:])


def ensure_running(home: str | os.PathLike | None = None, *, timeout: float = START_TIMEOUT) -> ServerInfo:
    """The running server of ``home``, started in the background first if none answers."""
    folder = home_dir(home)
    info = status(folder)
    if info is not None:
        return info
    with _locked(folder):
        info = status(folder)
        if info is not None:
            return info
        return _start(folder, timeout)


def _start(folder: Path, timeout: float) -> ServerInfo:
    stale = read_info(folder)
    if stale is not None and _is_our_server(stale.pid):
        # A server that no longer answers (hung, or from another version): replace it.
        _terminate(stale.pid, 5.0)
    with contextlib.suppress(FileNotFoundError):
        (folder / SERVER_JSON).unlink()
    env = dict(os.environ)
    env[KEY_VARIABLE] = secrets.token_urlsafe(32)
    log = os.fdopen(_private_file(folder / SERVER_LOG, os.O_WRONLY | os.O_APPEND), "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oc_jupyter.local", "--home", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
            cwd=str(folder),
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise ServerStartFailed(
                f"The local server exited with code {code} while starting; the end of "
                f"{folder / SERVER_LOG} says:\n{_log_tail(folder)}"
            )
        info = read_info(folder)
        if info is not None and info.pid == proc.pid and _healthy(info, timeout=1.0):
            return info
        time.sleep(0.1)
    _terminate(proc.pid, 5.0)
    raise ServerStartFailed(
        f"The local server did not become healthy within {timeout:.0f}s; the end of "
        f"{folder / SERVER_LOG} says:\n{_log_tail(folder)}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return True


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop(home: str | os.PathLike | None = None, *, timeout: float = 20.0) -> bool:
    """Stop the server of ``home``; ``False`` if none was running. Sandboxes stay up for the next start."""
    folder = home_dir(home)
    with _locked(folder):
        info = read_info(folder)
        if info is None:
            return False
        running = _is_our_server(info.pid)
        if running:
            _terminate(info.pid, timeout)
        with contextlib.suppress(FileNotFoundError):
            (folder / SERVER_JSON).unlink()
        return running
