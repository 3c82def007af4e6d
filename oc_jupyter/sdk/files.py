"""Reading and writing files inside a sandbox."""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import quote

from oc_jupyter.wire.validate import text_problem

from . import _http
from .errors import NotFound, PathNotFound, SandboxNotFound
from .models import EntryInfo

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["Filesystem", "Files"]


def _check_path(path: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"Sandbox paths must be str, got {path!r} ({type(path).__name__}).")
    if not path.startswith("/"):
        raise ValueError(f"Sandbox path {path!r} must be absolute, e.g. {'/workspace/' + path!r}.")
    problem = text_problem(path)
    if problem:
        raise ValueError(f"Sandbox path {path!r} {problem}; fix the path.")
    return path


class Filesystem:
    """The file system of one sandbox (``sandbox.files``); every path is absolute."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def _url(self, suffix: str = "") -> str:
        return f"/sandboxes/{quote(self._sandbox.id)}/files{suffix}"

    async def _request(self, method: str, suffix: str, path: str, **kwargs):
        try:
            return await _http.request(
                self._sandbox.config,
                method,
                self._url(suffix),
                params={"path": _check_path(path)},
                what=f"{path} in sandbox {self._sandbox.id}",
                **kwargs,
            )
        except NotFound as exc:
            explained = await self._sandbox._explain_not_found(exc)
            if isinstance(explained, SandboxNotFound):
                raise explained from None
            raise PathNotFound(
                f"No such file or folder {path!r} in sandbox {self._sandbox.id!r} ({exc}).", status=404, code=exc.code
            ) from None

    async def read(self, path: str) -> str:
        """The content of the text file at ``path`` (UTF-8; undecodable bytes become U+FFFD)."""
        return (await self.read_bytes(path)).decode("utf-8", errors="replace")

    async def read_bytes(self, path: str) -> bytes:
        """The raw content of the file at ``path``."""
        return (await self._request("GET", "", path)).content

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """The content of the text file at ``path`` in ``encoding``, failing on bytes that do not decode."""
        return (await self.read_bytes(path)).decode(encoding)

    async def write(self, path: str, content: str | bytes | AsyncIterator[bytes]) -> None:
        """Write ``content`` to ``path``, creating parent folders, replacing any file there.

        Text is written as UTF-8; an async iterator of ``bytes`` is streamed,
        so a large file need not fit in memory.
        """
        headers = {"Content-Type": "application/octet-stream"}
        if isinstance(content, str):
            await self._request("PUT", "", path, content=content.encode("utf-8"), headers=headers)
        elif isinstance(content, (bytes, bytearray, memoryview)):
            await self._request("PUT", "", path, content=bytes(content), headers=headers)
        elif isinstance(content, AsyncIterable):
            # A stream cannot be sent twice, so this request is never retried.
            await self._request("PUT", "", path, content=content, headers=headers, idempotent=False)
        else:
            raise TypeError(
                f"files.write expects str, bytes or an async iterator of bytes, got {type(content).__name__}."
            )

    async def list(self, path: str = "/") -> list[EntryInfo]:
        """The entries of the folder at ``path``."""
        response = await self._request("GET", "/list", path)
        return _http.decode(response, self._sandbox.config, EntryInfo, many=True, what=f"list {path}")

    async def make_dir(self, path: str) -> None:
        """Create the folder ``path`` and its parents."""
        await self._request("POST", "/mkdir", path, idempotent=True)

    async def remove(self, path: str) -> None:
        """Delete the file or folder at ``path``."""
        await self._request("DELETE", "", path)

    async def exists(self, path: str) -> bool:
        """Whether something exists at ``path``."""
        _check_path(path)
        parent, name = posixpath.split(posixpath.normpath(path))
        if not name:
            return True
        try:
            entries = await self.list(parent)
        except NotFound as exc:
            if isinstance(exc, SandboxNotFound):
                raise
            return False
        return any(entry.name == name for entry in entries)


#: The earlier name of :class:`Filesystem`.
Files = Filesystem
