"""``oc-jupyter doctor``: what the local backend finds on this machine, and the fix for each problem.

Every check asks the real thing (the engine's own ``info``, the kernel's
cgroup files, the state folder's modes) and returns a :class:`Check`: what
was found, how bad it is, and the exact command or file that fixes it.
``problem`` means sandboxes cannot work until it is fixed (the command
exits 1); ``warning`` means they work, worse than they could (slow storage,
no resource limits, a state folder others can read).

The one fix the doctor applies itself is the storage driver of rootless
podman (:func:`fix_storage`): Debian's podman falls back to ``vfs``, which
copies every layer in full and makes a sandbox start take seconds.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .baseimage import base_image_ref, find_tool, rootless_build_problem, user_name
from .commandline import oc_jupyter_command
from .engine import Engine, detect_engine
from .errors import EngineNotFound

__all__ = ["Check", "Report", "diagnose", "fix_storage", "storage_conf_path", "storage_conf_text", "StorageFixError"]

OK, WARNING, PROBLEM = "ok", "warning", "problem"
_MARK = {OK: "ok", WARNING: "warning", PROBLEM: "PROBLEM"}
_INFO_TIMEOUT = 60
#: Below this the base image (about 0.7 GB) and a few layers do not fit.
DISK_PROBLEM_BYTES = 2 << 30
DISK_WARNING_BYTES = 10 << 30
LIMIT_CONTROLLERS = ("memory", "cpu", "pids")


class StorageFixError(Exception):
    """``doctor --fix-storage`` cannot (or should not) change the storage driver; the message says why."""


@dataclass
class Check:
    """One finding: ``name`` (engine, storage, …), its ``status``, what was found and the fix."""

    name: str
    status: str
    found: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    checks: list[Check]

    @property
    def blocked(self) -> bool:
        return any(check.status == PROBLEM for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.blocked, "checks": [asdict(check) for check in self.checks]}

    def render(self) -> str:
        width = max(len(check.name) for check in self.checks)
        lines = []
        for check in self.checks:
            lines.append(f"{_MARK[check.status]:>8}  {check.name:<{width}}  {check.found}")
            if check.fix:
                fix_lines = check.fix.splitlines()
                lines.append(f"{'':>8}  {'':<{width}}  fix: {fix_lines[0]}")
                lines += [f"{'':>8}  {'':<{width}}       {line}" if line else "" for line in fix_lines[1:]]
        problems = sum(check.status == PROBLEM for check in self.checks)
        warnings = sum(check.status == WARNING for check in self.checks)
        if problems:
            lines.append(f"\n{problems} problem(s) stop sandboxes from working here; fix them as shown above.")
        elif warnings:
            lines.append(f"\nSandboxes work here; {warnings} warning(s) above say what would make them better.")
        else:
            lines.append("\nEverything the local backend needs is in place.")
        return "\n".join(lines)


# --- what the engine says ---------------------------------------------------------------------------


@dataclass
class EngineFacts:
    """The parts of ``podman info`` / ``docker info`` the checks need, in one shape for both."""

    name: str
    binary: str
    version: str
    rootless: bool
    driver: str
    graph_root: str
    run_root: str
    runtime: str
    cgroup_version: str
    controllers: list[str] | None
    mount_program: str | None


def _engine_info(engine: Engine) -> EngineFacts:
    fmt = "json" if engine.name == "podman" else "{{json .}}"
    try:
        done = subprocess.run(
            [engine.binary, "info", "--format", fmt],
            env=engine.env,
            capture_output=True,
            text=True,
            timeout=_INFO_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{engine.name} info` did not answer within {_INFO_TIMEOUT} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"`{engine.name} info` failed with exit code {done.returncode}: {last}")
    data = json.loads(done.stdout)
    if engine.name == "podman":
        host, store = data.get("host", {}), data.get("store", {})
        runtime = host.get("ociRuntime", {})
        mount_program = (store.get("graphOptions") or {}).get("overlay.mount_program")
        return EngineFacts(
            name="podman",
            binary=engine.binary,
            version=data.get("version", {}).get("Version", "?"),
            rootless=bool(host.get("security", {}).get("rootless")),
            driver=store.get("graphDriverName", "?"),
            graph_root=store.get("graphRoot", ""),
            run_root=store.get("runRoot", ""),
            runtime=f"{runtime.get('name', '?')} ({runtime.get('path', '?')})",
            cgroup_version=host.get("cgroupVersion", "?"),
            controllers=host.get("cgroupControllers"),
            mount_program=mount_program.get("Executable") if isinstance(mount_program, dict) else None,
        )
    security = data.get("SecurityOptions") or []
    return EngineFacts(
        name="docker",
        binary=engine.binary,
        version=data.get("ServerVersion", "?"),
        rootless=any("rootless" in option for option in security),
        driver=data.get("Driver", "?"),
        graph_root=data.get("DockerRootDir", ""),
        run_root="",
        runtime=data.get("DefaultRuntime", "?"),
        cgroup_version=str(data.get("CgroupVersion", "?")),
        controllers=[
            name
            for name, key in (("memory", "MemoryLimit"), ("cpu", "CPUCfsQuota"), ("pids", "PidsLimit"))
            if data.get(key)
        ],
        mount_program=None,
    )


# --- the checks -------------------------------------------------------------------------------------


def _check_engine(environ: dict | None) -> tuple[Check, Engine | None, EngineFacts | None]:
    try:
        engine = detect_engine(environ)
    except EngineNotFound as exc:
        return Check("engine", PROBLEM, "no container engine found", str(exc)), None, None
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if engine.name == "podman" and os.geteuid() != 0 and runtime_dir and not _owned(Path(runtime_dir)):
        # Left over from `su` without -l or `sudo -u`: rootless podman refuses to start.
        return (
            Check(
                "engine",
                PROBLEM,
                f"XDG_RUNTIME_DIR is {runtime_dir}, which does not exist or belongs to another user, "
                "so rootless podman cannot start",
                "run `unset XDG_RUNTIME_DIR` (podman then uses /tmp/podman-run-$UID), or log in as this user with "
                "`su -l` or ssh, which do not pass another user's folder on",
                {"xdg_runtime_dir": runtime_dir},
            ),
            engine,
            None,
        )
    try:
        facts = _engine_info(engine)
    except (RuntimeError, ValueError) as exc:
        fix = "check that the engine works for this user: run `podman info` and fix what it reports"
        if engine.name == "podman" and os.geteuid() != 0:
            fix = (
                "rootless podman needs a writable XDG_RUNTIME_DIR and subordinate ids: "
                f"check `echo $XDG_RUNTIME_DIR` and `grep {user_name()} /etc/subuid /etc/subgid`, "
                "then run `podman system migrate`"
            )
        return Check("engine", PROBLEM, f"{engine.name} at {engine.binary} does not work: {exc}", fix), engine, None
    mode = f"rootless, as {user_name()}" if facts.rootless else "as root"
    found = f"{facts.name} {facts.version} at {facts.binary} ({mode}); runtime {facts.runtime}"
    return (
        Check(
            "engine",
            OK,
            found,
            details={
                "name": facts.name,
                "version": facts.version,
                "rootless": facts.rootless,
                "runtime": facts.runtime,
            },
        ),
        engine,
        facts,
    )


def _owned(folder: Path) -> bool:
    try:
        return folder.stat().st_uid == os.geteuid()
    except OSError:
        return False


def native_overlay_supported() -> bool:
    """Unprivileged overlay mounts in a user namespace arrived in Linux 5.13."""
    release = platform.release().split("-")[0].split(".")
    try:
        return (int(release[0]), int(release[1])) >= (5, 13)
    except (ValueError, IndexError):
        return False


def storage_conf_path() -> Path:
    """The rootless storage settings file podman reads for this user."""
    explicit = os.environ.get("CONTAINERS_STORAGE_CONF", "").strip()
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config) / "containers" / "storage.conf"


def storage_conf_text(facts: EngineFacts) -> str:
    """The storage.conf that moves rootless podman to overlay, keeping its current paths.

    ``runroot`` and ``graphroot`` must be given: a file naming only the
    driver makes podman refuse to start ("runroot must be set").
    """
    lines = [
        "[storage]",
        'driver = "overlay"',
        f'runroot = "{facts.run_root}"',
        f'graphroot = "{facts.graph_root}"',
    ]
    fuse = find_tool("fuse-overlayfs")
    if not native_overlay_supported() and fuse:
        lines += ["", "[storage.options.overlay]", f'mount_program = "{fuse}"']
    return "\n".join(lines) + "\n"


def _check_storage(facts: EngineFacts) -> Check:
    details = {
        "driver": facts.driver,
        "graph_root": facts.graph_root,
        "run_root": facts.run_root,
        "mount_program": facts.mount_program,
    }
    if facts.driver != "vfs":
        how = f" through {facts.mount_program}" if facts.mount_program else ""
        return Check("storage", OK, f"driver {facts.driver}{how}, images in {facts.graph_root}", details=details)
    if not facts.rootless or facts.name != "podman":
        return Check(
            "storage",
            WARNING,
            f"driver vfs (copies every layer in full; sandboxes start slowly), images in {facts.graph_root}",
            f"configure the {facts.name} storage driver overlay (see its storage documentation)",
            details,
        )
    if not native_overlay_supported() and not (find_tool("fuse-overlayfs") and Path("/dev/fuse").exists()):
        return Check(
            "storage",
            WARNING,
            "driver vfs (copies every layer in full; sandboxes start slowly), and "
            f"this kernel ({platform.release()}) has no rootless overlay",
            "install fuse-overlayfs with `sudo apt-get install fuse-overlayfs`, then run "
            f"`{oc_jupyter_command('doctor', '--fix-storage')}`",
            details,
        )
    path = storage_conf_path()
    fix = (
        f"run `{oc_jupyter_command('doctor', '--fix-storage')}`, which writes {path} with:\n\n"
        + storage_conf_text(facts)
        + "\nand empties the current store first with `podman system reset` (podman refuses to switch a "
        "store's driver); it removes your podman images and containers, so it asks for --force when "
        "there are any."
    )
    return Check(
        "storage",
        WARNING,
        "driver vfs (copies every layer in full: a sandbox takes seconds to start, "
        "a build minutes), images in " + facts.graph_root,
        fix,
        details,
    )


def _controllers_for(facts: EngineFacts) -> tuple[list[str], str]:
    """The cgroup controllers this user's containers can use, and where that was read."""
    if facts.name == "podman" and facts.controllers is not None:
        source = "podman info"
        if facts.rootless and facts.cgroup_version == "v2":
            uid = os.geteuid()
            delegated = Path(f"/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers")
            try:
                return delegated.read_text().split(), str(delegated)
            except OSError:
                return list(facts.controllers), source
        return list(facts.controllers), source
    return list(facts.controllers or []), f"{facts.name} info"


