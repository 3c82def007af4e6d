"""The one human description of a build step, as the SDK's ``Image``, the widgets and the build log show it.

Descriptions use the SDK's vocabulary (``apt_install curl``, ``add_file
/etc/app.conf (12 B)``) so a step reads the same in an ``Image`` repr, a
snapshot summary and a ``Step i/N:`` log line. They are built from the wire
``(type, args)`` alone; embedded file content counts only by its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .gojson import Blob

__all__ = ["describe_step", "human_size", "content_size", "clip"]


def human_size(n: int) -> str:
    """``n`` bytes for people: 512 B, 3.4 KB, 12.0 MB."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def content_size(content: Any) -> int:
    """Byte size of embedded content: a :class:`Blob`, or the base64 text of the wire."""
    if isinstance(content, Blob):
        return len(content)
    text = str(content or "")
    return max(len(text) * 3 // 4 - text[-2:].count("="), 0)


def clip(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis; ``None`` keeps it whole."""
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe_step(
    type_: str, args: Mapping[str, Any] | Any, *, local: str | None = None, limit: int | None = None
) -> str:
    """``type_`` and ``args`` as one line; ``local`` names the local file or folder an add step came from."""
    args = args if isinstance(args, Mapping) else {}
    if type_ in ("apt_install", "pip_install"):
        text = f"{type_} " + " ".join(map(str, args.get("packages") or []))
    elif type_ == "run":
        text = "run " + " && ".join(map(str, args.get("commands") or []))
    elif type_ == "env":
        text = "env " + " ".join(f"{k}={v}" for k, v in (args.get("vars") or {}).items())
    elif type_ == "workdir":
        text = f"workdir {args.get('path', '')}"
    elif type_ == "add_file":
        size = human_size(content_size(args.get("content")))
        path = args.get("path", "")
        text = f"add_local_file {local} -> {path} ({size})" if local else f"add_file {path} ({size})"
    elif type_ == "add_dir":
        files = [f for f in args.get("files") or [] if isinstance(f, Mapping)]
        total = human_size(sum(content_size(f.get("content")) for f in files))
        path = str(args.get("path", ""))
        where = f"{local} -> {path}" if local else path.rstrip("/") or "/"
        text = f"add_dir {where} ({_plural(len(files), 'file')}, {total})"
    else:
        text = str(type_)
    return clip(text, limit)
