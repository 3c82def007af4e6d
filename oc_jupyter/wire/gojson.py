"""Go ``encoding/json`` serialisation of manifests and the content hash built on it.

The OpenComputer server caches images by ``contentHash``: the SHA-256 of the
manifest's ``{"base", "steps"}`` encoded the way Go's ``encoding/json``
marshals it. ``json.dumps`` differs from Go in three ways that change the
bytes, so they are patched here:

* Go escapes ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026``
  (HTML safety) and U+2028/U+2029 (JavaScript safety);
* Go writes other non-ASCII characters as raw UTF-8 (``ensure_ascii=False``);
* Go marshals ``map[string]any`` with keys sorted, but a struct's fields in
  declaration order: the manifest is ``base, steps`` and a step ``type, args``,
  while every object inside ``args`` is a map, hence sorted.

Embedded files are :class:`Blob` values. The encoder yields them as they are
instead of as base64 text, so that hashing and uploading can stream their
base64 form in slices rather than hold a second, 4/3-sized copy of every file.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "Blob",
    "go_json",
    "go_string",
    "iter_json",
    "iter_manifest_json",
    "content_hash",
    "body_length",
    "iter_body_bytes",
]

# A multiple of 3, so slices encode to base64 with no padding in the middle.
_SLICE = 3 * 256 * 1024

_GO_ONLY_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


class Blob:
    """File content embedded in a manifest; encoded as a base64 JSON string."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blob) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"<{len(self.data)} bytes>"

    def base64(self) -> str:
        """The content as the base64 text the wire format carries."""
        return binascii.b2a_base64(self.data, newline=False).decode("ascii")

    def encoded_length(self) -> int:
        """Length in bytes of the quoted base64 JSON string, without encoding it."""
        return 2 + 4 * ((len(self.data) + 2) // 3)

    def iter_encoded(self) -> Iterator[bytes]:
        """The quoted base64 JSON string, in slices of bounded size."""
        yield b'"'
        view = memoryview(self.data)
        for start in range(0, len(view), _SLICE):
            yield binascii.b2a_base64(view[start : start + _SLICE], newline=False)
        yield b'"'


def go_string(value: str) -> str:
    """A JSON string literal exactly as Go's ``encoding/json`` writes it."""
    return json.dumps(value, ensure_ascii=False).translate(_GO_ONLY_ESCAPES)


def iter_json(value: Any) -> Iterator[str | Blob]:
    """``value`` as Go-JSON pieces: text, and :class:`Blob` s left for the consumer to encode."""
    if isinstance(value, str):
        yield go_string(value)
    elif isinstance(value, Blob):
        yield value
    elif value is None or isinstance(value, bool):
        yield json.dumps(value)
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, float):
        # Go writes integral floats without a fraction; manifests carry none,
        # but keep the two encoders from disagreeing if one ever appears.
        yield str(int(value)) if value.is_integer() and abs(value) < 1e21 else json.dumps(value)
    elif hasattr(value, "_json_pieces"):
        # An Image inside a request body: its manifest keeps its own key order.
        yield from value._json_pieces()
    elif isinstance(value, Mapping):
        yield from _iter_object(value)
    elif isinstance(value, (list, tuple)):
        yield from _iter_array(value)
    else:
        raise TypeError(f"Cannot encode {value!r} ({type(value).__name__}) in a manifest.")


def _iter_object(value: Mapping[Any, Any]) -> Iterator[str | Blob]:
    """A map as Go marshals ``map[string]any``: keys sorted."""
    yield "{"
    for i, key in enumerate(sorted(value)):
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, got {key!r}.")
        yield ("," if i else "") + go_string(key) + ":"
        yield from iter_json(value[key])
    yield "}"


def _iter_array(value: list[Any] | tuple[Any, ...]) -> Iterator[str | Blob]:
    yield "["
    for i, item in enumerate(value):
        if i:
            yield ","
        yield from iter_json(item)
    yield "]"


def iter_manifest_json(
    base: str, steps: Iterable[tuple[str, Mapping[str, Any]]], extra: Mapping[str, Any] | None = None
) -> Iterator[str | Blob]:
    """A manifest as Go encodes it, as text pieces and :class:`Blob` s.

    ``steps`` holds ``(type, args)`` pairs; ``extra`` keys (not hashed, such as
    ``builderMemoryMB``) follow ``steps``.
    """
    yield '{"base":' + go_string(base) + ',"steps":['
    for i, (type_, args) in enumerate(steps):
        yield ("," if i else "") + '{"type":' + go_string(type_) + ',"args":'
        yield from iter_json(args)
        yield "}"
    yield "]"
    for key, value in (extra or {}).items():
        yield "," + go_string(key) + ":"
        yield from iter_json(value)
    yield "}"


def _bytes_of(pieces: Iterable[str | Blob]) -> Iterator[bytes]:
    """Pieces as UTF-8 bytes, coalescing small text so a consumer sees few, large chunks."""
    pending: list[str] = []
    size = 0
    for piece in pieces:
        if isinstance(piece, Blob):
            if pending:
                yield "".join(pending).encode("utf-8")
                pending, size = [], 0
            yield from piece.iter_encoded()
        else:
            pending.append(piece)
            size += len(piece)
            if size >= _SLICE:
                yield "".join(pending).encode("utf-8")
                pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")


def go_json(value: Any) -> str:
    """Encode ``value`` as compact Go-style JSON (objects with sorted keys)."""
    return "".join(p.base64().join('""') if isinstance(p, Blob) else p for p in iter_json(value))


def content_hash(base: str, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """Lowercase hex SHA-256 of the manifest's Go JSON, equal to the server's ``contentHash``."""
    digest = hashlib.sha256()
    for chunk in _bytes_of(iter_manifest_json(base, steps)):
        digest.update(chunk)
    return digest.hexdigest()


def iter_body_bytes(pieces: Iterable[str | Blob]) -> Iterator[bytes]:
    """Bytes of a request body made of text pieces and blobs, in bounded slices."""
    return _bytes_of(pieces)


def body_length(pieces: Iterable[str | Blob]) -> int:
    """Byte length of :func:`iter_body_bytes` of the same pieces, computed without encoding blobs."""
    return sum(p.encoded_length() if isinstance(p, Blob) else len(p.encode("utf-8")) for p in pieces)