def _check_cgroups(facts: EngineFacts) -> Check:
    controllers, source = _controllers_for(facts)
    missing = [name for name in LIMIT_CONTROLLERS if name not in controllers]
    details = {
        "version": facts.cgroup_version,
        "controllers": controllers,
        "source": source,
        "limits": {name: name not in missing for name in LIMIT_CONTROLLERS},
    }
    found = f"cgroups {facts.cgroup_version}; controllers {' '.join(controllers) or 'none'} ({source})"
    if not missing:
        return Check("cgroups", OK, found + "; memory, cpu and pids limits are supported", details=details)
    if facts.rootless and facts.cgroup_version == "v1":
        fix = (
            "rootless containers get no limits on cgroups v1: boot with cgroups v2 "
            "(`systemd.unified_cgroup_hierarchy=1` on the kernel command line) and log in through systemd"
        )
    elif facts.rootless:
        fix = (
            "delegate the controllers to your user: create /etc/systemd/system/user@.service.d/delegate.conf "
            "with `[Service]` and `Delegate=memory pids cpu cpuset`, run `sudo systemctl daemon-reload`, "
            "then log out and in"
        )
    else:
        fix = f"enable the {', '.join(missing)} cgroup controller(s) in the kernel"
    return Check(
        "cgroups",
        WARNING,
        found + f"; {', '.join(missing)} limits are not supported, so sandboxes run without them",
        fix,
        details,
    )


