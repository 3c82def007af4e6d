"""The cache-preview extension: read when the backend has it, ``None`` when it answers 404."""

from __future__ import annotations

from sdk_servers import Reply

from oc_jupyter.sdk import Image, cache_preview


async def test_cache_preview_reads_the_extension_or_none(recorder):
    image = Image.base().pip_install(["x"])
    recorder.route(
        "POST",
        "/api/x-oc-jupyter/v1/cache-preview",
        Reply(
            200,
            {
                "contentHash": image.cache_key(),
                "steps": [{"index": 1, "type": "pip_install", "cached": True}],
                "cached": True,
            },
        ),
    )
    preview = await cache_preview(image, recorder.config)
    assert preview.cached and preview.steps[0].cached and preview.content_hash == image.cache_key()
    assert (
        recorder.requests[0].body
        == b'{"image":{"base":"base","steps":[{"type":"pip_install","args":{"packages":["x"]}}]}}'
    )
    recorder.route("POST", "/api/x-oc-jupyter/v1/cache-preview", Reply(404, {"error": "not found"}))
    assert await cache_preview(image, recorder.config) is None
