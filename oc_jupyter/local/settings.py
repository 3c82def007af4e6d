"""Numbers the local server reads from its environment, each with a default."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

log = logging.getLogger(__name__)

N = TypeVar("N", int, float)


def env_number(name: str, default: N, *, environ: Mapping[str, str] | None = None) -> N:
    """``name``'s value parsed as the type of ``default``; ``default`` when unset or not a number.

    A bad value is logged and ignored rather than raised: a typo in one setting
    should not stop the server that every kernel on the machine shares.
    """
    parse: Callable[[str], N] = type(default)
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        kind = "a whole number" if parse is int else "a number"
        log.warning("%s=%r is not %s; using %s", name, raw, kind, default)
        return default