def _check_base(engine: Engine) -> Check:
    ref = base_image_ref()
    try:
        present = (
            subprocess.run(
                [engine.binary, "image", "inspect", "--format", "{{.Id}}", ref],
                env=engine.env,
                capture_output=True,
                timeout=_INFO_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        present = False
    details = {"image": ref, "present": present}
    if present:
        return Check("base image", OK, f"{ref} is present", details=details)
    if os.environ.get("OC_JUPYTER_BASE_IMAGE", "").strip():
        return Check("base image", OK, f"{ref} (OC_JUPYTER_BASE_IMAGE) is pulled on first use", details=details)
    if os.geteuid() != 0:
        problem = rootless_build_problem()
        if problem:
            return Check("base image", PROBLEM, f"{ref} is missing and cannot be built here", problem, details)
    elif not (find_tool("mmdebstrap") or find_tool("debootstrap")):
        return Check(
            "base image",
            PROBLEM,
            f"{ref} is missing and cannot be built here",
            "install mmdebstrap with `apt-get install mmdebstrap`",
            details,
        )
    return Check(
        "base image",
        OK,
        f"{ref} is not built yet; the first sandbox builds it (a minute or two), "
        f"or build it now with `{oc_jupyter_command('base', 'build')}`",
        details=details,
    )


def _check_disk(facts: EngineFacts) -> Check:
    folder = Path(facts.graph_root or "/")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    free_gb = usage.free / (1 << 30)
    details = {"path": str(folder), "free_bytes": usage.free}
    found = f"{free_gb:.1f} GiB free for images in {folder}"
    if usage.free < DISK_PROBLEM_BYTES:
        return Check("disk", PROBLEM, found, "free at least 2 GiB there (for example `podman image prune`)", details)
    if usage.free < DISK_WARNING_BYTES:
        return Check("disk", WARNING, found, "images and snapshots fill it quickly; free some space", details)
    return Check("disk", OK, found, details=details)


def _check_state(home: Path) -> Check:
    details: dict[str, Any] = {"path": str(home)}
    if not home.exists():
        return Check("state folder", OK, f"{home} does not exist yet (created on first use)", details=details)
    loose = []
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077:
        loose.append(f"{home} is {mode:04o}")
    for item in sorted(home.iterdir()):
        if item.is_file() and not item.is_symlink():
            item_mode = stat.S_IMODE(item.stat().st_mode)
            if item_mode & 0o077:
                loose.append(f"{item.name} is {item_mode:04o}")
    details["loose"] = loose
    if not loose:
        return Check("state folder", OK, f"{home} is private (0700, files 0600)", details=details)
    quoted = shlex.quote(str(home))
    return Check(
        "state folder",
        WARNING,
        f"{home} can be read by other users: {', '.join(loose)}",
        f"run `chmod 700 {quoted} && find {quoted} -type f -exec chmod 600 {{}} +`",
        details,
    )


def _check_server(home: Path) -> Check:
    from .daemon import status

    info = status(home)
    if info is None:
        return Check(
            "server",
            OK,
            f"not running (it starts on first use, or with `{oc_jupyter_command('server', 'start')}`)",
            details={"running": False},
        )
    return Check(
        "server",
        OK,
        f"running at {info.url} (pid {info.pid}, engine {info.engine}, version {info.version})",
        details={"running": True, **{k: v for k, v in info.public().items() if k != "home"}},
    )


def diagnose(home: Path | None = None, environ: dict | None = None) -> Report:
    """Run every check; the engine-dependent ones only when the engine answers."""
    from .daemon import home_dir

    folder = home_dir(home)
    engine_check, engine, facts = _check_engine(environ)
    checks = [engine_check]
    if engine is not None and facts is not None:
        checks += [_check_storage(facts), _check_cgroups(facts), _check_base(engine), _check_disk(facts)]
    checks += [_check_state(folder), _check_server(folder)]
    return Report(checks)


# --- the storage fix --------------------------------------------------------------------------------


def _count(engine: Engine, *args: str) -> int:
    done = subprocess.run(
        [engine.binary, *args],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=_INFO_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return len(done.stdout.split()) if done.returncode == 0 else 0


def fix_storage(force: bool = False, environ: dict | None = None) -> str:
    """Move rootless podman from vfs to overlay; return what was done, or raise :class:`StorageFixError`."""
    engine = detect_engine(environ)
    try:
        facts = _engine_info(engine)
    except (RuntimeError, ValueError) as exc:
        raise StorageFixError(
            f"The engine does not answer ({exc}); run `{oc_jupyter_command('doctor')}` and fix that first."
        ) from None
    if facts.name != "podman" or not facts.rootless:
        raise StorageFixError(
            f"--fix-storage changes rootless podman's settings, but this is {facts.name} "
            f"{'rootless' if facts.rootless else 'as root'}; configure its storage yourself."
        )
    if facts.driver != "vfs":
        return f"Nothing to do: podman already uses the {facts.driver} storage driver."
    if not native_overlay_supported() and not find_tool("fuse-overlayfs"):
        raise StorageFixError(
            f"This kernel ({platform.release()}) has no rootless overlay and fuse-overlayfs is "
            "not installed; install it with `sudo apt-get install fuse-overlayfs` and run this again."
        )
    path = storage_conf_path()
    images, containers = _count(engine, "images", "-aq"), _count(engine, "ps", "-aq")
    if not force and (images or containers or path.exists()):
        held = f"holds {images} image(s) and {containers} container(s)" if images or containers else "is empty"
        existing = f" and {path} exists (it is kept as {path.name}.bak)" if path.exists() else ""
        raise StorageFixError(
            f"Your podman store {held}{existing}; switching the driver empties the store with `podman system "
            f"reset`, so run `{oc_jupyter_command('doctor', '--fix-storage', '--force')}` to go ahead."
        )
    text = storage_conf_text(facts)
    # podman's database remembers the driver it was created with, so the old store must go first.
    reset = subprocess.run(
        [engine.binary, "system", "reset", "--force"],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if reset.returncode != 0:
        last = (reset.stderr.strip() or "no output").splitlines()[-1]
        raise StorageFixError(
            f"`podman system reset` failed with exit code {reset.returncode} ({last}); {path} was not written."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.replace(path.with_name(path.name + ".bak"))
    path.write_text(text)
    after = _engine_info(engine)
    if after.driver != "overlay":
        raise StorageFixError(
            f"Wrote {path}, but podman still reports the {after.driver} driver; check the file and `podman info`."
        )
    return f"Wrote {path}; podman now uses the overlay storage driver (images in {after.graph_root})."
