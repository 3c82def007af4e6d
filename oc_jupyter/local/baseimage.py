"""The ``base`` image every manifest starts from, built once per engine store and reused.

What ``Image.base()`` promises: bash, Python 3 with a working ``pip install``
(no PEP 668 refusal, ``python`` as an alias of ``python3``), Node.js, build
tools, curl, git and an existing ``/workspace`` (the default working folder).

Two ways to get it:

* Built from Debian packages (the default, works without any container
  registry): ``mmdebstrap`` fetches a minimal Debian bookworm from the host's
  Debian mirror and writes it as a tar straight into ``<engine> import``,
  giving ``localhost/oc-jupyter/base:<BASE_VERSION>``. A normal user needs
  no root for this: ``mmdebstrap --mode=unshare`` works in a user namespace,
  given ``uidmap`` (newuidmap/newgidmap) and subordinate ids in
  ``/etc/subuid`` and ``/etc/subgid`` (what rootless podman needs anyway),
  and the image lands in that user's own engine store, where their sandboxes
  look for it. Root uses ``mmdebstrap`` too, or ``debootstrap`` where only
  that is installed. The image trusts the certificate authorities the host
  added under ``/usr/local/share/ca-certificates`` (what corporate TLS
  proxies need), so pip, apt and curl work inside it wherever they work on
  the host. It takes a minute or two, once.
* Pulled from a registry: set ``OC_JUPYTER_BASE_IMAGE`` (for example
  ``docker.io/library/python:3.12``) and that image is pulled on first need
  and used as the base as it is.

Layers built on the base are cached by the manifest's content hash, which
does not name the base, so after switching bases remove the old layers
(``podman rmi`` of ``localhost/oc-jupyter/layer``) to rebuild on the new one.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from oc_jupyter.wire.codes import ErrorCode

from .engine import Engine
from .errors import ApiError

__all__ = [
    "BASE_VERSION",
    "BASE_REPOSITORY",
    "base_image_ref",
    "ensure_base_image",
    "BaseImageError",
    "rootless_build_problem",
    "find_tool",
]

# Bump when the recipe below changes so engines rebuild the base.
BASE_VERSION = "bookworm-1"
BASE_REPOSITORY = "localhost/oc-jupyter/base"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "python3",
    "python3-pip",
    "python3-venv",
    "nodejs",
    "build-essential",
    "curl",
    "git",
    "ca-certificates",
    "bash",
    "tar",
    "gzip",
    "xz-utils",
    "procps",
)
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
IMAGE_CONFIG = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PIP_ROOT_USER_ACTION=ignore",
    "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
    "WORKDIR /workspace",
    'CMD ["/bin/bash"]',
)

Progress = Callable[[str], Awaitable[None] | None]

_process_lock = asyncio.Lock()


class BaseImageError(ApiError):
    """The base image could not be built or pulled."""

    status_code = 500
    code = ErrorCode.ENGINE_FAILED


def base_image_ref() -> str:
    """The engine reference of the base image in use."""
    return os.environ.get("OC_JUPYTER_BASE_IMAGE", "").strip() or f"{BASE_REPOSITORY}:{BASE_VERSION}"


def host_debian_mirror() -> str:
    """The Debian mirror the host's apt uses, so the base comes from the same (reachable) place."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        deb822 = re.search(r"^URIs:\s*(\S+)", text, re.MULTILINE)
        if deb822 and "security" not in deb822.group(1):
            return deb822.group(1).rstrip("/")
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.MULTILINE):
            if "security" not in match.group(1):
                return match.group(1).rstrip("/")
    return DEFAULT_MIRROR


async def _emit(progress: Progress | None, line: str) -> None:
    if progress is not None:
        outcome = progress(line)
        if outcome is not None:
            await outcome


async def ensure_base_image(
    engine: Engine, progress: Progress | None = None, *, force: bool = False, lock_dir: Path | None = None
) -> str:
    """Return the base image reference, building (or pulling) it first if the engine lacks it.

    Safe to call from many places at once: one build runs, the others wait
    for it (in this process through an asyncio lock, across processes through
    a file lock in ``lock_dir``).
    """
    ref = base_image_ref()
    if not force and await engine.image_exists(ref):
        return ref
    async with _process_lock:
        lock_file = None
        if lock_dir is not None:
            lock_dir.mkdir(parents=True, exist_ok=True)
            lock_file = open(lock_dir / "base-image.lock", "w")  # noqa: SIM115 -- held across the build, closed in the finally below
            await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        try:
            if not force and await engine.image_exists(ref):
                await _emit(progress, f"Base image {ref} is ready.")
                return ref
            if os.environ.get("OC_JUPYTER_BASE_IMAGE", "").strip():
                await _pull(engine, ref, progress)
            else:
                await _bootstrap(engine, ref, progress)
            return ref
        finally:
            if lock_file is not None:
                lock_file.close()


