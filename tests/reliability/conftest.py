"""Fixtures of the fault and load tests: servers of their own, and unique images they clean up."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ownserver import OwnServer, remove_layers  # noqa: E402


@pytest.fixture
def own_server(tmp_path_factory):
    """``own_server(**env)`` starts a server of the test's own; all are stopped and cleaned after the test."""
    made: list[OwnServer] = []

    def start(**env: str) -> OwnServer:
        server = OwnServer(tmp_path_factory.mktemp("own-home"), **env)
        made.append(server)
        return server.start()

    yield start
    for server in made:
        server.cleanup()


@pytest.fixture
def unique_images():
    """``unique_images(image)`` records an Image whose layers the test built; they are removed afterwards."""
    images = []

    def keep(image):
        images.append(image)
        return image

    yield keep
    remove_layers(*images)


@pytest.fixture
def nonce() -> str:
    return secrets.token_hex(6)
