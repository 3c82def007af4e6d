"""The build cache: the engine volumes build steps share, and the budget on layer images.

Two kinds of cache, kept apart on purpose:

* **Download caches** (pip's wheels and HTTP responses, apt's ``.deb`` archives
  and package lists) live in engine volumes mounted into build-step containers
  only. A volume's mount point is outside the container's own file system, so
  ``commit`` never puts the cache into a layer, and they only save downloads:
  what a step installs is still decided by its manifest (the layer cache key).
* **Layer images** (``<repository>:<hash of steps[:i]>``) are evicted least
  recently used once their own sizes add up past the budget.

Eviction removes a layer image's *tag*. The engine keeps every layer that
another image (a child layer, a snapshot, a sandbox's container) still stands
on, so removing an intermediate tag never breaks an image built on top of it;
it only means a later build of that prefix runs the step again. What must keep
its tag is what is started or built from by name: a ready snapshot's final
layer, the image of every sandbox this server keeps, and every layer of a
build in progress (pinned by the builder). The engine itself refuses to remove
an image a container (a warm one, say) still uses; such an image is kept.

Last use is propagated to every prefix of a manifest, so a parent is never less
recently used than its children and is evicted after them: removing a parent
tag first would free nothing while a child holds its layers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .engine import Engine
from .limits import _storage_root
from .store import Store, parse_time, utcnow

__all__ = [
    "CACHE_LABEL",
    "DEFAULT_LAYER_REPOSITORY",
    "LayerCache",
    "budget_bytes",
    "cache_volume",
    "ensure_cache_volumes",
    "layer_repository",
]

log = logging.getLogger(__name__)

DEFAULT_LAYER_REPOSITORY = "localhost/oc-jupyter/layer"
DEFAULT_VOLUME_PREFIX = "oc-jupyter-cache"
CACHE_LABEL = "oc-jupyter.cache"
GB = 1_000_000_000
#: The default budget: this share of the engine storage's disk, at most :data:`MAX_DEFAULT_GB`.
DEFAULT_SHARE = 0.10
MAX_DEFAULT_GB = 20.0
#: Volume kind -> where build steps see it.
VOLUMES = {
    "pip": "/root/.cache/pip",
    "apt-archives": "/var/cache/apt/archives",
    "apt-lists": "/var/lib/apt/lists",
}


def layer_repository() -> str:
    """Where layer images are tagged; ``OC_JUPYTER_LAYER_REPOSITORY`` gives one engine several separate caches."""
    return os.environ.get("OC_JUPYTER_LAYER_REPOSITORY", "").strip() or DEFAULT_LAYER_REPOSITORY


def cache_volume(kind: str) -> str:
    """The engine volume name of one download cache (``OC_JUPYTER_CACHE_VOLUMES`` sets the prefix)."""
    prefix = os.environ.get("OC_JUPYTER_CACHE_VOLUMES", "").strip() or DEFAULT_VOLUME_PREFIX
    return f"{prefix}-{kind}"


def volume_args(*kinds: str) -> list[str]:
    """``-v`` arguments mounting the named download caches at their places."""
    return [a for kind in kinds for a in ("-v", f"{cache_volume(kind)}:{VOLUMES[kind]}")]


_volumes_ready: set[tuple[str, str]] = set()
_volumes_lock = asyncio.Lock()


async def ensure_cache_volumes(engine: Engine) -> None:
    """Create the cache volumes once per engine, so concurrent first builds do not race to create them."""
    async with _volumes_lock:
        for kind in VOLUMES:
            name = cache_volume(kind)
            if (engine.binary, name) in _volumes_ready:
                continue
            if not (await engine.run("volume", "inspect", name, check=False)).ok:
                await engine.run("volume", "create", "--label", f"{CACHE_LABEL}=1", name, check=False)
            _volumes_ready.add((engine.binary, name))


class BudgetError(ValueError):
    pass


async def budget_bytes(engine: Engine) -> int:
    """``OC_JUPYTER_CACHE_MAX_GB`` in bytes, else min(20 GB, 10% of the disk holding the engine's storage)."""
    raw = os.environ.get("OC_JUPYTER_CACHE_MAX_GB", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not (value >= 0 and math.isfinite(value)):
            raise BudgetError(
                f"OC_JUPYTER_CACHE_MAX_GB must be a number of gigabytes (0 or more), not {raw!r}; "
                "set it to, say, 10, or unset it for the default."
            )
        return int(value * GB)
    root = await _storage_root(engine)
    if root is None:
        return int(MAX_DEFAULT_GB * GB)
    return int(min(MAX_DEFAULT_GB * GB, shutil.disk_usage(root).total * DEFAULT_SHARE))


@dataclass
class Layer:
    ref: str
    image_id: str
    size: int
    last_used_at: str
    depth: int = 0
    needed: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "image": self.ref,
            "id": self.image_id[:12],
            "sizeBytes": self.size,
            "lastUsedAt": self.last_used_at,
            "needed": self.needed,
        }


class LayerCache:
    """Lists and evicts this engine's layer images within the budget."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        store: Store,
        pinned: Callable[[], set[str]],
        forget: Callable[[str], Any],
        guard: asyncio.Lock,
    ) -> None:
        self._engine = engine
        self._store = store
        self._pinned = pinned
        self._forget = forget
        # Held by the builder while it decides which layers it can start from,
        # so a tag it found is not removed before it pins the build.
        self._guard = guard
        self._evicting = asyncio.Lock()

    def needed(self) -> dict[str, str]:
        """Layer refs that must keep their tags, with why."""
        repository = layer_repository()
        why: dict[str, str] = {}
        for snapshot in self._store.list_snapshots():
            if snapshot.status == "ready":
                why.setdefault(f"{repository}:{snapshot.content_hash}", f"snapshot {snapshot.name}")
        for record in self._store.list_sandboxes():
            why.setdefault(record.image_ref, f"sandbox {record.id}")
        for ref in self._pinned():
            why.setdefault(ref, "a build in progress")
        return why

    async def layers(self) -> list[Layer]:
        """Every layer image in the engine, least recently used first, with its own size."""
        engine = self._engine()
        repository = layer_repository()
        tags = await engine.image_tags(repository)
        refs = [f"{repository}:{t}" for t in sorted(tags)]
        if not refs:
            return []
        result = await engine.run(
            "image",
            "inspect",
            "--format",
            '{{.Id}}\t{{.Size}}\t{{.Parent}}\t{{.Created}}\t{{len .RootFS.Layers}}\t{{join .RepoTags ","}}',
            *refs,
            check=False,
        )
        rows = [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") >= 5]
        sizes = {row[0]: int(row[1] or 0) for row in rows}
        parents = [row[2] for row in rows if row[2] and row[2] not in sizes]
        if parents:
            extra = await engine.run("image", "inspect", "--format", "{{.Id}}\t{{.Size}}", *set(parents), check=False)
            for line in extra.stdout.splitlines():
                image_id, _, size = line.partition("\t")
                if size.strip().isdigit():
                    sizes[image_id] = int(size)
        records = self._store.layer_records()
        needed = self.needed()
        learned: dict[str, int] = {}
        layers: list[Layer] = []
        wanted = set(refs)
        # An image that went away between the listing and the inspection has no row.
        tagged = [(ref, row[:5]) for row in rows for ref in row[5].split(",") if ref in wanted]
        for ref, (image_id, size, parent, created, depth) in tagged:
            recorded_size, last_used = records.get(ref, (None, None))
            own = None
            if parent in sizes:
                own = max(0, int(size or 0) - sizes[parent])
                if own != recorded_size:
                    learned[ref] = own
            if own is None:
                # The parent's tag is gone: the size learned while it was there, else the whole image.
                own = recorded_size if recorded_size is not None else int(size or 0)
            layers.append(
                Layer(
                    ref,
                    image_id,
                    own,
                    last_used or _iso(created),
                    int(depth) if depth.strip().isdigit() else 0,
                    needed.get(ref),
                )
            )
        if learned:
            self._store.set_layer_sizes(learned)
        # One build touches all its layers at once: the deepest goes first among equals.
        layers.sort(key=lambda layer: (parse_time(layer.last_used_at), -layer.depth))
        return layers

    async def summary(self) -> dict[str, Any]:
        layers = await self.layers()
        return {
            "repository": layer_repository(),
            "budgetBytes": await budget_bytes(self._engine()),
            "totalBytes": sum(layer.size for layer in layers),
            "layers": [layer.to_api() for layer in reversed(layers)],
        }

    async def evict(self, *, everything: bool = False) -> dict[str, Any]:
        """Remove least recently used layers beyond the budget (or every one not needed), reporting what went."""
        async with self._evicting:
            engine = self._engine()
            budget = 0 if everything else await budget_bytes(engine)
            layers = await self.layers()
            total = sum(layer.size for layer in layers)
            removed: list[dict[str, Any]] = []
            kept_in_use: list[str] = []
            for layer in layers:
                if total <= budget:
                    break
                async with self._guard:
                    if layer.ref in self.needed():
                        continue
                    done = await engine.run("rmi", layer.ref, check=False)
                if not done.ok:
                    # Used by a container (a warm one, a sandbox of another home): the engine keeps it.
                    kept_in_use.append(layer.ref)
                    continue
                self._forget(layer.ref)
                total -= layer.size
                removed.append(layer.to_api())
            if removed:
                self._store.forget_layers([item["image"] for item in removed])
                log.info(
                    "evicted %d layer image(s), %d bytes; %d bytes remain",
                    len(removed),
                    sum(item["sizeBytes"] for item in removed),
                    total,
                )
            return {
                "removed": removed,
                "freedBytes": sum(item["sizeBytes"] for item in removed),
                "totalBytes": total,
                "budgetBytes": budget,
                "inUse": kept_in_use,
            }


def _iso(created: str) -> str:
    """An engine's creation time as the store's ISO form (the last use of a layer with no record)."""
    text = created.strip()
    try:
        # Go prints "2026-12-01 20:30:00.123456789 +0000 UTC"; docker prints RFC 3339.
        if " " in text:
            date, clock, offset = text.split(" ")[:3]
            clock = clock.split(".")[0]
            text = f"{date}T{clock}{offset[:3]}:{offset[3:]}"
        parse_time(text)
        return text
    except (ValueError, IndexError):
        return utcnow()
