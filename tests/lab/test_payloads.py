"""What the server extension lets the browser see of SDK records."""

from __future__ import annotations

from oc_jupyter.sdk import SandboxInfo, SnapshotInfo
from oc_jupyter.serverext.payloads import made_from, preview_ports, sandbox_payload, snapshot_payload


def test_snapshot_payload_keeps_only_the_panel_fields():
    info = SnapshotInfo.model_validate(
        {
            "id": "snap-1",
            "name": "demo",
            "status": "failed",
            "contentHash": "ab" * 32,
            "manifest": {"base": "base", "steps": [{"type": "add_file", "args": {"content": "c2VjcmV0"}}]},
            "createdAt": "2026-01-01T00:00:00Z",
            "lastUsedAt": None,
            "error": "Step 1/1 (run) failed with exit code 1: x",
        }
    )
    assert snapshot_payload(info) == {
        "name": "demo",
        "status": "failed",
        "contentHash": "ab" * 32,
        "createdAt": "2026-01-01T00:00:00Z",
        "lastUsedAt": None,
        "error": "Step 1/1 (run) failed with exit code 1: x",
    }


def test_sandbox_payload_drops_envs_and_metadata():
    info = SandboxInfo.model_validate(
        {
            "sandboxID": "sb-1",
            "status": "running",
            "templateID": "base",
            "snapshot": "demo",
            "envs": {"TOKEN": "secret"},
            "metadata": {"owner": "secret"},
            "startedAt": "2026-01-01T00:00:00Z",
        }
    )
    payload = sandbox_payload(info)
    assert payload == {
        "id": "sb-1",
        "status": "running",
        "madeFrom": "snapshot demo",
        "createdAt": "2026-01-01T00:00:00Z",
        "memoryMB": None,
        "cpuCount": None,
        "networkEnabled": None,
        "diskUsedMB": None,
        "ports": [],
    }
    assert "secret" not in repr(payload)


def test_sandbox_payload_carries_the_limits():
    info = SandboxInfo.model_validate(
        {
            "sandboxID": "sb-2",
            "status": "running",
            "templateID": "base",
            "memoryMB": 512,
            "cpuCount": 1,
            "networkEnabled": False,
            "diskUsedMB": 3,
            "startedAt": "2026-01-01T00:00:00Z",
        }
    )
    payload = sandbox_payload(info)
    assert (payload["memoryMB"], payload["cpuCount"], payload["networkEnabled"], payload["diskUsedMB"]) == (
        512,
        1,
        False,
        3,
    )


def test_preview_ports_keep_only_the_port_numbers():
    previews = [
        {"port": 8000, "hostname": "8000-sb.example", "token": "secret"},
        {"port": 3000},
        {"port": "x"},
        "junk",
        {"port": 8000},
    ]
    assert preview_ports(previews) == [3000, 8000]
    assert preview_ports(None) == []
    assert sandbox_payload({"sandboxID": "sb-3"}, [3000])["ports"] == [3000]


def test_made_from_names_the_origin():
    assert made_from({"snapshot": "demo", "contentHash": "ab" * 32}) == "snapshot demo"
    assert made_from({"contentHash": "sha256:" + "cd" * 32}) == "image cdcdcdcdcdcd"
    assert made_from({"image": "localhost/oc-jupyter/base:1"}) == "image base:1"
    assert made_from({"templateID": "base"}) == "template base"
    assert made_from({}) is None
