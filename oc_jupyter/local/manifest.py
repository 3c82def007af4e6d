"""The manifest the server accepts; the schema lives in :mod:`oc_jupyter.wire.manifest`, shared with the SDK."""

from oc_jupyter.wire.manifest import STEP_TYPES, Manifest, Step, decode_base64, describe_step

__all__ = ["Manifest", "Step", "STEP_TYPES", "decode_base64", "describe_step"]