async def _pull(engine: Engine, ref: str, progress: Progress | None) -> None:
    await _emit(progress, f"Pulling base image {ref} (from OC_JUPYTER_BASE_IMAGE)")
    code = await engine.stream("pull", ref, on_line=lambda line: _emit(progress, line))
    if code != 0:
        raise BaseImageError(
            f"Pulling the base image {ref!r} failed with exit code {code}; check that its registry "
            "is reachable, or unset OC_JUPYTER_BASE_IMAGE to build the base from Debian packages."
        )


async def _run(argv: list[str], progress: Progress | None, what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    tail: list[str] = []
    try:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = (tail + [line])[-10:]
            await _emit(progress, line)
        code = await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        raise
    if code != 0:
        raise BaseImageError(f"{what} failed with exit code {code}: {' | '.join(tail[-3:]) or 'no output'}")


def find_tool(name: str) -> str | None:
    """The path of a system tool, also where ``/usr/sbin`` is not on a normal user's ``PATH``."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def has_subordinate_ids(user: str, uid: int, path: Path) -> bool:
    """Whether ``/etc/subuid`` (or ``subgid``) gives ``user`` a range of at least 65536 ids."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)) and parts[2].isdigit() and int(parts[2]) >= 65536:
            return True
    return False


def rootless_build_problem(user: str | None = None, subid_dir: Path = Path("/etc")) -> str | None:
    """Why ``user`` (the current one by default) cannot build the base without root: one sentence
    with the fix, or ``None``."""
    fallback = "or set OC_JUPYTER_BASE_IMAGE to an image your engine can pull"
    missing = [tool for tool in ("mmdebstrap", "newuidmap", "newgidmap") if find_tool(tool) is None]
    if missing:
        return (
            f"Building the base image without root needs mmdebstrap and uidmap ({', '.join(missing)} not found); "
            f"install them with `sudo apt-get install mmdebstrap uidmap`, {fallback}."
        )
    user = user or user_name()
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        uid = os.geteuid()
    lacking = [
        str(subid_dir / name) for name in ("subuid", "subgid") if not has_subordinate_ids(user, uid, subid_dir / name)
    ]
    if lacking:
        verb = "does" if len(lacking) == 1 else "do"
        return (
            f"Building the base image without root needs subordinate ids for user {user!r}, which "
            f"{' and '.join(lacking)} {verb} not give; add them with `sudo usermod --add-subuids "
            f"100000-165535 --add-subgids 100000-165535 {user}` and then run `podman system migrate`, {fallback}."
        )
    return None


async def _bootstrap(engine: Engine, ref: str, progress: Progress | None) -> None:
    root = os.geteuid() == 0
    mmdebstrap = find_tool("mmdebstrap")
    if not root:
        problem = rootless_build_problem()
        if problem:
            raise BaseImageError(problem)
    elif mmdebstrap is None:
        debootstrap = find_tool("debootstrap")
        if debootstrap is None:
            raise BaseImageError(
                "Building the base image needs mmdebstrap (or debootstrap), which is not installed; "
                "install it with `apt-get install mmdebstrap`, or set OC_JUPYTER_BASE_IMAGE to an image "
                "your engine can pull."
            )
        await _debootstrap(engine, debootstrap, ref, progress)
        return
    assert mmdebstrap is not None
    mirror = host_debian_mirror()
    mode = "root" if root else "unshare"
    await _emit(
        progress,
        f"Building base image {ref} from Debian {DEBIAN_SUITE} ({mirror}, "
        f"{'as root' if root else 'without root'}); this happens once, in a minute or two",
    )
    scratch = Path(tempfile.mkdtemp(prefix="oc-jupyter-base-"))
    try:
        # Files the image gets on top of the packages, copied in by mmdebstrap's sync-in hook.
        overlay = scratch / "overlay"
        await asyncio.to_thread(_write_overlay, overlay)
        argv = [
            mmdebstrap,
            f"--mode={mode}",
            "--variant=minbase",
            "--format=tar",
            f"--include={','.join(PACKAGES)}",
            f"--customize-hook=sync-in {overlay} /",
            # pip must work as the seed promises: without this marker Debian refuses `pip install`.
            '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; '
            '[ -e "$1/usr/bin/python" ] || ln -s python3 "$1/usr/bin/python"',
            '--customize-hook=chroot "$1" update-ca-certificates',
            DEBIAN_SUITE,
            "-",
            mirror,
        ]
        await _import_stream(engine, argv, ref, progress, "mmdebstrap")
        await _emit(progress, f"Base image {ref} is ready.")
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def _debootstrap(engine: Engine, debootstrap: str, ref: str, progress: Progress | None) -> None:
    mirror = host_debian_mirror()
    await _emit(progress, f"Building base image {ref} from Debian {DEBIAN_SUITE} ({mirror}); this happens once")
    scratch = Path(tempfile.mkdtemp(prefix="oc-jupyter-base-", dir="/var/tmp"))
    rootfs = scratch / "rootfs"
    try:
        await _run(
            [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", DEBIAN_SUITE, str(rootfs), mirror],
            progress,
            "debootstrap",
        )
        await _emit(progress, "Configuring the base image")
        await asyncio.to_thread(_configure_rootfs, rootfs)
        await _run(["chroot", str(rootfs), "update-ca-certificates"], progress, "update-ca-certificates")
        await asyncio.to_thread(_tidy_rootfs, rootfs)
        await _emit(progress, f"Importing the base image into {engine.name}")
        await _import_stream(engine, ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], ref, progress, "tar")
        await _emit(progress, f"Base image {ref} is ready.")
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


def _write_overlay(overlay: Path) -> None:
    (overlay / "workspace").mkdir(parents=True)
    _add_config_files(overlay)


def _configure_rootfs(rootfs: Path) -> None:
    # pip must work as the seed promises: without this marker Debian refuses `pip install`.
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    python = rootfs / "usr/bin/python"
    if not python.exists() and not python.is_symlink():
        python.symlink_to("python3")
    (rootfs / "workspace").mkdir(exist_ok=True)
    _add_config_files(rootfs)


def _add_config_files(rootfs: Path) -> None:
    """The host's extra certificate authorities and the pip settings, written under ``rootfs``."""
    target = rootfs / "usr/local/share/ca-certificates"
    target.mkdir(parents=True, exist_ok=True)
    if HOST_CA_DIR.is_dir():
        for cert in HOST_CA_DIR.rglob("*.crt"):
            dest = target / cert.relative_to(HOST_CA_DIR)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cert, dest)
    pip_conf = rootfs / "etc/pip.conf"
    pip_conf.parent.mkdir(parents=True, exist_ok=True)
    pip_conf.write_text("[global]\nroot-user-action = ignore\ndisable-pip-version-check = true\n")


