"""The state folder holds the API key and the sandboxes' envs: it and its files are the user's alone."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from ownserver import OwnServer


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private(home: Path) -> dict[str, int]:
    """Mode of the folder and of every file in it that others could read or write."""
    loose = {str(path.name): _mode(path) for path in home.iterdir() if path.is_file() and _mode(path) & 0o077}
    if _mode(home) != 0o700:
        loose["."] = _mode(home)
    return loose


def test_a_new_state_folder_is_private(tmp_path):
    server = OwnServer(tmp_path / "home")
    try:
        server.start()
        with server.client() as api:
            created = api.post("/sandboxes", json={"timeout": 0, "envs": {"TOKEN": "perm-secret"}})
            assert created.status_code == 201, created.text
            api.delete(f"/sandboxes/{created.json()['sandboxID']}")
        names = {path.name for path in server.home.iterdir()}
        assert {"server.json", "server.log", "state.sqlite", "state.sqlite-wal", "state.sqlite-shm"} <= names
        assert _private(server.home) == {}
    finally:
        server.cleanup()


def test_an_older_looser_state_folder_is_fixed_at_start(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    # A state file and log as an older version left them: world-readable.
    db = sqlite3.connect(home / "state.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()
    for name in ("state.sqlite", "server.log"):
        (home / name).touch()
        (home / name).chmod(0o644)
    assert _private(home) != {}
    server = OwnServer(home)
    try:
        server.start()
        with server.client() as api:
            assert api.get("/x-oc-jupyter/v1/health").status_code == 200
        assert _private(home) == {}
        assert _mode(home / "state.sqlite") == 0o600 and _mode(home / "server.log") == 0o600
    finally:
        server.cleanup()


def test_server_started_directly_makes_a_private_folder(tmp_path):
    """``python -m oc_jupyter.local`` (what the CLI runs) secures the folder on its own too."""
    home = tmp_path / "direct"
    env = {**os.environ, "OC_JUPYTER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "oc_jupyter.local", "--home", str(home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if (home / "server.json").exists():
                break
            time.sleep(0.1)
        info = json.loads((home / "server.json").read_text())
        with httpx.Client(base_url=info["url"], trust_env=False, timeout=10) as client:
            assert client.get("/api/x-oc-jupyter/v1/health", headers={"X-API-Key": info["key"]}).status_code == 200
        assert _private(home) == {}
    finally:
        proc.terminate()
        proc.wait(30)
