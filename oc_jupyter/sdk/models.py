"""The records the API returns, as pydantic models that also read like the dicts of the wire.

Every model tolerates fields it does not know (``extra="allow"``), so a newer
backend never breaks an older client. Attributes are snake_case; item access
takes the wire's camelCase keys too, so code written for the seed's dicts
(``info["status"]``, ``s["contentHash"]``) keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from oc_jupyter.wire.events import infer_phase, parse_step_line

__all__ = [
    "WireModel",
    "SnapshotInfo",
    "SandboxInfo",
    "EntryInfo",
    "FileInfo",
    "ProcessResult",
    "CommandResult",
    "ExecSessionInfo",
    "StepPreview",
    "CachePreview",
    "BuildLog",
]


class WireModel(BaseModel):
    """Base of every API record: attribute access, plus mapping access by wire key."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel, frozen=False)

    def _wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=False)

    def __getitem__(self, key: str) -> Any:
        wire = self._wire()
        if key in wire:
            return wire[key]
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._wire() or key in type(self).model_fields)

    def get(self, key: str, default: Any = None) -> Any:
        """Value of wire key (or attribute name) ``key``, else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        # Iterate like the dict this record stands for, not like pydantic's (name, value) pairs.
        return iter(self._wire())

    def __len__(self) -> int:
        return len(self._wire())

    def keys(self) -> list[str]:
        """The wire keys, so ``dict(info)`` gives the JSON the API sent."""
        return list(self._wire())

    def values(self) -> list[Any]:
        return list(self._wire().values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._wire().items())

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict with wire keys."""
        return self._wire()


class SnapshotInfo(WireModel):
    """A named snapshot: its status (``building``, ``ready``, ``failed``) and the image it holds."""

    id: str | None = None
    name: str = ""
    status: str = ""
    content_hash: str | None = None
    checkpoint_id: str | None = None
    manifest: dict[str, Any] | None = None
    created_at: str | None = None
    last_used_at: str | None = None


class SandboxInfo(WireModel):
    """A sandbox as the API describes it."""

    sandbox_id: str = Field(default="", alias="sandboxID")
    status: str = ""
    template_id: str | None = Field(default=None, alias="templateID")
    metadata: dict[str, Any] | None = None
    #: The limits it runs under (the local backend enforces them); ``None`` when the backend does not say.
    memory_mb: int | None = Field(default=None, alias="memoryMB")
    cpu_count: int | None = None
    network_enabled: bool | None = None
    #: Megabytes written on top of its image; only when one sandbox is asked for with ``usage=true``.
    disk_used_mb: int | None = Field(default=None, alias="diskUsedMB")
    #: Processes its memory limit killed so far; only in the answer for one sandbox.
    oom_kills: int | None = None


class EntryInfo(WireModel):
    """An entry of a sandbox folder listing."""

    name: str = ""
    is_dir: bool = False
    path: str = ""
    size: int = 0


#: The earlier name of :class:`EntryInfo`.
FileInfo = EntryInfo


class ProcessResult(WireModel):
    """The outcome of a finished command: exit code and captured output."""

    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    #: The sandbox's memory limit killed the command (``exit_code`` is then 137).
    oom_killed: bool = Field(default=False, alias="oomKilled")
    #: Why the command was killed, when the backend knows: one sentence saying how to fix it.
    error: str | None = None

    def __repr__(self) -> str:
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"ProcessResult(exit_code={self.exit_code}, stdout={_clip(self.stdout)!r}, stderr={_clip(self.stderr)!r}"
            f"{extra})"
        )

    __str__ = __repr__


#: The earlier name of :class:`ProcessResult`.
CommandResult = ProcessResult


class SessionStarted(WireModel):
    """The reply to starting a command session; only its id is needed to attach."""

    session_id: str = Field(alias="sessionID", min_length=1)


class ExecSessionInfo(WireModel):
    """A streaming command session on a sandbox."""

    session_id: str = Field(default="", alias="sessionID")
    sandbox_id: str = Field(default="", alias="sandboxID")
    command: str = ""
    args: list[str] = []
    running: bool = False
    exit_code: int | None = None
    started_at: str | None = None
    attached_clients: int = 0


class StepPreview(WireModel):
    """Whether one step of an image is already built."""

    index: int
    type: str
    cached: bool


class CachePreview(WireModel):
    """For each step of an image, whether the backend has it built already."""

    content_hash: str
    steps: list[StepPreview] = []
    cached: bool = False


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BuildLog(str):
    """One build-log event; the string itself is the message, so ``print(f"build: {log}")`` works.

    ``phase`` is ``"start"``, ``"output"``, ``"cached"`` or ``"done"``. The
    local backend sends it; for backends that do not, it is inferred from the
    ``Step i/N:`` prefix of the message. ``total`` is ``N`` when known.

    One event comes from the client itself: when a build stream drops and
    :meth:`Snapshots.create` goes on by polling the snapshot's status, the
    callback receives a ``BuildLog`` with ``type`` and ``phase`` ``"reattach"``
    (``step`` ``None``) whose message says so; the outcome arrives as usual.
    """

    step: int | None
    type: str
    phase: str
    message: str
    elapsed: float | None
    total: int | None
    data: dict[str, Any]

    def __new__(cls, data: dict[str, Any] | str) -> BuildLog:
        if isinstance(data, str):
            data = {"message": data}
        message = str(data.get("message", ""))
        self = super().__new__(cls, message)
        self.data = data
        self.message = message
        self.type = str(data.get("type", "build"))
        step = data.get("step")
        self.step = step if isinstance(step, int) and not isinstance(step, bool) else None
        elapsed = data.get("elapsed")
        self.elapsed = float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else None
        line = parse_step_line(message)
        self.total = line.total if line else data.get("total") if isinstance(data.get("total"), int) else None
        if self.step is None and line:
            self.step = line.step
        self.phase = str(data.get("phase") or infer_phase(self.type, message))
        return self

    def __repr__(self) -> str:
        return f"BuildLog(step={self.step}, type={self.type!r}, phase={self.phase!r}, message={self.message!r})"

    def __reduce__(self):
        return (BuildLog, (self.data,))
