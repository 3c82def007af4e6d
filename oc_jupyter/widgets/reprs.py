"""Rich notebook reprs for SDK objects, registered as IPython formatters.

The SDK must not import IPython, so instead of ``_repr_html_`` methods on its
classes the magics register HTML formatters for them when the extension loads.
"""

from __future__ import annotations

from . import render

__all__ = ["register_formatters", "unregister_formatters"]


def _formatters():
    from ..sdk import Image, ProcessResult, SandboxInfo, SnapshotInfo

    return {
        Image: lambda image: render.image_html(image, preview_known=True),
        SnapshotInfo: render.snapshot_html,
        SandboxInfo: render.sandbox_html,
        ProcessResult: render.command_result_html,
    }


def register_formatters(shell) -> None:
    html = shell.display_formatter.formatters["text/html"]
    for cls, fn in _formatters().items():
        html.for_type(cls, fn)


def unregister_formatters(shell) -> None:
    html = shell.display_formatter.formatters["text/html"]
    for cls in _formatters():
        try:
            html.pop(cls)
        except KeyError:
            pass
