"""A local server of the test's own, in its own home, that a test may kill, restart or start broken.

The session's shared server (``local_server``) must survive every test, so
fault tests start a second one with ``oc-jupyter server start`` in a temporary
``OC_JUPYTER_HOME``. Its instance id labels every container it makes, so the
test removes exactly those at the end and nothing else in the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from _support import CLI
from engine_under_test import engine_args

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = str(ROOT / "oc_jupyter" / "local" / "containers.conf")
LAYER_REPOSITORY = "localhost/oc-jupyter/layer"


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the container engine's CLI, as a user at a terminal would."""
    return subprocess.run(
        engine_args(*args), capture_output=True, text=True, check=check, env=engine_env(), timeout=timeout
    )


def containers_with(*labels: str, all_: bool = True) -> list[str]:
    """Ids of containers carrying every ``key=value`` label."""
    args = ["ps", "-q", "--no-trunc"] + (["-a"] if all_ else [])
    for label in labels:
        args += ["--filter", f"label={label}"]
    return podman(*args).stdout.split()


def container_of(sandbox_id: str) -> str:
    found = containers_with(f"oc-jupyter.sandbox={sandbox_id}")
    assert len(found) == 1, f"expected one container for {sandbox_id}, found {found}"
    return found[0]


def processes_in(container: str) -> list[str]:
    """The command lines running in a container, read from its /proc by the engine's exec."""
    out = podman(
        "exec", container, "sh", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done"
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref).returncode == 0


def layer_hashes(image) -> list[str]:
    """The layer tags an SDK ``Image`` builds into, computed as the server computes them."""
    from oc_jupyter.local.manifest import Manifest

    return Manifest.model_validate(image.to_dict()).layer_hashes()


def remove_layers(*images) -> None:
    """Remove the layer images of manifests this test made unique (their first step holds a nonce)."""
    for image in images:
        for h in layer_hashes(image):
            ref = f"{LAYER_REPOSITORY}:{h}"
            if image_exists(ref):
                podman("rmi", "-f", ref)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class OwnServer:
    """One local server process in ``home``, driven through the ``oc-jupyter`` CLI."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = Path(home)
        self.env = engine_env()
        self.env["OC_JUPYTER_HOME"] = str(self.home)
        for var in ("OPENCOMPUTER_API_KEY", "OPENCOMPUTER_API_URL"):
            self.env.pop(var, None)
        self.env.update(env)
        self.url = self.key = self.instance = ""
        self.pid = 0
        self.instances: set[str] = set()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self) -> OwnServer:
        done = self.cli("server", "start")
        assert done.returncode == 0, f"oc-jupyter server start failed:\n{done.stdout}\n{done.stderr}"
        info = json.loads((self.home / "server.json").read_text())
        self.url, self.key, self.pid = info["url"], info["key"], int(info["pid"])
        self.instance = info.get("instance", "")
        self.instances.add(self.instance)
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api",
            headers=self.headers,
            trust_env=False,
            timeout=kwargs.pop("timeout", httpx.Timeout(60, read=300)),
            **kwargs,
        )

    def async_client(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url + "/api",
            headers=self.headers,
            trust_env=False,
            timeout=kwargs.pop("timeout", httpx.Timeout(60, read=300)),
            **kwargs,
        )

    def config(self):
        from oc_jupyter.sdk import Config

        return Config(self.url, self.key, "local")

    def kill9(self) -> None:
        """SIGKILL the server process alone (its engine commands are orphaned, as in a real crash)."""
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return
            if state == "Z":
                return
            time.sleep(0.05)
        raise AssertionError(f"server {self.pid} survived SIGKILL")

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.home / "server.log").read_text(errors="replace")
        return ""

    def stop(self) -> None:
        self.cli("server", "stop", timeout=60)

    def cleanup(self) -> None:
        """Stop the server and remove every container any of its runs labelled (and only those)."""
        with contextlib.suppress(Exception):
            self.stop()
        for instance in self.instances:
            if not instance:
                continue
            ids = containers_with(f"oc-jupyter.instance={instance}")
            if ids:
                podman("rm", "-f", "-t", "0", *ids)


ARTIFACTS = ROOT / "tests" / "artifacts"


def record_figures(name: str, figures: dict) -> Path:
    """Write figures a test measured to tests/artifacts/<name>.json and print them."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"\n{name}: {json.dumps(figures, sort_keys=True)}\n(written to {path})")
    return path
