"""A private layer repository and private download-cache volumes for one test, removed afterwards.

The engine is shared with every other server on the machine: a test that
evicts layers or empties caches works on its own repository and volumes
(``OC_JUPYTER_LAYER_REPOSITORY``, ``OC_JUPYTER_CACHE_VOLUMES``) so it never
touches layers or caches anything else uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .conftest import engine, nonce

VOLUME_KINDS = ("pip", "apt-archives", "apt-lists")


def layer_tags(repository: str) -> list[str]:
    out = engine("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    return [ref for ref in out if ref.startswith(repository + ":")]


@contextmanager
def isolated_cache() -> Iterator[dict[str, str]]:
    token = nonce()
    env = {
        "OC_JUPYTER_LAYER_REPOSITORY": f"localhost/oc-jupyter-test-{token}/layer",
        "OC_JUPYTER_CACHE_VOLUMES": f"oc-jupyter-test-{token}-cache",
    }
    try:
        yield env
    finally:
        tags = layer_tags(env["OC_JUPYTER_LAYER_REPOSITORY"])
        if tags:
            engine("rmi", "-f", *tags)
        engine("volume", "rm", "-f", *[f"{env['OC_JUPYTER_CACHE_VOLUMES']}-{kind}" for kind in VOLUME_KINDS])
