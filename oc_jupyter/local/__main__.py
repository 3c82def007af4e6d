"""``python -m oc_jupyter.local``: run the local server in the foreground (``oc-jupyter server start`` runs this).

It listens on 127.0.0.1 only, on a free port, and writes ``server.json``
once ready. The API key comes from ``$OC_JUPYTER_SERVER_KEY`` (a fresh one
is made when unset); it is removed from the environment at once so no child
process (engine commands, sandboxes) inherits it, and access logs redact it.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import socket

import uvicorn

from .._version import __version__
from .daemon import KEY_VARIABLE, home_dir, remove_info, secure_home, write_info

_SECRET_QUERY = re.compile(r"(api_key=)[^&\s\"]+", re.IGNORECASE)


class RedactKey(logging.Filter):
    """Hide ``api_key=…`` query values (WebSocket URLs carry the key) in every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactKey())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m oc_jupyter.local", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="state folder (default: $OC_JUPYTER_HOME or the user's data folder)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)

    configure_logging()
    home = home_dir(args.home)
    secure_home(home)
    key = os.environ.pop(KEY_VARIABLE, "") or secrets.token_urlsafe(32)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    from .app import create_app

    def announce(state) -> None:
        write_info(
            home,
            {
                "url": url,
                "pid": os.getpid(),
                "key": key,
                "engine": state.engine_name(),
                "version": __version__,
                "instance": state.instance,
            },
        )
        logging.getLogger("oc_jupyter.local").info(
            "serving %s (engine %s, instance %s, home %s)", url, state.engine_name(), state.instance, home
        )

    app = create_app(home, key, on_started=announce)
    config = uvicorn.Config(
        app, log_config=None, access_log=True, timeout_graceful_shutdown=5, proxy_headers=False, server_header=False
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        remove_info(home, os.getpid())


if __name__ == "__main__":
    main()
