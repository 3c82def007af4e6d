"""Reading the local files an Image embeds: where relative paths start, and which files a folder holds.

Relative paths resolve against the notebook's folder when the SDK runs in a
Jupyter kernel, because that is where a notebook's data files sit, and a
``%cd`` in an earlier cell must not change what ``copy data.csv`` means.
Jupyter tells the kernel the notebook's path in ``JPY_SESSION_NAME`` (which
ipykernel also exposes as ``__session__``); VS Code sets
``__vsc_ipynb_file__``. When only a server-relative path is known, the kernel's
start-up directory is the notebook's folder (Jupyter starts kernels there):
IPython remembers it as ``_dh[0]``, and the working directory at import is the
fallback.
Outside a kernel the current directory is used.
"""

from __future__ import annotations

import os
import stat
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from .errors import LocalFileNotFound

__all__ = [
    "DEFAULT_IGNORES",
    "LARGE_FOLDER_BYTES",
    "LargeFolderWarning",
    "LocalFile",
    "notebook_dir",
    "base_folder",
    "resolve_local",
    "collect_dir",
]

#: Folders that are never what a sandbox needs and are often huge.
DEFAULT_IGNORES = (".git/", "__pycache__/", ".ipynb_checkpoints/", ".venv/", "node_modules/")

#: Above this many bytes, ``collect_dir`` warns: the whole folder travels in the manifest.
LARGE_FOLDER_BYTES = 50 * 1024 * 1024

_START_CWD = os.getcwd()
_notebook_dir: Path | None = None
_notebook_dir_known = False


class LargeFolderWarning(UserWarning):
    """A folder added to an Image is large enough to slow every build and upload."""


@dataclass(frozen=True)
class LocalFile:
    """One file found in a local folder: its path relative to the folder (POSIX form) and its content."""

    relative_path: str
    data: bytes


def _kernel_namespace() -> dict | None:
    """The user namespace of the Jupyter kernel this process runs, or ``None`` outside one.

    Looks only at an IPython that is already imported (the SDK never imports
    it), and asks for a shell with a kernel: merely importing ipykernel, as
    notebook runners and test tools do, does not make a process a kernel.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell.user_ns


def _find_notebook_dir() -> Path | None:
    kernel_ns = _kernel_namespace()
    main_ns = kernel_ns if kernel_ns is not None else getattr(sys.modules.get("__main__"), "__dict__", {})
    candidates = [
        os.environ.get("JPY_SESSION_NAME"),
        main_ns.get("__session__"),
        main_ns.get("__vsc_ipynb_file__"),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and os.path.isabs(candidate):
            folder = Path(candidate).parent
            if folder.is_dir():
                return folder
    if kernel_ns is not None:
        # IPython records the directory it started in as ``_dh[0]``, immune to a
        # ``%cd`` run before the SDK was first imported.
        history = main_ns.get("_dh")
        start = history[0] if isinstance(history, list) and history else _START_CWD
        return Path(start)
    return None


def notebook_dir() -> Path | None:
    """The folder of the notebook this kernel serves, or ``None`` outside a kernel.

    Found once and remembered, so a later ``%cd`` does not move it.
    """
    global _notebook_dir, _notebook_dir_known  # noqa: PLW0603 -- found once per kernel process
    if not _notebook_dir_known:
        _notebook_dir = _find_notebook_dir()
        _notebook_dir_known = _notebook_dir is not None
    return _notebook_dir


def base_folder(base_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The folder relative local paths start from, and how to name it in a message."""
    if base_dir is not None:
        return Path(base_dir).expanduser().absolute(), "base_dir"
    folder = notebook_dir()
    if folder is not None:
        return folder, "the notebook's folder"
    return Path.cwd(), "the current directory"


