"""Frames of the host ⇄ agent protocol, host side (the agent's copy is in ``_inside.py``).

A frame is ``>II`` (header length, payload length), a compact UTF-8 JSON header
and the raw payload. JSON keeps the agent stdlib-only; the binary payload keeps
file and output bytes out of JSON escaping.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

__all__ = ["CHUNK", "HEAD", "encode", "read_frame"]

HEAD = struct.Struct(">II")
# File transfers move in pieces this big: large enough to amortise a frame,
# small enough that a big file never sits whole in one buffer.
CHUNK = 256 * 1024


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return HEAD.pack(len(head), len(payload)) + head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """Read one frame; raises ``asyncio.IncompleteReadError`` at end of stream."""
    hlen, plen = HEAD.unpack(await reader.readexactly(HEAD.size))
    body = await reader.readexactly(hlen + plen)
    return json.loads(body[:hlen]), body[hlen:]
