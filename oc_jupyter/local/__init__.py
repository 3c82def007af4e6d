"""The embedded local backend: an OpenComputer-compatible server running sandboxes in podman or docker.

``oc-jupyter server start`` (or :func:`~oc_jupyter.local.daemon.ensure_running`,
which the SDK calls when no OpenComputer key is set) starts it in the
background; :func:`~oc_jupyter.local.app.create_app` builds the ASGI app.
"""

__all__ = ["create_app", "ensure_running"]


def __getattr__(name: str):
    # Lazy, so importing the package for the daemon does not import FastAPI.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ensure_running":
        from .daemon import ensure_running

        return ensure_running
    raise AttributeError(name)
