"""``oc-jupyter doctor`` on this machine's real engine: what it finds, the fixes it gives (run as
written), its exit code and JSON. The rootless side (vfs found, --fix-storage applied) runs in
scripts/ci-rootless.sh as a real normal user."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from oc_jupyter.local import doctor
from oc_jupyter.local.doctor import EngineFacts, diagnose, fix_storage, storage_conf_text

from .conftest import CLI


def _by_name(report) -> dict:
    return {check.name: check for check in report.checks}


def test_the_report_names_engine_storage_cgroups_base_disk_state_and_server(base_image, tmp_path):
    report = diagnose(home=tmp_path / "state")
    checks = _by_name(report)
    assert list(checks) == ["engine", "storage", "cgroups", "base image", "disk", "state folder", "server"]
    engine = checks["engine"]
    assert engine.status == "ok" and engine.details["name"] == "podman" and engine.details["version"]
    assert engine.details["rootless"] is (os.geteuid() != 0)
    assert checks["storage"].found.startswith(f"driver {checks['storage'].details['driver']}")
    assert set(checks["cgroups"].details["limits"]) == {"memory", "cpu", "pids"}
    assert checks["base image"].details == {"image": base_image, "present": True}
    assert checks["disk"].details["free_bytes"] > 0
    assert checks["state folder"].status == "ok" and "does not exist yet" in checks["state folder"].found
    assert checks["server"].details == {"running": False}
    assert not report.blocked
    text = report.render()
    assert text.splitlines()[0].split()[:2] == ["ok", "engine"]


def test_a_state_folder_others_can_read_gets_a_fix_that_works_as_written(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / "server.json").write_text("{}")
    (state / "server.json").chmod(0o644)
    check = _by_name(diagnose(home=state))["state folder"]
    assert check.status == "warning"
    assert check.details["loose"] == [f"{state} is 0755", "server.json is 0644"]
    command = check.fix.removeprefix("run `").removesuffix("`")
    subprocess.run(command, shell=True, check=True)
    again = _by_name(diagnose(home=state))["state folder"]
    assert again.status == "ok" and again.found == f"{state} is private (0700, files 0600)"


def test_a_missing_engine_is_a_problem_and_the_command_exits_1(tmp_path):
    env = {**os.environ, "OC_JUPYTER_ENGINE": "/nonexistent/podman", "OC_JUPYTER_HOME": str(tmp_path)}
    done = subprocess.run([CLI, "doctor"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    first = done.stdout.splitlines()[0].split()
    assert first[:2] == ["PROBLEM", "engine"]
    assert "apt-get install podman" in done.stdout
    assert "1 problem(s) stop sandboxes from working here" in done.stdout
    as_json = subprocess.run([CLI, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and [c["name"] for c in report["checks"]] == ["engine", "state folder", "server"]


def test_json_and_the_running_server_without_its_key(local_server):
    done = subprocess.run([CLI, "doctor", "--json"], env=local_server.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    server = {c["name"]: c for c in report["checks"]}["server"]
    assert server["details"]["running"] is True and server["details"]["url"] == local_server.url
    assert local_server.key not in done.stdout + done.stderr
    text = subprocess.run([CLI, "doctor"], env=local_server.env, capture_output=True, text=True, timeout=300).stdout
    assert f"running at {local_server.url}" in text and local_server.key not in text


def test_the_storage_conf_keeps_the_stores_paths_and_names_runroot():
    facts = EngineFacts(
        name="podman",
        binary="/usr/bin/podman",
        version="4.3.1",
        rootless=True,
        driver="vfs",
        graph_root="/home/ana/.local/share/containers/storage",
        run_root="/run/user/1000/containers",
        runtime="runc",
        cgroup_version="v2",
        controllers=[],
        mount_program=None,
    )
    text = storage_conf_text(facts)
    assert text.splitlines()[:4] == [
        "[storage]",
        'driver = "overlay"',
        'runroot = "/run/user/1000/containers"',
        'graphroot = "/home/ana/.local/share/containers/storage"',
    ]
    check = doctor._check_storage(facts)
    assert check.status == "warning" and "driver vfs" in check.found
    assert "doctor --fix-storage`, which writes" in check.fix and text in check.fix
    assert "podman system reset" in check.fix


def test_fix_storage_refuses_an_engine_running_as_root():
    if os.geteuid() != 0:
        pytest.fail("this test needs podman as root; scripts/ci-rootless.sh runs the fix as a normal user")
    try:
        fix_storage()
    except doctor.StorageFixError as exc:
        assert str(exc).startswith("--fix-storage changes rootless podman's settings, but this is podman as root")
    else:
        raise AssertionError("fix_storage changed the settings of podman running as root")
    done = subprocess.run([CLI, "doctor", "--fix-storage"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("oc-jupyter: --fix-storage changes rootless podman's")
