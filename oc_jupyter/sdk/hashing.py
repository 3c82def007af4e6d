"""Kept so ``oc_jupyter.sdk.hashing`` imports keep working; the encoder lives in :mod:`oc_jupyter.wire.gojson`."""

from oc_jupyter.wire.gojson import (
    Blob,
    body_length,
    content_hash,
    go_json,
    go_string,
    iter_body_bytes,
    iter_json,
    iter_manifest_json,
)

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
