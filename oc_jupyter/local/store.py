"""The server's records in SQLite: snapshots, sandboxes, builds, checkpoints and layer use.

One file, ``state.sqlite`` in the server's home, in WAL mode so readers never
wait on a writer. Every change is one transaction, so a record is either
stored whole or not at all. Calls are short and run on the event loop's
thread; a lock serialises them because the connection is shared.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["Store", "SnapshotRecord", "SandboxRecord", "CheckpointRecord", "utcnow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
    content_hash TEXT NOT NULL,
    manifest TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    container_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    content_hash TEXT,
    snapshot TEXT,
    envs TEXT NOT NULL,
    metadata TEXT NOT NULL,
    timeout INTEGER NOT NULL,
    cpu_count INTEGER,
    memory_mb INTEGER,
    created_at TEXT NOT NULL,
    last_active_at TEXT NOT NULL,
    network_enabled INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS builds (
    content_hash TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id TEXT PRIMARY KEY,
    sandbox_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    image_ref TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (sandbox_id, name)
);

CREATE TABLE IF NOT EXISTS layers (
    ref TEXT PRIMARY KEY,
    size INTEGER,
    last_used_at TEXT NOT NULL
);
"""


def utcnow() -> str:
    """The current time as ISO 8601 UTC with a ``Z`` suffix, the form every record uses."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class SnapshotRecord:
    """A named snapshot: a content hash plus the manifest it came from."""

    id: str
    name: str
    status: str
    content_hash: str
    manifest: dict
    error: str | None
    created_at: str
    last_used_at: str | None

    def to_api(self) -> dict[str, Any]:
        info = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "contentHash": self.content_hash,
            "checkpointId": self.content_hash if self.status == "ready" else None,
            "manifest": self.manifest,
            "createdAt": self.created_at,
            "lastUsedAt": self.last_used_at,
        }
        if self.error:
            info["error"] = self.error
        return info


@dataclass
class SandboxRecord:
    """A sandbox: the container running it and what it was made from."""

    id: str
    container_id: str
    template_id: str
    image_ref: str
    content_hash: str | None
    snapshot: str | None
    envs: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    timeout: int = 300
    cpu_count: int | None = None
    memory_mb: int | None = None
    created_at: str = ""
    last_active_at: str = ""
    network_enabled: bool = True

    def to_api(self, status: str = "running") -> dict[str, Any]:
        return {
            "sandboxID": self.id,
            "status": status,
            "templateID": self.template_id,
            "snapshot": self.snapshot,
            "contentHash": self.content_hash,
            "image": self.image_ref,
            "metadata": self.metadata,
            "timeout": self.timeout,
            "cpuCount": self.cpu_count,
            "memoryMB": self.memory_mb,
            "networkEnabled": self.network_enabled,
            "startedAt": self.created_at,
            "lastActiveAt": self.last_active_at,
        }


@dataclass
class CheckpointRecord:
    """A saved state of a sandbox's disk: an engine image made from its container."""

    id: str
    sandbox_id: str
    name: str
    kind: str
    status: str
    size_bytes: int
    image_ref: str
    created_at: str

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sandboxId": self.sandbox_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "sizeBytes": self.size_bytes,
            "createdAt": self.created_at,
        }


