"""Files in a sandbox: read, write, list, make folders, delete.

Bodies stream in both directions in agent-sized chunks, so a large file is
never held whole in the server's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ..agent.errors import BadPath
from ..agent.lookup import require_key, sandbox_agent, touch
from ..agent.protocol import CHUNK
from ..models import error_responses

__all__ = ["router"]

router = APIRouter(
    prefix="/sandboxes/{sandbox_id}/files",
    tags=["files"],
    dependencies=[Depends(require_key)],
    responses=error_responses(400, 401, 404, 409, 500, 503),
)


class FileEntry(BaseModel):
    name: str
    isDir: bool
    size: int
    path: str


def checked(path: str) -> str:
    """A path the sandbox can act on: absolute and free of NUL."""
    if not path.startswith("/") or "\0" in path:
        raise BadPath(
            f"Path {path!r} must be absolute (start with /) and contain no NUL character; "
            "for example /workspace/data.csv."
        )
    return path


# The pattern documents the rule for schema-driven clients; checked() enforces it with a friendlier sentence.
_PATH = Query(description="Absolute path inside the sandbox.", json_schema_extra={"pattern": r"^/[^\x00]*$"})


@router.get("", response_class=StreamingResponse, responses={200: {"content": {"application/octet-stream": {}}}})
async def read_file(sandbox_id: str, request: Request, path: str = _PATH) -> StreamingResponse:
    """The file's raw bytes (404 when nothing is there)."""
    agent = await sandbox_agent(request, sandbox_id)
    _, chunks = await agent.open_read(checked(path))
    # No Content-Length: a file growing while it is read must not break the response.
    return StreamingResponse(chunks, media_type="application/octet-stream")


@router.put("", status_code=204)
async def write_file(sandbox_id: str, request: Request, path: str = _PATH) -> Response:
    """Write the raw request body to the file, creating parent folders."""
    agent = await sandbox_agent(request, sandbox_id)
    await agent.write(checked(path), _rechunk(request.stream()))
    touch(request, sandbox_id)
    return Response(status_code=204)


async def _rechunk(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # The server hands over the body in small pieces; a frame each would cost
    # more than the bytes, so they are gathered into agent-sized chunks.
    pending = bytearray()
    async for piece in stream:
        pending += piece
        if len(pending) >= CHUNK:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


_DELETABLE = Query(
    description="Absolute path inside the sandbox, other than the root folder.",
    json_schema_extra={"pattern": r"^/[^\x00]*[^/\x00][^\x00]*$"},
)


@router.delete("", status_code=204)
async def delete_file(sandbox_id: str, request: Request, path: str = _DELETABLE) -> Response:
    """Delete a file, or a folder with everything in it (never the root folder)."""
    agent = await sandbox_agent(request, sandbox_id)
    if not checked(path).strip("/"):
        # A recursive delete of / empties the sandbox until something busy stops it half-way.
        raise BadPath(
            f"Path {path!r} is the sandbox's root folder, which cannot be deleted; delete the files inside it."
        )
    await agent.remove(path)
    return Response(status_code=204)


@router.get("/list", response_model=list[FileEntry])
async def list_files(sandbox_id: str, request: Request, path: str = _PATH) -> list[dict[str, Any]]:
    """The entries of a folder, sorted by name."""
    agent = await sandbox_agent(request, sandbox_id)
    return await agent.list(checked(path))


@router.post("/mkdir", status_code=204)
async def make_dir(sandbox_id: str, request: Request, path: str = _PATH) -> Response:
    """Create a folder and its parents (no error if it exists)."""
    agent = await sandbox_agent(request, sandbox_id)
    await agent.mkdir(checked(path))
    return Response(status_code=204)
