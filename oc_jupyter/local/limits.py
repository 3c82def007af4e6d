"""Resource limits of sandboxes and build steps, the disk floor, and how an out-of-memory kill is told.

Every sandbox and every build-step container runs with a memory limit (swap
equal to it, so the limit cannot be dodged by swapping), a CPU share and a
process-count cap. The defaults come from the host so one runaway cell never
takes the machine, the server or the kernel with it:

- memory: ``min(4096 MB, half the host's RAM)``: enough for a data-science
  cell, and the other half stays for the server, Jupyter and the desktop;
- CPUs: ``ceil(cores / 2)`` (at least 1): a busy sandbox leaves the other
  half of the machine responsive;
- processes: 1024 in a sandbox, 2048 in a build step (compilers and package
  managers fork a lot); a fork bomb meets this cap, not the host's.

``OC_JUPYTER_SANDBOX_MEMORY_MB``, ``OC_JUPYTER_SANDBOX_CPUS``,
``OC_JUPYTER_SANDBOX_PIDS`` and ``OC_JUPYTER_BUILD_PIDS`` change the
defaults (each still bounded by the host). Overlay storage on ext4 cannot cap
a container's disk, so instead the server refuses new builds and sandboxes
while the engine's storage has less than ``OC_JUPYTER_DISK_FLOOR_MB`` free
(default 2048).

The flags used (``--memory``, ``--memory-swap``, ``--cpus``,
``--pids-limit``, ``--network none``) mean the same to podman and docker.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from .engine import Engine
from .errors import ApiError, BadRequest
from .settings import env_number

__all__ = [
    "Limits",
    "InsufficientStorage",
    "host_memory_mb",
    "host_cores",
    "sandbox_defaults",
    "build_limits",
    "resolve_sandbox_limits",
    "oom_kills",
    "host_oom_kills",
    "oom_message",
    "OOM_PROBE",
    "ensure_disk_space",
    "disk_floor_mb",
    "MIN_MEMORY_MB",
]

#: Below this a Python interpreter (the in-sandbox agent) cannot even start.
MIN_MEMORY_MB = 64
DEFAULT_MEMORY_CAP_MB = 4096
SANDBOX_PIDS = 1024
BUILD_PIDS = 2048
DEFAULT_DISK_FLOOR_MB = 2048
#: The killed command's exit status: 128 + SIGKILL, which is how the kernel's OOM killer ends it.
KILLED_STATUS = 137

# The OOM-kill counter of the container's memory cgroup (v2, then v1), printed by a shell inside it.
OOM_PROBE = (
    "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
    " | sed -n 's/^oom_kill //p' | head -n 1"
)
_COUNT = re.compile(r"^\s*(\d+)\s*$", re.MULTILINE)


class InsufficientStorage(ApiError):
    """The engine's storage has less free space than the floor: nothing new is built or started."""

    status_code = 507


def host_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    """What one container may use."""

    memory_mb: int
    cpus: int
    pids: int
    network: bool = True

    def engine_args(self) -> list[str]:
        args = [
            "--memory",
            f"{self.memory_mb}m",
            # Swap equal to memory means no swap at all: the limit is the real ceiling.
            "--memory-swap",
            f"{self.memory_mb}m",
            "--cpus",
            str(self.cpus),
            "--pids-limit",
            str(self.pids),
        ]
        if not self.network:
            args += ["--network", "none"]
        return args


