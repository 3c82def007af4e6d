"""The magics' settings, changeable with ``%config OCJupyter.<name> = value``.

A traitlets ``Configurable`` registered with the shell, so ``%config
OCJupyter`` lists the settings with their help, and ``ipython_config.py`` or
``ipython_kernel_config.py`` can set them for every session.
"""

from __future__ import annotations

from traitlets import Bool, Enum, Float, Int, Unicode, observe
from traitlets.config import Configurable

__all__ = ["OCJupyter"]


class OCJupyter(Configurable):
    """Settings of the oc_jupyter notebook magics."""

    sandbox_timeout = Int(
        3600,
        min=0,
        help="Idle seconds after which a sandbox the magics created hibernates (memory kept; the next cell wakes it; 0: never).",
    ).tag(config=True)

    widgets = Enum(
        ["auto", "on", "off"],
        "auto",
        help="Draw live widgets ('on'), print text lines ('off'), or decide from the front end ('auto').",
    ).tag(config=True)

    default_base = Unicode(
        "base",
        help="Base image of %%oc_image recipes without --base, and of %oc_run without a target.",
    ).tag(config=True)

    log_tail_lines = Int(
        200,
        min=1,
        help="Lines of the running step's output the build-log widget shows (the full log is kept).",
    ).tag(config=True)

    command_timeout = Float(
        0.0,
        min=0.0,
        help="Default --timeout of %oc_run in seconds (0: no limit).",
    ).tag(config=True)

    keep_sandboxes = Bool(
        False,
        help="Keep the sandboxes the magics created when the kernel shuts down (as if --keep were always given).",
    ).tag(config=True)

    allow_pickle = Bool(
        False,
        help="Let --pull fall back to pickle for values without a safe form; unpickling runs code the "
        "sandbox chooses, with this kernel's rights.",
    ).tag(config=True)

    output_head = Int(
        1_000_000,
        min=0,
        help="Characters of a command's output shown before the rest is cut (the whole output is saved to a file).",
    ).tag(config=True)

    output_tail = Int(
        250_000,
        min=0,
        help="Characters at the end of a cut output that are still shown.",
    ).tag(config=True)

    @observe("widgets")
    def _widgets_changed(self, change):
        from ..widgets.mode import set_default_mode

        set_default_mode(change["new"])
