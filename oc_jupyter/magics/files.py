"""``%oc_upload`` and ``%oc_download``: files and folders between the notebook's folder and a sandbox.

Bytes stream in both directions in bounded chunks, so a large file never sits
whole in the kernel's memory: an upload hands the SDK an async iterator over
the local file, a download reads a signed URL of the file chunk by chunk into a
temporary file beside the target, renamed into place only once complete.

Names that come from the sandbox are untrusted. A download keeps every file
inside the local target: a name that is empty, ``.``, ``..`` or holds a slash
or NUL is refused, sandbox symlinks are skipped (never followed, never made),
and no local folder on the way may be a symlink.
"""

from __future__ import annotations

import asyncio
import functools
import os
import posixpath
import shlex
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..untrusted import one_line
from .state import Target

__all__ = ["PROGRESS_ABOVE", "FileMagics", "RemoteEntry", "safe_relative"]

#: Transfers larger than this many bytes show a progress bar.
PROGRESS_ABOVE = 5 * 1024 * 1024
CHUNK = 1024 * 1024
#: Files sent or fetched at once when a folder travels.
PARALLEL = 4


@dataclass(frozen=True)
class RemoteEntry:
    """One regular file of a sandbox folder: its path relative to that folder and its size."""

    relative: str
    size: int


def safe_relative(relative: str) -> str | None:
    """``relative`` if every part of it is a plain name, else ``None`` (it could leave the target)."""
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return relative


def _remote_path(text: str, what: str) -> str:
    if "\x00" in text:
        raise UsageError(
            f"{what} {text!r} contains a NUL character; give a plain absolute path such as /workspace/data."
        )
    if not text.startswith("/"):
        raise UsageError(f"{what} {text!r} must be absolute (start with /), for example /workspace/{text}.")
    return text


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


class _Progress:
    """A progress bar for one transfer: an ipywidgets bar with a front end, else a text line."""

    def __init__(self, total: int, title: str) -> None:
        from ..widgets.mode import widgets_enabled

        self.total, self.title, self.done = max(total, 1), title, 0
        self._shown = total > PROGRESS_ABOVE
        self._bar: Any = None
        self._label: Any = None
        self._last = 0.0
        if not self._shown:
            return
        if widgets_enabled():
            import ipywidgets
            from IPython.display import display

            self._bar = ipywidgets.IntProgress(value=0, min=0, max=self.total, description="")
            self._label = ipywidgets.Label(value=f"{title}: 0%")
            display(ipywidgets.HBox([self._bar, self._label]))

    def add(self, count: int) -> None:
        self.done += count
        if not self._shown:
            return
        now = time.monotonic()
        if now - self._last < 0.25 and self.done < self.total:
            return
        self._last = now
        percent = min(100, self.done * 100 // self.total)
        text = f"{self.title}: {percent}% ({_mb(self.done)} of {_mb(self.total)})"
        if self._bar is not None and self._label is not None:
            self._bar.value = min(self.done, self.total)
            self._label.value = text
        else:
            sys.stdout.write(f"\r{text}")
            sys.stdout.flush()

    def finish(self) -> None:
        if self._shown and self._bar is None:
            sys.stdout.write("\n")
            sys.stdout.flush()
        elif self._bar is not None:
            self._bar.value = self.total


# ---------------------------------------------------------------- local side


def _local_tree(root: Path) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """Every regular file under ``root`` as (relative POSIX path, absolute path, size), and every folder.

    Symlinks are followed only while they stay inside ``root``; a folder reached twice is walked once.
    """
    real_root = os.path.realpath(root)
    found: list[tuple[str, Path, int]] = []
    folders: list[str] = []
    seen = {real_root}
    pending = [("", root)]
    while pending:
        rel_dir, folder = pending.pop()
        for entry in os.scandir(folder):
            rel = f"{rel_dir}{entry.name}"
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if os.path.commonpath([real_root, real]) != real_root or not os.path.exists(real):
                    continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                real = os.path.realpath(entry.path)
                if real not in seen:
                    seen.add(real)
                    folders.append(rel)
                    pending.append((rel + "/", Path(entry.path)))
            elif stat.S_ISREG(st.st_mode):
                found.append((rel, Path(entry.path), st.st_size))
    found.sort()
    return found, sorted(folders)


def _parents(relative: str) -> list[str]:
    """``a/b/c`` → ``["a", "a/b"]``."""
    parts = relative.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


async def _read_chunks(path: Path, progress: _Progress) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while True:
            chunk = await asyncio.to_thread(handle.read, CHUNK)
            if not chunk:
                return
            progress.add(len(chunk))
            yield chunk
    finally:
        handle.close()


def _make_dirs(root: Path, relative_dir: str) -> Path:
    """Create ``root/relative_dir`` one part at a time, refusing any part that is a symlink or a file."""
    here = root
    for part in [p for p in relative_dir.split("/") if p]:
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here)
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UsageError(
                f"Local path {os.fspath(here)!r} is a symlink or a file where a folder is needed; "
                "move it away or download into another folder."
            )
    return here


