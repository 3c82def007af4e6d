"""Fixtures of the security tests: the shared server's key, HTTP clients with and without it."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))


@pytest.fixture(scope="module")
def api(local_server):
    with httpx.Client(
        base_url=local_server.url + "/api",
        headers={"X-API-Key": local_server.key},
        trust_env=False,
        timeout=httpx.Timeout(60, read=300),
    ) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous(local_server):
    with httpx.Client(base_url=local_server.url, trust_env=False, timeout=httpx.Timeout(60)) as client:
        yield client


@pytest.fixture(scope="module")
def live_sandbox(api):
    """A running sandbox of the base image, killed at the end of the module."""
    created = api.post("/sandboxes", json={"timeout": 0})
    assert created.status_code == 201, created.text
    sandbox_id = created.json()["sandboxID"]
    yield sandbox_id
    api.delete(f"/sandboxes/{sandbox_id}")