class Store:
    """The SQLite database of one server home."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        # The records hold sandbox envs (often secrets): the file, and the WAL and
        # shared-memory files SQLite makes with the same mode, are the user's only.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._db.executescript(_SCHEMA)
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(sandboxes)")}
            if "network_enabled" not in columns:
                # A state file from before network control: its sandboxes all had the network.
                self._db.execute("ALTER TABLE sandboxes ADD COLUMN network_enabled INTEGER NOT NULL DEFAULT 1")
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- meta -------------------------------------------------------------
    def instance_id(self) -> str:
        """This home's instance id, made once and kept: it labels every container the server owns."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
            if row:
                return row["value"]
            value = secrets.token_hex(6)
            db.execute("INSERT INTO meta (key, value) VALUES ('instance', ?)", (value,))
            return value

    # -- snapshots ----------------------------------------------------------
    @staticmethod
    def _snapshot(row: sqlite3.Row) -> SnapshotRecord:
        return SnapshotRecord(
            id=row["id"],
            name=row["name"],
            status=row["status"],
            content_hash=row["content_hash"],
            manifest=json.loads(row["manifest"]),
            error=row["error"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
        )

    def claim_snapshot(self, name: str, content_hash: str, manifest: dict, status: str) -> SnapshotRecord | None:
        """Create the snapshot ``name``, replacing a failed one; ``None`` if the name is taken."""
        record = SnapshotRecord(
            id="snap-" + secrets.token_hex(8),
            name=name,
            status=status,
            content_hash=content_hash,
            manifest=manifest,
            error=None,
            created_at=utcnow(),
            last_used_at=None,
        )
        with self._tx() as db:
            row = db.execute("SELECT status FROM snapshots WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if row["status"] != "failed":
                    return None
                db.execute("DELETE FROM snapshots WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO snapshots (id, name, status, content_hash, manifest, error, created_at, last_used_at)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, NULL)",
                (record.id, name, status, content_hash, json.dumps(manifest), record.created_at),
            )
        return record

    def get_snapshot(self, name: str) -> SnapshotRecord | None:
        rows = self._query("SELECT * FROM snapshots WHERE name = ?", (name,))
        return self._snapshot(rows[0]) if rows else None

    def list_snapshots(self) -> list[SnapshotRecord]:
        return [self._snapshot(r) for r in self._query("SELECT * FROM snapshots ORDER BY created_at, name")]

    def finish_snapshot(self, snapshot_id: str, status: str, error: str | None = None) -> None:
        """Record a snapshot's build outcome; a snapshot deleted meanwhile stays deleted."""
        with self._tx() as db:
            db.execute("UPDATE snapshots SET status = ?, error = ? WHERE id = ?", (status, error, snapshot_id))

    def touch_snapshot(self, name: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE snapshots SET last_used_at = ? WHERE name = ?", (utcnow(), name))

    def delete_snapshot(self, name: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM snapshots WHERE name = ?", (name,)).rowcount > 0

    def fail_interrupted(self, reason: str) -> list[str]:
        """Mark every snapshot and build left ``building`` by a previous run as failed; return the names."""
        with self._tx() as db:
            names = [r["name"] for r in db.execute("SELECT name FROM snapshots WHERE status = 'building'")]
            db.execute("UPDATE snapshots SET status = 'failed', error = ? WHERE status = 'building'", (reason,))
            db.execute(
                "UPDATE builds SET status = 'failed', error = ?, finished_at = ? WHERE status = 'building'",
                (reason, utcnow()),
            )
        return names

    # -- builds -------------------------------------------------------------
    def start_build(self, content_hash: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO builds (content_hash, status, error, started_at, finished_at)"
                " VALUES (?, 'building', NULL, ?, NULL)",
                (content_hash, utcnow()),
            )

    def finish_build(self, content_hash: str, status: str, error: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE builds SET status = ?, error = ?, finished_at = ? WHERE content_hash = ?",
                (status, error, utcnow(), content_hash),
            )

    # -- layers -------------------------------------------------------------
    def touch_layers(self, refs: list[str]) -> None:
        """Record that the layer images ``refs`` were used now (built, found cached or built upon)."""
        now = utcnow()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO layers (ref, last_used_at) VALUES (?, ?)"
                " ON CONFLICT(ref) DO UPDATE SET last_used_at = excluded.last_used_at",
                [(ref, now) for ref in refs],
            )

    def set_layer_sizes(self, sizes: dict[str, int]) -> None:
        """Remember layers' own sizes, which the engine can no longer tell once a parent tag is gone."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO layers (ref, size, last_used_at) VALUES (?, ?, ?)"
                " ON CONFLICT(ref) DO UPDATE SET size = excluded.size",
                [(ref, size, utcnow()) for ref, size in sizes.items()],
            )

    def layer_records(self) -> dict[str, tuple[int | None, str]]:
        """``ref -> (own size or None, last use)`` for every layer this home has recorded."""
        return {r["ref"]: (r["size"], r["last_used_at"]) for r in self._query("SELECT * FROM layers")}

    def forget_layers(self, refs: list[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM layers WHERE ref = ?", [(ref,) for ref in refs])

    # -- sandboxes ----------------------------------------------------------
    @staticmethod
    def _sandbox(row: sqlite3.Row) -> SandboxRecord:
        return SandboxRecord(
            id=row["id"],
            container_id=row["container_id"],
            template_id=row["template_id"],
            image_ref=row["image_ref"],
            content_hash=row["content_hash"],
            snapshot=row["snapshot"],
            envs=json.loads(row["envs"]),
            metadata=json.loads(row["metadata"]),
            timeout=row["timeout"],
            cpu_count=row["cpu_count"],
            memory_mb=row["memory_mb"],
            created_at=row["created_at"],
            last_active_at=row["last_active_at"],
            network_enabled=bool(row["network_enabled"]),
        )

    def add_sandbox(self, record: SandboxRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO sandboxes (id, container_id, template_id, image_ref, content_hash, snapshot, envs,"
                " metadata, timeout, cpu_count, memory_mb, created_at, last_active_at, network_enabled)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.container_id,
                    record.template_id,
                    record.image_ref,
                    record.content_hash,
                    record.snapshot,
                    json.dumps(record.envs),
                    json.dumps(record.metadata),
                    record.timeout,
                    record.cpu_count,
                    record.memory_mb,
                    record.created_at,
                    record.last_active_at,
                    int(record.network_enabled),
                ),
            )

    def get_sandbox(self, sandbox_id: str) -> SandboxRecord | None:
        rows = self._query("SELECT * FROM sandboxes WHERE id = ?", (sandbox_id,))
        return self._sandbox(rows[0]) if rows else None

    def list_sandboxes(self) -> list[SandboxRecord]:
        return [self._sandbox(r) for r in self._query("SELECT * FROM sandboxes ORDER BY created_at, id")]

    def delete_sandbox(self, sandbox_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,)).rowcount > 0

    def set_sandbox_timeout(self, sandbox_id: str, timeout: int) -> bool:
        with self._tx() as db:
            return (
                db.execute(
                    "UPDATE sandboxes SET timeout = ?, last_active_at = ? WHERE id = ?", (timeout, utcnow(), sandbox_id)
                ).rowcount
                > 0
            )

    def touch_sandboxes(self, activity: dict[str, str]) -> None:
        """Store the last activity times kept in memory (written in batches, not per command)."""
        if not activity:
            return
        with self._tx() as db:
            db.executemany(
                "UPDATE sandboxes SET last_active_at = ? WHERE id = ?", [(t, i) for i, t in activity.items()]
            )

    def set_sandbox_memory(self, sandbox_id: str, memory_mb: int) -> bool:
        with self._tx() as db:
            return db.execute("UPDATE sandboxes SET memory_mb = ? WHERE id = ?", (memory_mb, sandbox_id)).rowcount > 0

    def set_sandbox_container(self, sandbox_id: str, container_id: str, image_ref: str) -> bool:
        """After the sandbox's container was recreated (a restore), from ``image_ref``."""
        with self._tx() as db:
            return (
                db.execute(
                    "UPDATE sandboxes SET container_id = ?, image_ref = ? WHERE id = ?",
                    (container_id, image_ref, sandbox_id),
                ).rowcount
                > 0
            )

    # -- checkpoints --------------------------------------------------------
    def add_checkpoint(self, record: CheckpointRecord) -> bool:
        """Store ``record``; False when its sandbox already has a checkpoint of that name."""
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO checkpoints (id, sandbox_id, name, kind, status, size_bytes, image_ref, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.sandbox_id,
                        record.name,
                        record.kind,
                        record.status,
                        record.size_bytes,
                        record.image_ref,
                        record.created_at,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def get_checkpoint(self, checkpoint_id: str) -> CheckpointRecord | None:
        rows = self._query("SELECT * FROM checkpoints WHERE id = ?", (checkpoint_id,))
        return CheckpointRecord(**dict(rows[0])) if rows else None

    def list_checkpoints(self, sandbox_id: str | None = None) -> list[CheckpointRecord]:
        if sandbox_id is None:
            rows = self._query("SELECT * FROM checkpoints ORDER BY created_at, id")
        else:
            rows = self._query("SELECT * FROM checkpoints WHERE sandbox_id = ? ORDER BY created_at, id", (sandbox_id,))
        return [CheckpointRecord(**dict(r)) for r in rows]

    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM checkpoints WHERE id = ?", (checkpoint_id,)).rowcount > 0