# ---------------------------------------------------------------- sandbox side


async def _remote_kind(sandbox, path: str) -> str | None:
    """``"dir"``, ``"file"`` or ``None`` (nothing there) for ``path`` in ``sandbox``."""
    from ..sdk import errors

    normal = posixpath.normpath(path)
    if normal == "/":
        return "dir"
    parent, name = posixpath.split(normal)
    try:
        entries = await sandbox.files.list(parent)
    except errors.NotFound as exc:
        if isinstance(exc, errors.SandboxNotFound):
            raise
        return None
    for entry in entries:
        if entry.name == name:
            return "dir" if entry.is_dir else "file"
    return None


# GNU find prints each entry's type, size and path below the folder, NUL-separated,
# in one call: far faster than a listing per folder, and it tells symlinks apart.
_FIND = "find {root} -mindepth 1 -printf '%y %s %P\\0'"


async def _remote_tree(sandbox, root: str) -> tuple[list[RemoteEntry], list[str], int]:
    """The regular files under ``root`` in the sandbox, the relative folders, and how many names were skipped."""
    result = await sandbox.commands.run(_FIND.format(root=shlex.quote(root)), timeout=120)
    if result.exit_code == 0:
        files, folders, skipped = [], [], 0
        for record in result.stdout.split("\0"):
            if not record:
                continue
            kind, _, rest = record.partition(" ")
            size, _, rel = rest.partition(" ")
            if safe_relative(rel) is None or "\ufffd" in rel or not size.isdigit():
                skipped += 1
                continue
            if kind == "f":
                files.append(RemoteEntry(rel, int(size)))
            elif kind == "d":
                folders.append(rel)
            else:
                skipped += 1  # symlinks, devices, sockets: never followed, never made
        return files, folders, skipped
    return await _listed_tree(sandbox, root)


async def _listed_tree(sandbox, root: str) -> tuple[list[RemoteEntry], list[str], int]:
    # Without GNU find, one listing per folder; a listing cannot tell a symlinked
    # folder apart, so each folder is walked once and never deeper than 64 levels.
    files, folders, skipped = [], [], 0
    pending = [("", root, 0)]
    while pending:
        rel_dir, folder, depth = pending.pop()
        for entry in await sandbox.files.list(folder):
            rel = f"{rel_dir}{entry.name}"
            if safe_relative(rel) is None or "/" in entry.name:
                skipped += 1
                continue
            if entry.is_dir:
                if depth >= 64:
                    skipped += 1
                    continue
                folders.append(rel)
                pending.append((rel + "/", posixpath.join(folder, entry.name), depth + 1))
            else:
                files.append(RemoteEntry(rel, entry.size))
    return files, folders, skipped


async def _fetch(sandbox, remote: str, target: Path, progress: _Progress) -> int:
    """Stream ``remote`` into ``target`` through a temporary file beside it; the byte count."""
    import httpx

    url = await sandbox.download_url(remote, expires_in=600)
    # Kept open by the ``with`` below; its name outlives it, for the rename or the clean-up.
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        dir=target.parent,
        prefix=f".{target.name[:60]}.",
        suffix=".part",
        delete=False,
    )
    written = 0
    try:
        with handle:
            try:
                async with (
                    httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client,
                    client.stream("GET", url) as response,
                ):
                    if response.status_code >= 400:
                        await response.aread()
                        raise _TransferError(
                            f"{remote}: the backend answered {response.status_code} {one_line(response.text[:200])!r}"
                        )
                    async for chunk in response.aiter_bytes(CHUNK):
                        await asyncio.to_thread(handle.write, chunk)
                        written += len(chunk)
                        progress.add(len(chunk))
            except httpx.HTTPError as exc:
                # Named by its kind only: the signed URL in httpx's message is a credential.
                raise _TransferError(f"{remote}: the connection failed ({type(exc).__name__})") from None
        os.chmod(handle.name, 0o666 & ~_UMASK)  # what a plain open() would have made
        os.replace(handle.name, target)
    except BaseException:
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise
    return written


def _read_umask() -> int:
    # Read once at import: setting the umask to read it races with threads creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class _TransferError(Exception):
    pass


async def _bounded(jobs: list[Callable[[], object]]) -> list:
    gate = asyncio.Semaphore(PARALLEL)

    async def one(job):
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


# ---------------------------------------------------------------- magics


