"""Define, build and use OpenComputer sandboxes from Jupyter notebooks.

``from oc_jupyter import Image, Sandbox, Snapshots`` gives the SDK;
``%load_ext oc_jupyter`` gives the notebook magics. This module holds only
re-exports and Jupyter's entry points, so importing the SDK never imports
IPython.
"""

from ._version import __version__
from .sdk import Image, Sandbox, Snapshots

__all__ = ["Image", "Sandbox", "Snapshots", "__version__", "load_ipython_extension"]


def load_ipython_extension(ipython):
    """Entry point of ``%load_ext oc_jupyter``."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "oc-jupyter"}]


def _jupyter_server_extension_points():
    return [{"module": "oc_jupyter.serverext"}]


def _load_jupyter_server_extension(server_app):
    from .serverext import _load_jupyter_server_extension as _load

    _load(server_app)
