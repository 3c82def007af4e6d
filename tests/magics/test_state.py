"""The magics' per-kernel memory: the backend is resolved once and again only after a connection failure."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from oc_jupyter.magics import _loaded
from oc_jupyter.sdk import Config, Sandbox


@pytest.fixture
def shell(local_server, monkeypatch):
    monkeypatch.delenv("OPENCOMPUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENCOMPUTER_API_URL", raising=False)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "oc_jupyter")
    yield ip
    ip.run_line_magic("unload_ext", "oc_jupyter")


def test_a_connection_failure_makes_the_next_magic_resolve_the_backend_again(shell, local_server, capsys):
    state = _loaded[id(shell)][1]
    assert state.config.api_url == local_server.url
    assert state.config is state.config  # cached per kernel
    # As after a server restart: the kernel still holds the old address and a sandbox made there.
    gone = Config("http://127.0.0.1:9", "old-key", "local")  # nothing listens on the discard port
    state._config = gone
    kept = Sandbox("sb-made-before", gone)
    state.sandboxes[("sandbox", kept.id)] = kept
    capsys.readouterr()
    failed = shell.run_cell("%oc_sandboxes")
    assert not failed.success
    assert "Could not list sandboxes: list sandboxes: cannot reach the local backend" in capsys.readouterr().err
    assert shell.run_cell("%oc_sandboxes").success
    assert state.config.api_url == local_server.url
    assert kept.config is state.config  # the kernel's sandboxes follow the backend to its new address
    state.sandboxes.clear()