@magics_class
class FileMagics(Magics):
    """Copy files and folders between the notebook's folder and a sandbox."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state

    def _sandbox(self, sandbox_id: str | None):
        if sandbox_id:
            return self.state.ensure_awake(self.state.connect(sandbox_id))
        if self.state.current is not None:
            target = Target("sandbox", self.state.current.id, f"sandbox {self.state.current.id}")
        else:
            base = self.state.settings.default_base
            target = Target("base", base, "the base image" if base == "base" else f"base {base}")
        return self.state.sandbox_for(target)

    def _run(self, sandbox, coro, what: str):
        from ..sdk import errors, sync

        try:
            return sync.run(coro)
        except errors.SandboxNotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox.id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except (errors.OCError, _TransferError, OSError) as exc:
            raise UsageError(f"Could not {what}: {exc}") from None

    @line_magic
    @magic_arguments()
    @argument("local", help="A local file or folder, relative to the notebook's folder.")
    @argument("remote", help="Where it goes in the sandbox: an absolute path such as /workspace/data.")
    @argument("--sandbox", metavar="ID", help="The sandbox (default: the one %%oc_run uses, see %%oc_sandbox use).")
    def oc_upload(self, line):
        """Copy a local file or folder into a sandbox.

        ::

            %oc_upload data.csv /workspace/data.csv    # a file
            %oc_upload data.csv /workspace/            # into an existing folder (keeps the name)
            %oc_upload data /workspace/data            # a folder and everything in it
            %oc_upload data /workspace/data --sandbox ID

        LOCAL is relative to the notebook's folder (a ``%cd`` does not move
        it). Without --sandbox the file goes to the sandbox ``%oc_run`` would
        use: the current one (``%oc_sandbox use ID``), else the base image's.
        Files replace what is at the same path; a folder's symlinks that point
        outside it are skipped. Large files stream, with a progress bar above
        5 MB, and a summary line says what went where.
        """
        from ..sdk.localfiles import base_folder

        args = parse_argstring(self.oc_upload, line)
        remote = _remote_path(args.remote, "REMOTE")
        folder, where = base_folder()
        raw = Path(args.local).expanduser()
        local = raw if raw.is_absolute() else folder / raw
        if not local.exists():
            looked = "an absolute path" if raw.is_absolute() else f"looked in {folder}, {where}"
            raise UsageError(f"Local path {args.local!r} not found ({looked}); check the name, e.g. with %ls.")
        folders: list[str] = []
        if local.is_dir():
            items, folders = _local_tree(local)
        elif local.is_file():
            items = [("", local, local.stat().st_size)]
        else:
            raise UsageError(f"Local path {args.local!r} is neither a file nor a folder; upload a regular file.")
        sandbox = self._sandbox(args.sandbox)
        kind = self._run(sandbox, _remote_kind(sandbox, remote), f"look at {remote} in sandbox {sandbox.id}")
        if local.is_dir():
            if kind == "file":
                raise UsageError(
                    f"{remote!r} in sandbox {sandbox.id} is a file, but {args.local!r} is a folder; "
                    f"give a folder path such as {posixpath.join(posixpath.dirname(remote), local.name)}/."
                )
            destination = remote.rstrip("/") or "/"
        elif kind == "dir" or remote.endswith("/"):
            destination = posixpath.join(remote, local.name)
        else:
            destination = remote
        total = sum(size for _, _, size in items)
        progress = _Progress(total, f"Uploading {local.name}")
        started = time.perf_counter()

        async def send_all():
            if local.is_dir():
                await sandbox.files.make_dir(destination)
                # Folders that hold files are made by their writes; only the empty ones need asking.
                holding = {posixpath.dirname(rel) for rel, _, _ in items}
                holding |= {part for rel in list(holding) for part in _parents(rel)}
                empty = [rel for rel in folders if rel not in holding]
                await _bounded(
                    [functools.partial(sandbox.files.make_dir, posixpath.join(destination, rel)) for rel in empty]
                )

            def job(rel, path):
                target = posixpath.join(destination, rel) if rel else destination
                return lambda: sandbox.files.write(target, _read_chunks(path, progress))

            await _bounded([job(rel, path) for rel, path, _ in items])

        self._run(sandbox, send_all(), f"upload {args.local!r} to {destination} in sandbox {sandbox.id}")
        progress.finish()
        elapsed = time.perf_counter() - started
        print(f"Uploaded {_files(len(items))}, {_mb(total)}, to {sandbox.id}:{destination} in {elapsed:.1f} s")

    @line_magic
    @magic_arguments()
    @argument("remote", help="A file or folder in the sandbox: an absolute path such as /workspace/out.")
    @argument(
        "local",
        nargs="?",
        help="Where it goes locally, relative to the notebook's folder (default: its name, in the notebook's folder).",
    )
    @argument("--sandbox", metavar="ID", help="The sandbox (default: the one %%oc_run uses, see %%oc_sandbox use).")
    def oc_download(self, line):  # noqa: C901 -- a magic's argument checks and its file and folder cases, in order
        """Copy a file or folder from a sandbox into the notebook's folder.

        ::

            %oc_download /workspace/out.csv             # to out.csv beside the notebook
            %oc_download /workspace/out.csv results/    # into an existing local folder
            %oc_download /workspace/results results     # a folder, into ./results
            %oc_download /workspace/out.csv --sandbox ID

        LOCAL is relative to the notebook's folder. Each file is written to a
        temporary file and renamed into place once complete, so a failed
        download leaves no half-written file. The sandbox's names are not
        trusted: names that would leave LOCAL and the sandbox's symlinks are
        skipped (and counted in the summary line).
        """
        from ..sdk.localfiles import base_folder

        args = parse_argstring(self.oc_download, line)
        remote = _remote_path(args.remote, "REMOTE")
        name = posixpath.basename(posixpath.normpath(remote))
        folder, _ = base_folder()
        if args.local:
            raw = Path(args.local).expanduser()
            local = raw if raw.is_absolute() else folder / raw
        else:
            if name in ("", "/"):
                raise UsageError(
                    "Downloading the sandbox's root folder needs a LOCAL folder to put it in, "
                    "for example %oc_download / sandbox_root."
                )
            local = folder / name
        sandbox = self._sandbox(args.sandbox)
        kind = self._run(sandbox, _remote_kind(sandbox, remote), f"look at {remote} in sandbox {sandbox.id}")
        if kind is None:
            raise UsageError(
                f"Nothing at {remote!r} in sandbox {sandbox.id}; list the folder with "
                f"%oc_run --sandbox {sandbox.id} -- ls -la {shlex.quote(posixpath.dirname(remote) or '/')}."
            )
        started = time.perf_counter()
        if kind == "file":
            if local.is_dir() and not local.is_symlink():
                local = local / name
            elif args.local and args.local.endswith(("/", os.sep)):
                raise UsageError(
                    f"Local folder {args.local!r} does not exist; create it first or leave off the "
                    "trailing slash to name the file."
                )
            if local.is_symlink() or (local.exists() and not local.is_file()):
                raise UsageError(
                    f"Local path {os.fspath(local)!r} is a symlink or not a regular file; "
                    "remove it or choose another LOCAL."
                )
            if not local.parent.is_dir():
                raise UsageError(f"Local folder {os.fspath(local.parent)!r} does not exist; create it first.")
            size = 0
            for entry in self._run(
                sandbox, sandbox.files.list(posixpath.dirname(posixpath.normpath(remote))), f"look at {remote}"
            ):
                if entry.name == name:
                    size = entry.size
            progress = _Progress(size, f"Downloading {name}")
            total = self._run(
                sandbox, _fetch(sandbox, remote, local, progress), f"download {remote} from sandbox {sandbox.id}"
            )
            progress.finish()
            elapsed = time.perf_counter() - started
            print(
                f"Downloaded 1 file, {_mb(total)}, from {sandbox.id}:{remote} to {os.fspath(local)} in {elapsed:.1f} s"
            )
            return
        if local.is_symlink() or (local.exists() and not local.is_dir()):
            raise UsageError(
                f"Local path {os.fspath(local)!r} is a file or a symlink, but {remote!r} is a folder; "
                "choose a folder name for LOCAL."
            )
        if not local.parent.is_dir():
            raise UsageError(f"Local folder {os.fspath(local.parent)!r} does not exist; create it first.")
        files, folders, skipped = self._run(
            sandbox, _remote_tree(sandbox, remote), f"list {remote} in sandbox {sandbox.id}"
        )
        local.mkdir(exist_ok=True)
        for rel in sorted(folders):
            _make_dirs(local, rel)
        total = sum(entry.size for entry in files)
        progress = _Progress(total, f"Downloading {name or 'files'}")
        root = remote.rstrip("/") or "/"

        def job(entry: RemoteEntry):
            parent, _, base = entry.relative.rpartition("/")
            target = _make_dirs(local, parent) / base
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise UsageError(
                    f"Local path {os.fspath(target)!r} is a symlink or a folder where {entry.relative!r} "
                    "would go; move it away or download into another folder."
                )
            return lambda: _fetch(sandbox, posixpath.join(root, entry.relative), target, progress)

        jobs = [job(entry) for entry in files]
        sizes = self._run(sandbox, _bounded(jobs), f"download {remote} from sandbox {sandbox.id}")
        progress.finish()
        elapsed = time.perf_counter() - started
        note = f" (skipped {skipped} symlink(s) or unsafe name(s))" if skipped else ""
        print(
            f"Downloaded {_files(len(files))}, {_mb(sum(sizes))}, from {sandbox.id}:{remote} to "
            f"{os.fspath(local)} in {elapsed:.1f} s{note}"
        )
