"""Fixtures of the SDK tests: a recording HTTP server (see ``sdk_servers``)."""

from __future__ import annotations

import pytest
import pytest_asyncio
from sdk_servers import Recorder


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest_asyncio.fixture(scope="session")
async def base_sandbox(sdk_config):
    """One sandbox from the base image, shared by the tests that only run commands in it."""
    from oc_jupyter.sdk import Sandbox

    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    yield sandbox
    await sandbox.kill()
