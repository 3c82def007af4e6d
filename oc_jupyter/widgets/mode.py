"""Whether to draw ipywidgets or print text lines.

``'on'`` and ``'off'`` are explicit; ``'auto'`` draws widgets only in a kernel
that talks to a front end (ipykernel), since terminal IPython cannot show them.
``OC_JUPYTER_WIDGETS=off`` in the environment wins over everything, so a
headless run can ask for plain text without touching notebooks.
"""

from __future__ import annotations

import os
import sys

__all__ = ["default_mode", "set_default_mode", "widgets_enabled"]

_default = "auto"


def set_default_mode(mode: str) -> None:
    """Set the mode used when a view is not given one (the magics' ``widgets`` setting)."""
    global _default  # noqa: PLW0603 -- one setting per kernel process
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"Widget mode {mode!r} is not one of 'auto', 'on', 'off'.")
    _default = mode


def default_mode() -> str:
    return _default


def widgets_enabled(mode: str | None = None) -> bool:
    env = os.environ.get("OC_JUPYTER_WIDGETS", "").strip().lower()
    if env in ("off", "0", "false", "no", "text"):
        return False
    mode = mode or _default
    if env in ("on", "1", "true", "yes") and mode == "auto":
        mode = "on"
    if mode == "off":
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    if mode == "on":
        return True
    shell = _shell()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _shell():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()
