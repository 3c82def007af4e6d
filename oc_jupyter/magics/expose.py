"""``%oc_expose PORT``: a link to a server running in a sandbox, opened through the Jupyter server."""

from __future__ import annotations

import html
import os

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

__all__ = ["ExposeMagics", "ExposedPort"]

# Set by the server extension in the Jupyter server's environment, which kernels it starts inherit.
PROXY_BASE_ENV = "OC_JUPYTER_PROXY_BASE"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"PORT must be a whole number from 1 to 65535, got {text!r}; for example %oc_expose 8000.")
    return int(text)


class ExposedPort:
    """A link to one exposed port; it carries no credential (the Jupyter login opens it)."""

    def __init__(self, sandbox_id: str, port: int, link: str, through_jupyter: bool) -> None:
        self.sandbox_id, self.port, self.link, self.through_jupyter = sandbox_id, port, link, through_jupyter

    def _repr_html_(self) -> str:
        link = html.escape(self.link, quote=True)
        how = (
            "through this Jupyter server (your Jupyter login opens it; the page runs as a page of this "
            "server, so open only apps whose code you trust)"
            if self.through_jupyter
            else "at the backend (send the sandbox's preview token as 'Authorization: Bearer …')"
        )
        return (
            f'<div class="oc-expose">Port {self.port} of sandbox <code>{html.escape(self.sandbox_id)}</code>: '
            f'<a href="{link}" target="_blank" rel="noopener noreferrer">{link}</a> {html.escape(how)}.</div>'
        )

    def __repr__(self) -> str:
        if self.through_jupyter:
            return (
                f"Port {self.port} of sandbox {self.sandbox_id}: {self.link} "
                "(on this Jupyter server's address; your Jupyter login opens it; the page runs as a page of "
                "this server, so open only apps whose code you trust)"
            )
        return (
            f"Port {self.port} of sandbox {self.sandbox_id}: {self.link} "
            "(send the sandbox's preview token as 'Authorization: Bearer …')"
        )


@magics_class
class ExposeMagics(Magics):
    """Expose a sandbox's port as a link, or stop exposing it."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state

    @line_magic
    @magic_arguments()
    @argument("port", nargs="?", help="The port the server in the sandbox listens on (1-65535).")
    @argument("--sandbox", metavar="ID", help="The sandbox (default: the current one, see %%oc_sandbox use).")
    @argument("--close", metavar="PORT", help="Stop exposing PORT instead.")
    def oc_expose(self, line):
        """Show a link to a server running in a sandbox, or stop exposing it.

        ::

            %oc_run --sandbox ID -- python3 -m http.server 8000 &   # start a server in the sandbox
            %oc_expose 8000                 # a link for port 8000 of the current sandbox
            %oc_expose 8000 --sandbox ID    # ... of sandbox ID
            %oc_expose --close 8000         # stop exposing it

        The link goes through this Jupyter server, which forwards HTTP and
        WebSocket traffic to the sandbox's preview URL; it needs your Jupyter
        login, and the browser never sees the backend's API key. The server in
        the sandbox may listen on 127.0.0.1.

        Unlike the outputs of ``%%oc_run``, an exposed page is not isolated:
        it is served from this Jupyter server's address, as
        jupyter-server-proxy serves its apps, so a script in it can act with
        your Jupyter session. Exposing a port is that opt-in: open only apps
        whose code you trust.
        """
        args = parse_argstring(self.oc_expose, line)
        if args.port is not None and args.close is not None:
            raise UsageError("Give a PORT to expose or --close PORT, not both; for example %oc_expose 8000.")
        if args.port is None and args.close is None:
            raise UsageError("Give the port to expose, for example %oc_expose 8000 (or %oc_expose --close 8000).")
        port = _port(args.port if args.port is not None else args.close)
        sandbox = self._sandbox(args.sandbox)
        from ..sdk import errors, sync

        if args.close is not None:
            try:
                sync.run(sandbox.delete_preview_url(port))
            except errors.OCError as exc:
                raise UsageError(f"Could not stop exposing port {port} of sandbox {sandbox.id}: {exc}") from None
            print(f"Port {port} of sandbox {sandbox.id} is no longer exposed.")
            return
        try:
            preview = sync.run(sandbox.create_preview_url(port))
        except errors.NotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox.id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not expose port {port} of sandbox {sandbox.id}: {exc}") from None
        base = os.environ.get(PROXY_BASE_ENV)
        if base:
            display(ExposedPort(sandbox.id, port, f"{base}{sandbox.id}/{port}/", True))
        else:
            link = preview.get("url") or f"https://{preview.get('hostname', '')}/"
            display(ExposedPort(sandbox.id, port, link, False))
        return

    def _sandbox(self, sandbox_id: str | None):
        if sandbox_id:
            return self.state.connect(sandbox_id)
        if self.state.current is not None:
            return self.state.current
        made = list(self.state.implicit.values())
        if len(made) == 1:
            return made[0]
        raise UsageError(
            "Which sandbox? Pass --sandbox ID, or choose one with %oc_sandbox use ID (%oc_sandboxes lists them)."
        )
