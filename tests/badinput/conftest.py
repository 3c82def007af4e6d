"""Fixtures of the bad-input tests: a server of their own, so nothing they send touches the shared one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

from ownserver import OwnServer  # noqa: E402


@pytest.fixture(scope="module")
def bad_server(tmp_path_factory):
    """A local server in a home of its own; every container it made is removed afterwards."""
    server = OwnServer(tmp_path_factory.mktemp("bad-home"))
    server.start()
    yield server
    server.cleanup()
