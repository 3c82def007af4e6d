"""The notebook magics: ``%%oc_image``, ``%oc_run``/``%%oc_run``, snapshots, sandboxes and file transfers.

``%load_ext oc_jupyter`` calls :func:`load_ipython_extension`, which registers
the magics, their settings (``%config OCJupyter``) and rich reprs for SDK
objects, and says which backend is in use.
"""

from __future__ import annotations

from .settings import OCJupyter

__all__ = ["OCJupyter", "load_ipython_extension", "unload_ipython_extension"]

_loaded: dict[int, tuple] = {}


def _magic_classes():
    from .expose import ExposeMagics
    from .files import FileMagics
    from .image import ImageMagics
    from .run import RunMagics
    from .sandboxes import SandboxMagics
    from .snapshots import SnapshotMagics

    return (ImageMagics, RunMagics, SnapshotMagics, SandboxMagics, ExposeMagics, FileMagics)


def load_ipython_extension(ipython) -> None:
    """Register the magics on ``ipython`` and print the backend in use (never the key)."""
    from ..sdk import errors
    from ..widgets.mode import set_default_mode
    from ..widgets.reprs import register_formatters
    from .state import NotebookState

    if id(ipython) in _loaded:
        return
    settings = OCJupyter(parent=ipython)
    ipython.configurables.append(settings)
    set_default_mode(settings.widgets)
    state = NotebookState(settings)
    magics = [cls(ipython, state) for cls in _magic_classes()]
    for instance in magics:
        ipython.register_magics(instance)
    register_formatters(ipython)
    ipython.events.register("post_run_cell", state.after_cell)
    _loaded[id(ipython)] = (settings, state, magics)
    try:
        print(state.backend_line())
    except errors.OCError as exc:
        print(f"oc_jupyter: magics loaded, but the backend is not reachable yet: {exc}")


def unload_ipython_extension(ipython) -> None:
    """Kill the sandboxes the magics made and remove the magics (``%unload_ext oc_jupyter``)."""
    from ..widgets.reprs import unregister_formatters

    entry = _loaded.pop(id(ipython), None)
    if entry is None:
        return
    settings, state, magics = entry
    state.shutdown()
    ipython.events.unregister("post_run_cell", state.after_cell)
    unregister_formatters(ipython)
    if settings in ipython.configurables:
        ipython.configurables.remove(settings)
    table = ipython.magics_manager.magics
    for instance in magics:
        for kind, names in instance.magics.items():
            for name in names:
                table[kind].pop(name, None)