def _bounded(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def sandbox_defaults() -> Limits:
    """The limits of a sandbox that asks for none (see the module's notes for why these numbers)."""
    ram, cores = host_memory_mb(), host_cores()
    memory = env_number("OC_JUPYTER_SANDBOX_MEMORY_MB", min(DEFAULT_MEMORY_CAP_MB, ram // 2))
    cpus = env_number("OC_JUPYTER_SANDBOX_CPUS", max(1, math.ceil(cores / 2)))
    pids = env_number("OC_JUPYTER_SANDBOX_PIDS", SANDBOX_PIDS)
    return Limits(_bounded(memory, MIN_MEMORY_MB, ram), _bounded(cpus, 1, cores), max(16, pids))


def _check(memory_mb: int | None, cpu_count: int | None, what: str) -> None:
    ram, cores = host_memory_mb(), host_cores()
    if memory_mb is not None and not MIN_MEMORY_MB <= memory_mb <= ram:
        raise BadRequest(
            f"{what} {memory_mb} MB is out of range; ask for between {MIN_MEMORY_MB} MB and this host's "
            f"{ram} MB of RAM."
        )
    if cpu_count is not None and not 1 <= cpu_count <= cores:
        raise BadRequest(f"cpuCount {cpu_count} is out of range; ask for between 1 and this host's {cores} CPU cores.")


def resolve_sandbox_limits(memory_mb: int | None, cpu_count: int | None, network: bool = True) -> Limits:
    """The limits of a new sandbox: the request's, else the defaults; 400 for values the host cannot give."""
    _check(memory_mb, cpu_count, "memoryMB")
    defaults = sandbox_defaults()
    return Limits(memory_mb or defaults.memory_mb, cpu_count or defaults.cpus, defaults.pids, network)


def build_limits(builder_memory_mb: int | None) -> Limits:
    """A build step's limits: the manifest's ``builderMemoryMB`` or the sandbox default, more processes."""
    _check(builder_memory_mb, None, "builderMemoryMB")
    defaults = sandbox_defaults()
    pids = max(16, env_number("OC_JUPYTER_BUILD_PIDS", BUILD_PIDS))
    return Limits(builder_memory_mb or defaults.memory_mb, defaults.cpus, pids)


# Where podman (cgroupfs or systemd manager) and docker put a container's cgroup, under v1's memory
# hierarchy or v2's single one; {id} is the full container id.
_CGROUP_DIRS = (
    "libpod_parent/libpod-{id}",
    "machine.slice/libpod-{id}.scope",
    "docker/{id}",
    "system.slice/docker-{id}.scope",
)
_CGROUP_FILES = (("/sys/fs/cgroup/memory", "memory.oom_control"), ("/sys/fs/cgroup", "memory.events"))


def host_oom_kills(container_id: str) -> int | None:
    """The container's OOM-kill count read from the host's cgroup files (no engine call), if they are found."""
    if not re.fullmatch(r"[0-9a-f]{12,64}", container_id or ""):
        return None
    for root, name in _CGROUP_FILES:
        for folder in _CGROUP_DIRS:
            try:
                with open(os.path.join(root, folder.format(id=container_id), name)) as handle:
                    text = handle.read()
            except OSError:
                continue
            match = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
            if match:
                return int(match.group(1))
    return None


async def oom_kills(engine: Engine, container: str, container_id: str = "") -> int | None:
    """How many processes the container's memory limit has killed so far (``None`` if unknown)."""
    count = host_oom_kills(container_id)
    if count is not None:
        return count
    result = await engine.run("exec", container, "sh", "-c", OOM_PROBE, check=False, timeout=30)
    match = _COUNT.search(result.stdout) if result.ok else None
    return int(match.group(1)) if match else None


def oom_message(what: str, memory_mb: int, fix: str) -> str:
    """The one sentence telling that ``what`` ran out of memory, its limit, and how to raise it."""
    return f"{what} was killed: it ran out of memory (limit {memory_mb} MB); {fix}."


def disk_floor_mb() -> int:
    return max(0, env_number("OC_JUPYTER_DISK_FLOOR_MB", DEFAULT_DISK_FLOOR_MB))


_storage_roots: dict[str, str | None] = {}


async def _storage_root(engine: Engine) -> str | None:
    """Where the engine keeps images and containers (asked once per engine binary)."""
    if engine.binary not in _storage_roots:
        template = "{{.Store.GraphRoot}}" if engine.name == "podman" else "{{.DockerRootDir}}"
        result = await engine.run("info", "--format", template, check=False)
        root = result.stdout.strip() if result.ok else ""
        _storage_roots[engine.binary] = root if root and os.path.isdir(root) else None
    return _storage_roots[engine.binary]


async def ensure_disk_space(engine: Engine, what: str) -> None:
    """Raise :class:`InsufficientStorage` (507) when the engine's storage is below the disk floor."""
    floor = disk_floor_mb()
    if floor <= 0:
        return
    root = await _storage_root(engine)
    if root is None:
        return
    stats = os.statvfs(root)
    free = stats.f_bavail * stats.f_frsize // (1024 * 1024)
    if free < floor:
        raise InsufficientStorage(
            f"Not {what}: the container engine's storage ({root}) has {free} MB free, under the "
            f"{floor} MB floor; free space (for example `{engine.name} image prune`, or delete snapshots and "
            "sandboxes you no longer need) or lower OC_JUPYTER_DISK_FLOOR_MB."
        )
