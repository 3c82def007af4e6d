"""Asking the backend which steps of an image are already built, before building it.

This is an extension of the local server under ``/x-oc-jupyter/v1/`` (a
namespace the OpenComputer API will not use). Backends without it, such as
the cloud, answer 404, which reads as "unknown" (``None``).
"""

from __future__ import annotations

from . import _http
from .config import Config
from .errors import NotFound
from .image import Image
from .models import CachePreview
from .sandbox import resolve_config

__all__ = ["cache_preview"]


async def cache_preview(image: Image, config: Config | None = None) -> CachePreview | None:
    """Per step of ``image``, whether the backend has it cached; ``None`` if the backend cannot tell."""
    if not isinstance(image, Image):
        raise TypeError(f"cache_preview expects an Image, got {type(image).__name__}.")
    config = await resolve_config(config)
    try:
        response = await _http.request(
            config,
            "POST",
            "/x-oc-jupyter/v1/cache-preview",
            json_body={"image": image},
            idempotent=True,  # a pure query: safe to repeat
            what="cache preview",
        )
    except NotFound:
        return None
    return _http.decode(response, config, CachePreview, what="cache preview")
