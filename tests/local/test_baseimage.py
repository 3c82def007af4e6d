"""The base image recipe: mmdebstrap into the engine (as root here; as a normal user in
scripts/ci-rootless.sh), the promises the image keeps, and clear messages when it cannot be built."""

from __future__ import annotations

import os
import subprocess
import tarfile

import pytest

from oc_jupyter.local import baseimage
from oc_jupyter.local.baseimage import BaseImageError, has_subordinate_ids, rootless_build_problem
from oc_jupyter.local.engine import detect_engine

from .conftest import CLI, ENGINE, nonce


def test_subordinate_ids_are_read_by_name_or_uid_and_need_a_full_range(tmp_path):
    subuid = tmp_path / "subuid"
    subuid.write_text("ana:100000:65536\n1234:300000:65536\nbo:200000:1000\n")
    assert has_subordinate_ids("ana", 1000, subuid)
    assert has_subordinate_ids("cy", 1234, subuid)
    assert not has_subordinate_ids("bo", 1001, subuid), "1000 ids cannot map a Debian root file system"
    assert not has_subordinate_ids("ana", 1000, tmp_path / "absent")


def test_without_mmdebstrap_the_message_names_the_packages_to_install(tmp_path, monkeypatch):
    # A PATH without the tools is what a host without the packages looks like to the check.
    monkeypatch.setenv("PATH", str(tmp_path))
    message = rootless_build_problem()
    assert message is not None and message.count(".") >= 1
    assert "mmdebstrap, newuidmap, newgidmap not found" in message
    assert "`sudo apt-get install mmdebstrap uidmap`" in message
    assert "OC_JUPYTER_BASE_IMAGE" in message


def test_without_subordinate_ids_the_message_gives_the_usermod_line(tmp_path):
    (tmp_path / "subuid").write_text("ana:100000:65536\n")
    (tmp_path / "subgid").write_text("")
    message = rootless_build_problem("bo", subid_dir=tmp_path)
    assert message is not None
    assert f"subordinate ids for user 'bo', which {tmp_path}/subuid and {tmp_path}/subgid do not give" in message
    assert "`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 bo`" in message
    assert "`podman system migrate`" in message
    assert rootless_build_problem("ana", subid_dir=tmp_path).startswith(
        "Building the base image without root "
        f"needs subordinate ids for user 'ana', "
        f"which {tmp_path}/subgid does not give"
    )
    (tmp_path / "subgid").write_text("ana:100000:65536\n")
    assert rootless_build_problem("ana", subid_dir=tmp_path) is None


async def test_a_producer_that_dies_midway_leaves_no_image_behind(tmp_path):
    # A real tar stream cut short, the way a failed mmdebstrap ends one.
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "big").write_bytes(os.urandom(200_000))
    archive = tmp_path / "root.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "root", arcname=".")
    ref = f"localhost/oc-jupyter-tests/cut-base:{nonce()}"
    engine = detect_engine()
    producer = ["sh", "-c", f"head -c 50000 {archive}; echo 'E: mirror went away' >&2; exit 3"]
    with pytest.raises(BaseImageError) as failed:
        await baseimage._import_stream(engine, producer, ref, None, "mmdebstrap")
    assert str(failed.value).startswith("mmdebstrap failed with exit code 3: E: mirror went away")
    assert not await engine.image_exists(ref)


@pytest.mark.slow
async def test_mmdebstrap_builds_a_base_that_keeps_its_promises():
    if os.geteuid() != 0:
        pytest.fail("this test builds as root; scripts/ci-rootless.sh builds as a normal user")
    ref = f"localhost/oc-jupyter-tests/mm-base:{nonce()}"
    lines: list[str] = []
    engine = detect_engine()
    try:
        await baseimage._bootstrap(engine, ref, lines.append)
        assert lines[0].startswith(f"Building base image {ref} from Debian bookworm (")
        assert "as root" in lines[0] and lines[-1] == f"Base image {ref} is ready."
        assert any(line.startswith("I: ") for line in lines), "mmdebstrap's progress reaches the caller"
        probe = subprocess.run(
            [
                ENGINE,
                "run",
                "--rm",
                ref,
                "bash",
                "-c",
                "pwd; python --version; pip --version >/dev/null && echo pip-ok; node --version >/dev/null && echo node-ok;"
                " ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null || echo no-marker; cat /etc/pip.conf;"
                " ls /var/lib/apt/lists | grep -c _Packages || true",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert probe.returncode == 0, probe.stderr
        out = probe.stdout.splitlines()
        assert out[0] == "/workspace" and out[1].startswith("Python 3.11")
        assert "pip-ok" in out and "node-ok" in out and "no-marker" in out
        assert "root-user-action = ignore" in probe.stdout
        assert out[-1] == "0", "apt lists are not kept in the image"
    finally:
        subprocess.run([ENGINE, "rmi", "-f", ref], capture_output=True)


def test_base_build_under_sudo_says_the_image_is_not_in_the_users_store(base_image, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test runs `base build` as root, the way sudo runs it")
    env = {**os.environ, "SUDO_USER": "alice", "OC_JUPYTER_HOME": str(tmp_path)}
    done = subprocess.run([CLI, "base", "build"], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == f"Base image ready: {base_image}"
    assert done.stderr.startswith(
        "oc-jupyter: warning: the base image is in root's image store, but notebooks "
        "run as alice use alice's own store; run `"
    )
    suggested = done.stderr.split("`")[1]
    assert suggested == f"{CLI} base build" and "sudo" not in suggested
