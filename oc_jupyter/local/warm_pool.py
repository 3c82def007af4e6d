"""A warm pool: one idle, already started container for each of the most recently used images.

Starting a container costs a few hundred milliseconds of engine time, and
starting the in-sandbox agent as much again; a create that finds a warm
container for its image only records it. After each hand-out the pool
refills that image in the background.

Engine labels cannot change after a container is created, yet a sandbox
must be findable by ``oc-jupyter.sandbox=<id>``: so each warm container is
started under the sandbox id it will later be handed out as, plus
``oc-jupyter.pool=1``. Until hand-out no store record names that id, which
is what keeps it out of sandbox listings and makes the orphan cleanup of
the next server start remove it if this server dies; the pool label stays
on handed-out sandboxes and only tells how they were made.

``OC_JUPYTER_WARM_POOL`` bounds how many images are kept warm (default 2,
0 turns the pool off); ``OC_JUPYTER_WARM_POOL_IDLE`` is how many seconds an
image may go unused before its warm container is removed (default 600).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .settings import env_number

__all__ = ["POOL_LABEL", "Warm", "WarmPool", "pool_size", "pool_idle_seconds"]

log = logging.getLogger(__name__)

POOL_LABEL = "oc-jupyter.pool"


def pool_size(environ: dict | None = None) -> int:
    return max(0, env_number("OC_JUPYTER_WARM_POOL", 2, environ=environ))


def pool_idle_seconds(environ: dict | None = None) -> float:
    return max(0.0, env_number("OC_JUPYTER_WARM_POOL_IDLE", 600.0, environ=environ))


@dataclass(frozen=True)
class Warm:
    """A started container waiting to become sandbox ``sandbox_id``."""

    sandbox_id: str
    container_id: str
    image_ref: str
    created: float


Start = Callable[[str], Awaitable[Warm]]
Discard = Callable[[list[Warm]], Coroutine[Any, Any, None]]


class _Slot:
    """The pool's place for one image: its warm container (or the fill making it) and last use."""

    def __init__(self) -> None:
        self.fill: asyncio.Task[Warm | None] | None = None
        self.last_used = time.monotonic()


class WarmPool:
    """Warm containers of the most recently used images, at most one per image, ``size`` images."""

    def __init__(
        self,
        start: Start,
        discard: Discard,
        *,
        size: int | None = None,
        idle_seconds: float | None = None,
        is_ready: Callable[[Warm], bool] | None = None,
    ) -> None:
        self._start = start
        self._discard = discard
        self._is_ready = is_ready or (lambda warm: True)
        self.size = pool_size() if size is None else size
        self.idle_seconds = pool_idle_seconds() if idle_seconds is None else idle_seconds
        # Least recently used first, so the bound evicts from the front.
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._closed = False
        self._removals: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return self.size > 0 and not self._closed

    async def take(self, image_ref: str) -> Warm | None:
        """The warm container for ``image_ref`` if there is a usable one (awaiting a fill under way), else ``None``."""
        if not self.enabled:
            return None
        slot = self._slots.get(image_ref)
        if slot is None or slot.fill is None:
            return None
        fill, slot.fill = slot.fill, None
        slot.last_used = time.monotonic()
        try:
            # Shielded: a caller that gives up must not kill a container start half-way.
            warm = await asyncio.shield(fill)
        except asyncio.CancelledError:
            fill.add_done_callback(self._discard_later)
            raise
        except Exception:  # noqa: BLE001 - the fill logged it; the caller starts a container itself
            return None
        if warm is None:
            return None
        if not self._is_ready(warm):
            await self._discard([warm])
            return None
        return warm

    def refill(self, image_ref: str) -> None:
        """Keep a warm container for ``image_ref`` (most recently used now), evicting beyond the bound."""
        if not self.enabled:
            return
        slot = self._slots.pop(image_ref, None) or _Slot()
        slot.last_used = time.monotonic()
        self._slots[image_ref] = slot
        if slot.fill is None:
            slot.fill = asyncio.get_running_loop().create_task(self._fill(image_ref), name=f"warm {image_ref[-12:]}")
        while len(self._slots) > self.size:
            _, evicted = self._slots.popitem(last=False)
            self._drop(evicted)

    async def _fill(self, image_ref: str) -> Warm | None:
        try:
            return await self._start(image_ref)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed fill only means the next create starts cold
            log.warning("could not keep a warm container for %s: %s", image_ref, exc)
            return None

    def _drop(self, slot: _Slot) -> None:
        if slot.fill is not None:
            fill, slot.fill = slot.fill, None
            if fill.done():
                self._discard_later(fill)
            else:
                fill.add_done_callback(self._discard_later)

    def _discard_later(self, task: asyncio.Task[Warm | None]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        warm = task.result()
        if warm is None:
            return
        with contextlib.suppress(RuntimeError):
            removal = asyncio.get_running_loop().create_task(self._discard([warm]))
            # Held until done: the loop keeps only a weak reference to tasks.
            self._removals.add(removal)
            removal.add_done_callback(self._removals.discard)

    async def reap_idle(self) -> int:
        """Remove warm containers of images unused for longer than the idle limit; return how many images."""
        now = time.monotonic()
        stale = [ref for ref, slot in self._slots.items() if now - slot.last_used > self.idle_seconds]
        for ref in stale:
            self._drop(self._slots.pop(ref))
        if stale:
            log.info("removed the warm containers of %d idle image(s)", len(stale))
        return len(stale)

    async def close(self) -> None:
        """Stop filling and remove every warm container (at server shutdown)."""
        self._closed = True
        slots = list(self._slots.values())
        self._slots.clear()
        fills = [slot.fill for slot in slots if slot.fill is not None]
        for fill in fills:
            if not fill.done():
                fill.cancel()
        if fills:
            await asyncio.wait(fills, timeout=30)
        ready = [
            warm
            for fill in fills
            if fill.done() and not fill.cancelled() and fill.exception() is None and (warm := fill.result()) is not None
        ]
        if ready:
            await self._discard(ready)
        if self._removals:
            await asyncio.wait(list(self._removals), timeout=30)
