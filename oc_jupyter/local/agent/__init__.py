"""Commands, files and exec sessions inside sandboxes, through a resident in-sandbox agent.

The server asks :func:`agent_for` for a sandbox's :class:`SandboxAgent` and
calls :func:`close_sandbox` when it removes the sandbox (and :func:`close_all`
when it stops).
"""

from .errors import AgentFailed, BadPath, PathNotFound, SandboxGone, SessionNotFound
from .registry import agent_for, close_all, close_sandbox
from .sandbox import SandboxAgent

__all__ = [
    "AgentFailed",
    "BadPath",
    "PathNotFound",
    "SandboxAgent",
    "SandboxGone",
    "SessionNotFound",
    "agent_for",
    "close_all",
    "close_sandbox",
]
