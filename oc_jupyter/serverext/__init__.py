"""Jupyter server extension: the JSON routes behind JupyterLab's OpenComputer panel.

The routes live under ``/oc-jupyter/`` and call the SDK with the
credentials the Jupyter server holds, so the API key never reaches a browser.
"""

from .files import setup_file_handlers
from .proxy import setup_proxy_handlers
from .routes import NAMESPACE, setup_route_handlers
from .terminal import setup_terminal_handlers

__all__ = ["setup_route_handlers"]


def _load_jupyter_server_extension(server_app):
    """Register the panel's routes on the Jupyter server."""
    setup_route_handlers(server_app.web_app)
    setup_proxy_handlers(server_app.web_app)
    setup_file_handlers(server_app.web_app)
    setup_terminal_handlers(server_app.web_app, NAMESPACE)
    server_app.log.info("Registered oc_jupyter server extension at /oc-jupyter/")


# The classic notebook server and some JupyterHub set-ups look for this name.
load_jupyter_server_extension = _load_jupyter_server_extension
