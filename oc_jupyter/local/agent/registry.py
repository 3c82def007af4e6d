"""Which :class:`~.sandbox.SandboxAgent` serves which sandbox, for the whole server process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..engine import Engine
from .sandbox import SandboxAgent

__all__ = ["agent_for", "close_all", "close_sandbox", "peek"]

_agents: dict[str, SandboxAgent] = {}


def agent_for(
    sandbox_id: str,
    container: str,
    engine: Engine,
    on_activity: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> SandboxAgent:
    """The sandbox's agent; made on first use, its process started on its first request.

    ``on_activity`` is called every few seconds while a command runs in the
    sandbox; ``env`` (the sandbox's own variables) is added to every command,
    under the command's own.
    """
    agent = _agents.get(sandbox_id)
    if agent is None or agent.container != container:
        agent = _agents[sandbox_id] = SandboxAgent(sandbox_id, container, engine, on_activity)
    if env is not None:
        agent.base_env = env
    return agent


def peek(sandbox_id: str) -> SandboxAgent | None:
    """The sandbox's agent if one was made, without making one."""
    return _agents.get(sandbox_id)


async def close_sandbox(sandbox_id: str) -> None:
    """Call when a sandbox is removed: ends its sessions and stops its agent."""
    agent = _agents.pop(sandbox_id, None)
    if agent is not None:
        await agent.close()


async def close_all() -> None:
    """Call when the server stops."""
    agents = list(_agents.values())
    _agents.clear()
    await asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True)