def _tidy_rootfs(rootfs: Path) -> None:
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / folder).glob("*"):
            if item.is_file() and item.name != "lock":
                item.unlink()


async def _import_stream(engine: Engine, producer: list[str], ref: str, progress: Progress | None, what: str) -> None:
    """Run ``producer`` (which writes a root file system as tar to stdout) into ``<engine> import``.

    The tar goes from one process to the other through an OS pipe, never
    through Python; the producer's messages (stderr) are the progress lines.
    """
    changes = [arg for change in IMAGE_CONFIG for arg in ("--change", change)]
    read_end, write_end = os.pipe()
    try:
        maker = await asyncio.create_subprocess_exec(
            *producer,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            importer = await asyncio.create_subprocess_exec(
                engine.binary,
                "import",
                *changes,
                "-",
                ref,
                stdin=read_end,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=engine.env,
            )
        except BaseException:
            maker.kill()
            raise
    finally:
        os.close(read_end)
        os.close(write_end)
    assert maker.stderr is not None and importer.stdout is not None
    tail: list[str] = []

    async def follow_maker() -> None:
        assert maker.stderr is not None
        async for raw in maker.stderr:
            line = raw.decode(errors="replace").rstrip()
            tail[:] = (tail + [line])[-10:]
            await _emit(progress, line)

    async def drain_importer() -> list[str]:
        assert importer.stdout is not None
        return [raw.decode(errors="replace").rstrip() async for raw in importer.stdout]

    try:
        _, lines = await asyncio.gather(follow_maker(), drain_importer())
        maker_code, import_code = await maker.wait(), await importer.wait()
    except BaseException:
        for proc in (maker, importer):
            if proc.returncode is None:
                proc.kill()
        raise
    if maker_code != 0:
        if import_code == 0:
            # The engine took the truncated tar for a whole one: that image must not pass for the base.
            await engine.run("rmi", "-f", ref, check=False)
        raise BaseImageError(f"{what} failed with exit code {maker_code}: {' | '.join(tail[-3:]) or 'no output'}")
    if import_code != 0:
        raise BaseImageError(
            f"Importing the base image into {engine.name} failed with exit code {import_code}: "
            f"{' | '.join(lines[-3:]) or 'no output'}"
        )
