"""``GET /health``: unauthenticated liveness for process supervisors; it reveals nothing else."""

from __future__ import annotations

from fastapi import APIRouter

from ..models import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> dict:
    return {"ok": True}
