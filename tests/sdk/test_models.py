"""API records: pydantic models that also read like the seed's dicts, and build-log strings."""

from __future__ import annotations

import pickle

import pytest

from oc_jupyter.sdk import BuildLog, CommandResult, SandboxInfo, SnapshotInfo


def test_snapshot_info_reads_like_a_dict_and_keeps_unknown_fields():
    wire = {
        "id": "snap-1",
        "name": "ml-env",
        "status": "ready",
        "contentHash": "ab" * 32,
        "checkpointId": "cp-1",
        "manifest": {"base": "base", "steps": []},
        "createdAt": "2026-01-01T00:00:00Z",
        "lastUsedAt": "2026-01-02T00:00:00Z",
        "region": "local",
    }
    info = SnapshotInfo.model_validate(wire)
    assert info["status"] == info.status == "ready"
    assert info["contentHash"] == info.content_hash == info["content_hash"]
    assert info.last_used_at == "2026-01-02T00:00:00Z"
    assert info["region"] == "local" and info.get("missing", 7) == 7
    assert "region" in info and "nope" not in info
    assert dict(info) == wire
    assert list(info) == list(wire)
    with pytest.raises(KeyError):
        info["nope"]


def test_sandbox_info_and_command_result_use_the_wire_names():
    info = SandboxInfo.model_validate({"sandboxID": "sb-1", "status": "running", "templateID": "base", "cpuCount": 1})
    assert (info.sandbox_id, info["sandboxID"], info.template_id, info["cpuCount"]) == ("sb-1", "sb-1", "base", 1)
    result = CommandResult.model_validate({"exitCode": 2, "stdout": "o", "stderr": "e"})
    assert (result.exit_code, result["exitCode"], result.stdout) == (2, 2, "o")
    assert repr(result) == "ProcessResult(exit_code=2, stdout='o', stderr='e')"


def test_build_log_is_the_message_string_with_details():
    log = BuildLog({"step": 2, "type": "pip_install", "message": "Step 2/5: pip_install requests", "phase": "start"})
    assert log == "Step 2/5: pip_install requests" and f"build: {log}" == "build: Step 2/5: pip_install requests"
    assert (log.step, log.total, log.type, log.phase, log.elapsed) == (2, 5, "pip_install", "start", None)
    done = BuildLog({"step": 2, "type": "pip_install", "message": "Step 2/5: done", "phase": "done", "elapsed": 1.5})
    assert done.elapsed == 1.5 and done.phase == "done"
    plain = BuildLog("Collecting requests")
    assert (plain.phase, plain.step, plain.type) == ("output", None, "build")
    assert pickle.loads(pickle.dumps(log)).total == 5
