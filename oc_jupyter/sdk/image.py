"""The declarative ``Image`` builder: an immutable recipe that becomes the wire manifest.

Every builder method validates its input at once (so a mistake points at the
line that made it), appends one :class:`Step` and returns a new ``Image``; the
original is never modified. ``to_dict()`` is the manifest the OpenComputer API
takes, and ``cache_key()`` the ``contentHash`` the server will compute for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from oc_jupyter.wire.describe import describe_step
from oc_jupyter.wire.gojson import Blob, content_hash, iter_manifest_json
from oc_jupyter.wire.validate import is_env_name, text_problem

from .localfiles import collect_dir, resolve_local

__all__ = ["Image", "Step"]


@dataclass(frozen=True)
class Step:
    """One build step: the wire ``type`` and ``args``, plus a description for people.

    ``args`` is read-only; embedded file content appears in it as
    :class:`~oc_jupyter.wire.gojson.Blob` values (base64 on the wire).
    """

    type: str
    args: Mapping[str, Any]
    description: str

    def to_dict(self) -> dict[str, Any]:
        """The step as the wire manifest carries it."""
        return {"type": self.type, "args": _plain(self.args)}


def _plain(value: Any) -> Any:
    if isinstance(value, Blob):
        return value.base64()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class FrozenDict(Mapping):
    """A read-only mapping that, unlike ``MappingProxyType``, pickles and deep-copies."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self):
        return (FrozenDict, (self._data,))


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _check_text(method: str, what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{method}: {what} must be a str, got {value!r} ({type(value).__name__}).")
    problem = text_problem(value)
    if problem and "NUL" in problem:
        raise ValueError(f"{method}: {what} {value!r} contains a NUL character, which no shell or file system accepts.")
    if problem:
        raise ValueError(f"{method}: {what} {value!r} is not valid Unicode (lone surrogate); fix the text.")
    return value


def _check_names(method: str, packages: Any) -> tuple[str, ...]:
    if isinstance(packages, str):
        example = packages.split() or ["name"]
        raise TypeError(
            f"{method} expects a list of package names, got the str {packages!r}; write {method}({example!r})."
        )
    if not isinstance(packages, Iterable) or isinstance(packages, Mapping):
        raise TypeError(f"{method} expects a list of package names, got {packages!r} ({type(packages).__name__}).")
    names = tuple(packages)
    if not names:
        raise ValueError(f"{method} needs at least one package name, got an empty list.")
    for name in names:
        _check_text(method, "package name", name)
        if not name.strip():
            raise ValueError(f"{method}: package names must not be blank, got {names!r}.")
    return names


def _check_remote(method: str, path: Any) -> str:
    _check_text(method, "remote path", path)
    if not path.startswith("/"):
        raise ValueError(
            f"{method}: remote path {path!r} must be absolute, e.g. {'/workspace/' + path.lstrip('./')!r}."
        )
    if "\n" in path or "\r" in path:
        raise ValueError(f"{method}: remote path {path!r} contains a line break; remove it.")
    return path


def _check_remote_file(method: str, path: Any) -> str:
    _check_remote(method, path)
    if path.endswith("/"):
        raise ValueError(
            f"{method}: remote path {path!r} names a folder; give the file's full path, e.g. {path + 'notes.txt'!r}."
        )
    return path


@dataclass(frozen=True, eq=False)
class Image:
    """A declarative sandbox image: a base plus an ordered tuple of steps.

    Build one with :meth:`Image.base` and chain methods::

        image = (
            Image.base()
            .apt_install(["curl", "jq"])
            .pip_install(["requests"])
            .env({"APP_ENV": "development"})
            .workdir("/workspace")
        )
    """

    base_image: str = "base"
    steps: tuple[Step, ...] = ()
    builder_memory_mb: int | None = None
    _key: list = field(default_factory=list, init=False, repr=False, compare=False)

    # ── construction ────────────────────────────────────────────────────
    @classmethod
    def base(cls) -> Image:
        """Start from the default environment: bash, Python 3 with pip, Node.js, build tools, ``/workspace``."""
        return cls()

    def _with(self, type_: str, args: dict[str, Any], local: str | None = None) -> Image:
        step = Step(type_, _frozen(args), describe_step(type_, args, local=local))
        return Image(self.base_image, (*self.steps, step), self.builder_memory_mb)

    def apt_install(self, packages: list[str]) -> Image:
        """Install system packages with ``apt-get install -y``."""
        names = _check_names("apt_install", packages)
        return self._with("apt_install", {"packages": list(names)})

    def pip_install(self, packages: list[str]) -> Image:
        """Install Python packages with ``pip install``."""
        names = _check_names("pip_install", packages)
        return self._with("pip_install", {"packages": list(names)})

    def run_commands(self, *commands: str) -> Image:
        """Run shell commands during the build, one step for all of them (joined with ``&&``)."""
        if len(commands) == 1 and isinstance(commands[0], (list, tuple)):
            raise TypeError(
                f"run_commands takes each command as its own argument, got the list {commands[0]!r}; "
                f"write run_commands(*{list(commands[0])!r})."
            )
        if not commands:
            raise ValueError("run_commands needs at least one command, got none.")
        for command in commands:
            _check_text("run_commands", "command", command)
            if not command.strip():
                raise ValueError(f"run_commands: commands must not be blank, got {commands!r}.")
        return self._with("run", {"commands": list(commands)})

    def env(self, vars: dict[str, str]) -> Image:
        """Set environment variables for every later step and every command in the sandbox."""
        if not isinstance(vars, Mapping):
            raise TypeError(f"env expects a dict of NAME: value, got {vars!r} ({type(vars).__name__}).")
        if not vars:
            raise ValueError("env needs at least one variable, got an empty dict.")
        for name, value in vars.items():
            _check_text("env", "variable name", name)
            if not is_env_name(name):
                raise ValueError(
                    f"env: variable name {name!r} is not valid; "
                    "use letters, digits and underscores, not starting with a digit."
                )
            if not isinstance(value, str):
                raise TypeError(f"env: value of {name} must be a str, got {value!r}; write {name!r}: {str(value)!r}.")
            _check_text("env", f"value of {name}", value)
        return self._with("env", {"vars": dict(vars)})

    def workdir(self, path: str) -> Image:
        """Set the default working directory (created if missing)."""
        _check_remote("workdir", path)
        return self._with("workdir", {"path": path})

    def add_file(self, remote_path: str, content: str | bytes) -> Image:
        """Embed a file with the given content (text is written as UTF-8)."""
        _check_remote_file("add_file", remote_path)
        if isinstance(content, str):
            try:
                data = content.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"add_file: content for {remote_path!r} is not valid Unicode (lone surrogate)."
                ) from exc
        elif isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
        else:
            raise TypeError(f"add_file: content must be str or bytes, got {type(content).__name__}.")
        return self._add_file(remote_path, data)

    def _add_file(self, remote_path: str, data: bytes, local: str | None = None) -> Image:
        args = {"path": remote_path, "content": Blob(data), "encoding": "base64"}
        return self._with("add_file", args, local)

    def add_local_file(
        self, local_path: str | os.PathLike, remote_path: str, *, base_dir: str | os.PathLike | None = None
    ) -> Image:
        """Embed a local file; a relative ``local_path`` starts at the notebook's folder (or ``base_dir``)."""
        _check_remote_file("add_local_file", remote_path)
        path = resolve_local(local_path, base_dir, kind="file")
        data = path.read_bytes()
        return self._add_file(remote_path, data, os.fspath(local_path))

    def add_local_dir(
        self,
        local_path: str | os.PathLike,
        remote_path: str,
        *,
        ignore: list[str] | None = None,
        base_dir: str | os.PathLike | None = None,
    ) -> Image:
        """Embed a local folder's files under ``remote_path``.

        Skips ``.git``, ``__pycache__``, ``.ipynb_checkpoints``, ``.venv`` and
        ``node_modules``, plus anything matching ``ignore`` or the folder's
        ``.ocignore`` (gitignore syntax). Files are taken in sorted order, so
        the cache key does not depend on the file system.
        """
        _check_remote("add_local_dir", remote_path)
        root = resolve_local(local_path, base_dir, kind="folder")
        files = collect_dir(root, ignore)
        entries = [{"relativePath": f.relative_path, "content": Blob(f.data)} for f in files]
        return self._with("add_dir", {"path": remote_path, "files": entries}, os.fspath(local_path))

    def builder_memory(self, mb: int) -> Image:
        """Ask for ``mb`` MB of RAM while building; not part of the cache key."""
        if not isinstance(mb, int) or isinstance(mb, bool) or mb <= 0:
            raise ValueError(f"builder_memory expects a positive number of MB, got {mb!r}.")
        return Image(self.base_image, self.steps, mb)

    # ── reading ──────────────────────────────────────────────────────────
    def to_dict(self) -> dict[str, Any]:
        """The wire manifest: ``{"base", "steps": [{"type", "args"}], "builderMemoryMB"?}``."""
        manifest: dict[str, Any] = {"base": self.base_image, "steps": [s.to_dict() for s in self.steps]}
        if self.builder_memory_mb:
            manifest["builderMemoryMB"] = self.builder_memory_mb
        return manifest

    def cache_key(self) -> str:
        """The server's ``contentHash`` for this image: SHA-256 of its Go-JSON ``{base, steps}``."""
        if not self._key:
            self._key.append(content_hash(self.base_image, ((s.type, s.args) for s in self.steps)))
        return self._key[0]

    def files(self) -> list[tuple[str, int]]:
        """Every embedded file as ``(remote path, size in bytes)``, in step order."""
        out: list[tuple[str, int]] = []
        for step in self.steps:
            if step.type == "add_file":
                out.append((step.args["path"], len(step.args["content"])))
            elif step.type == "add_dir":
                root = step.args["path"].rstrip("/")
                out.extend((f"{root}/{f['relativePath']}", len(f["content"])) for f in step.args["files"])
        return out

    def _json_pieces(self) -> Iterator[Any]:
        """The manifest as Go-JSON pieces for a streamed request body."""
        extra = {"builderMemoryMB": self.builder_memory_mb} if self.builder_memory_mb else None
        return iter_manifest_json(self.base_image, ((s.type, s.args) for s in self.steps), extra)

    # ── dunder ───────────────────────────────────────────────────────────
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self.cache_key() == other.cache_key() and self.builder_memory_mb == other.builder_memory_mb

    def __hash__(self) -> int:
        return hash(self.cache_key())

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        lines = [f"Image({self.base_image!r}, {len(self.steps)} steps, cache key {self.cache_key()[:12]})"]
        lines += [f"  {i}. {step.description}" for i, step in enumerate(self.steps, 1)]
        return "\n".join(lines)
