"""``/x-oc-jupyter/v1/…``: local-only routes, namespaced so they cannot collide with future cloud routes.

The cloud answers 404 here, which clients read as "this backend does not know".
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from ..._version import __version__
from ..cache import BudgetError
from ..errors import BadRequest
from ..models import CachePreview, CachePreviewRequest, ServerHealth, error_responses
from ..state import State, get_state

PREFIX = "/x-oc-jupyter/v1"

router = APIRouter(prefix=PREFIX, tags=["oc-jupyter extension"])


@router.post("/cache-preview", response_model=CachePreview, responses=error_responses(400, 401, 500, 503))
async def cache_preview(body: CachePreviewRequest, state: State = Depends(get_state)) -> Any:
    """For each step of a manifest, whether it is already built (cached) or will build."""
    return await state.builder.preview(body.image)


@router.get("/health", response_model=ServerHealth, responses=error_responses(401))
async def server_health(state: State = Depends(get_state)) -> Any:
    """Who this server is: version, engine, instance and process id."""
    return {
        "ok": True,
        "version": __version__,
        "engine": state.engine_name(),
        "instance": state.instance,
        "pid": os.getpid(),
    }


class CachePruneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all: bool = False


@router.get("/cache", responses=error_responses(400, 401, 500, 503))
async def cache_list(state: State = Depends(get_state)) -> Any:
    """The engine's layer images: own size, last use and what needs each (most recently used first)."""
    try:
        return await state.builder.cache.summary()
    except BudgetError as exc:
        raise BadRequest(str(exc)) from None


@router.post("/cache/prune", responses=error_responses(400, 401, 500, 503))
async def cache_prune(body: CachePruneRequest | None = None, state: State = Depends(get_state)) -> Any:
    """Evict least recently used layers beyond the budget, or (``{"all": true}``) every layer not needed."""
    try:
        return await state.builder.cache.evict(everything=bool(body and body.all))
    except BudgetError as exc:
        raise BadRequest(str(exc)) from None