def resolve_local(local_path: str | os.PathLike, base_dir: str | os.PathLike | None, *, kind: str) -> Path:
    """Absolute path of ``local_path``; raises :class:`LocalFileNotFound` naming where it looked.

    ``kind`` is ``"file"`` or ``"folder"`` and is checked too.
    """
    if not isinstance(local_path, (str, os.PathLike)):
        raise TypeError(f"local_path must be a str or path, got {local_path!r} ({type(local_path).__name__}).")
    raw = Path(local_path).expanduser()
    folder, where = base_folder(base_dir)
    path = raw if raw.is_absolute() else folder / raw
    shown = os.fspath(local_path)
    looked = f"looked in {folder}, {where}" if not raw.is_absolute() else "an absolute path"
    if not path.exists():
        raise LocalFileNotFound(f"Local {kind} {shown!r} not found ({looked}).")
    if kind == "file" and not path.is_file():
        raise LocalFileNotFound(f"Local path {shown!r} is not a file ({looked}); use add_local_dir for a folder.")
    if kind == "folder" and not path.is_dir():
        raise LocalFileNotFound(f"Local path {shown!r} is not a folder ({looked}); use add_local_file for a file.")
    return path


def _ignore_spec(root: Path, ignore: str | list[str] | tuple[str, ...] | None) -> pathspec.GitIgnoreSpec:
    if isinstance(ignore, str):
        ignore = [ignore]
    if ignore is not None and not all(isinstance(p, str) for p in ignore):
        raise TypeError(f"ignore must be a list of gitignore patterns (str), got {ignore!r}.")
    lines = [*DEFAULT_IGNORES, *(ignore or ())]
    ocignore = root / ".ocignore"
    if ocignore.is_file():
        lines += ocignore.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def collect_dir(root: Path, ignore: str | list[str] | tuple[str, ...] | None = None) -> list[LocalFile]:  # noqa: C901
    """Every file under ``root`` that is not ignored, sorted by relative path.

    Symlinks are followed only while they stay inside ``root``, and a folder
    reached twice (a link loop) is walked once. Warns with
    :class:`LargeFolderWarning` above :data:`LARGE_FOLDER_BYTES`.

    One walk on purpose: the symlink, loop and ignore rules decide together what is entered.
    """
    root = root.absolute()
    real_root = os.path.realpath(root)
    spec = _ignore_spec(root, ignore)
    found: list[tuple[str, str, int]] = []
    skipped_links: list[str] = []
    seen_dirs = {real_root}
    pending = [("", os.fspath(root))]
    while pending:
        rel_dir, abs_dir = pending.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except OSError as exc:
            raise LocalFileNotFound(f"Cannot read local folder {abs_dir!r} ({exc.strerror}).") from exc
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            is_link = entry.is_symlink()
            if is_link:
                real = os.path.realpath(entry.path)
                if os.path.commonpath([real_root, real]) != real_root or not os.path.exists(real):
                    skipped_links.append(rel)
                    continue
            try:
                st = entry.stat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                real = os.path.realpath(entry.path)
                if real in seen_dirs or spec.match_file(rel + "/"):
                    continue
                seen_dirs.add(real)
                pending.append((rel + "/", entry.path))
            elif stat.S_ISREG(st.st_mode) and not spec.match_file(rel):
                _check_utf8_name(rel, root)
                found.append((rel, entry.path, st.st_size))
    if skipped_links:
        warnings.warn(
            f"Skipped {len(skipped_links)} symlink(s) in {os.fspath(root)!r} that point outside it or nowhere: "
            f"{', '.join(sorted(skipped_links)[:5])}.",
            stacklevel=3,
        )
    found.sort()
    total = sum(size for _, _, size in found)
    if total > LARGE_FOLDER_BYTES:
        biggest = sorted(found, key=lambda f: -f[2])[:5]
        names = ", ".join(f"{rel} ({_mb(size)})" for rel, _, size in biggest)
        warnings.warn(
            f"Folder {os.fspath(root)!r} adds {_mb(total)} to the image, which every build uploads; "
            f"the largest files are {names}; exclude what the sandbox does not need with ignore= or a .ocignore file.",
            LargeFolderWarning,
            stacklevel=3,
        )
    files = []
    for rel, path, _ in found:
        with open(path, "rb") as handle:
            files.append(LocalFile(str(PurePosixPath(rel)), handle.read()))
    return files


def _check_utf8_name(rel: str, root: Path) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        # The manifest is JSON, which can only carry UTF-8 names.
        raw = os.fsencode(rel)
        raise ValueError(
            f"File name {raw!r} in {os.fspath(root)!r} is not valid UTF-8; rename it or exclude it with ignore=."
        ) from None


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
