"""What the browser may see of SDK records: an explicit allow-list of fields.

Snapshot manifests (file contents) and sandbox ``envs``/``metadata`` (which
may carry secrets) are never sent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["preview_ports", "sandbox_payload", "snapshot_payload"]


def _first(record: Any, *keys: str) -> Any:
    for key in keys:
        value = record.get(key)
        if value not in (None, ""):
            return value
    return None


def snapshot_payload(info: Any) -> dict[str, Any]:
    return {
        "name": info.get("name"),
        "status": info.get("status") or "unknown",
        "contentHash": info.get("contentHash"),
        "createdAt": info.get("createdAt"),
        "lastUsedAt": info.get("lastUsedAt"),
        "error": _first(info, "error", "reason", "message"),
    }


def preview_ports(previews: Any) -> list[int]:
    """The port numbers of a preview URL list, sorted; hostnames and tokens stay on the server."""
    if not isinstance(previews, list):
        return []
    return sorted({p["port"] for p in previews if isinstance(p, dict) and _number(p.get("port"))})


def sandbox_payload(info: Any, ports: list[int] | None = None) -> dict[str, Any]:
    return {
        "id": info.get("sandboxID"),
        "status": info.get("status") or "unknown",
        "madeFrom": made_from(info),
        "createdAt": _first(info, "createdAt", "startedAt"),
        # Limits are plain numbers and a flag: nothing secret, shown as the panel's limits column.
        "memoryMB": _number(info.get("memoryMB")),
        "cpuCount": _number(info.get("cpuCount")),
        "networkEnabled": info.get("networkEnabled") if isinstance(info.get("networkEnabled"), bool) else None,
        "diskUsedMB": _number(info.get("diskUsedMB")),
        # Opened through the Jupyter server's proxy path, never the backend's preview hostname.
        "ports": list(ports or []),
    }


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def made_from(info: Any) -> str | None:
    """``snapshot NAME``, ``image <hash>`` or ``template NAME``: what the sandbox runs."""
    snapshot = _first(info, "snapshot", "snapshotName")
    if snapshot:
        return f"snapshot {snapshot}"
    content_hash = info.get("contentHash")
    if isinstance(content_hash, str) and content_hash:
        return f"image {content_hash.removeprefix('sha256:')[:12]}"
    image = info.get("image")
    if isinstance(image, str) and image:
        return f"image {image.rsplit('/', 1)[-1]}"
    template = info.get("templateID")
    return f"template {template}" if template else None
