"""A sandbox sees only what its image holds: no host file, no host mount, no way to the API, no way out.

Each claim is checked from both sides: inside the sandbox (what a command
there can see) and from the host (what the engine says about the container,
and whether anything appeared on the host's disk).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from ownserver import container_of, podman

from oc_jupyter.sdk import Image, Sandbox


def _run(api, sandbox_id: str, script: str) -> dict:
    response = api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "sh", "args": ["-c", script]})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def host_secret():
    path = Path(f"/tmp/oc-sec-secret-{secrets.token_hex(6)}.txt")
    content = f"host-only-{secrets.token_hex(8)}"
    path.write_text(content)
    yield path, content
    path.unlink(missing_ok=True)


def test_a_host_file_is_not_visible_in_a_sandbox(api, live_sandbox, host_secret):
    path, content = host_secret
    result = _run(
        api,
        live_sandbox,
        f"cat {path}; echo exit=$?; find / -xdev -name {path.name} 2>/dev/null; "
        f"grep -rl {content} /tmp /root /workspace 2>/dev/null; true",
    )
    assert content not in result["stdout"]
    assert "exit=1" in result["stdout"]
    assert path.name not in result["stdout"].replace(f"cat {path}", "")
    read = api.get(f"/sandboxes/{live_sandbox}/files", params={"path": str(path)})
    assert read.status_code == 404


def test_the_sandbox_container_has_no_mount_and_no_privilege(live_sandbox):
    ctr = container_of(live_sandbox)
    info = json.loads(podman("inspect", ctr).stdout)[0]
    assert info["Mounts"] == [], info["Mounts"]
    host = info["HostConfig"]
    assert not host.get("Binds"), host.get("Binds")
    assert host.get("Privileged") is False
    assert not host.get("CapAdd")
    assert host.get("PidMode") in ("", "private", None), host.get("PidMode")
    assert host.get("NetworkMode") != "host", "a sandbox must not share the host's network"


def test_a_sandbox_cannot_see_host_processes(api, live_sandbox, local_server):
    server_pid = json.loads((local_server.home / "server.json").read_text())["pid"]
    result = _run(api, live_sandbox, "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done")
    assert "oc_jupyter.local" not in result["stdout"]
    assert f"/proc/{server_pid}" not in result["stdout"]


def test_a_sandbox_cannot_reach_the_local_api(api, live_sandbox, local_server):
    port = int(local_server.url.rsplit(":", 1)[1])
    probe = (
        "import socket, struct\n"
        "gateways = set(['127.0.0.1', 'host.containers.internal'])\n"
        "for line in open('/proc/net/route').read().splitlines()[1:]:\n"
        "    f = line.split()\n"
        "    if f[1] == '00000000':\n"
        "        gateways.add(socket.inet_ntoa(struct.pack('<L', int(f[2], 16))))\n"
        "for host in sorted(gateways):\n"
        "    s = socket.socket(); s.settimeout(3)\n"
        "    try:\n"
        f"        s.connect((host, {port})); s.sendall(b'GET /health HTTP/1.0\\r\\n\\r\\n')\n"
        "        print(host, 'REACHED', s.recv(100))\n"
        "    except Exception as e:\n"
        "        print(host, 'refused', type(e).__name__)\n"
    )
    result = _run(api, live_sandbox, f'python3 -c "{probe}"')
    assert result["exitCode"] == 0, result
    assert "REACHED" not in result["stdout"], result["stdout"]
    assert "127.0.0.1 refused" in result["stdout"]


def test_add_dir_through_a_symlink_in_the_image_cannot_write_on_the_host(api, sdk_config, nonce):
    escape = Path(f"/tmp/oc-sec-escape-{nonce}")
    image = (
        Image.base()
        .run_commands(f"mkdir -p /w && ln -s {escape} /w/escape && ln -s /etc /w/etc-link")
        .add_file(f"/w/escape/pwned-{nonce}.txt", "written through a link")
    )
    wire = image.to_dict()
    wire["steps"].append(
        {
            "type": "add_dir",
            "args": {"path": "/w/escape", "files": [{"relativePath": f"dir-{nonce}/x.txt", "content": "eA=="}]},
        }
    )
    created = api.post("/sandboxes", json={"image": wire, "timeout": 0})
    try:
        assert created.status_code in (201, 400), created.text
        assert not escape.exists(), f"a build wrote {escape} on the host"
        assert not list(Path("/tmp").glob(f"pwned-{nonce}*"))
        if created.status_code == 201:
            sandbox_id = created.json()["sandboxID"]
            listing = _run(api, sandbox_id, f"ls -R {escape} 2>&1; true")["stdout"]
            assert f"pwned-{nonce}.txt" in listing  # it landed inside the container's own file system
            api.delete(f"/sandboxes/{sandbox_id}")
    finally:
        from oc_jupyter.local.manifest import Manifest

        for h in Manifest.model_validate(wire).layer_hashes():
            if podman("image", "exists", f"localhost/oc-jupyter/layer:{h}").returncode == 0:
                podman("rmi", "-f", f"localhost/oc-jupyter/layer:{h}")


@pytest.mark.parametrize("relative", ["../outside.txt", "a/../../outside.txt", "/etc/cron.d/outside", "..", "./.."])
def test_add_dir_cannot_name_a_file_outside_its_folder(api, relative):
    before = api.get("/snapshots").json()
    response = api.post(
        "/snapshots",
        json={
            "name": "sec-escape",
            "image": {
                "base": "base",
                "steps": [
                    {
                        "type": "add_dir",
                        "args": {"path": "/w", "files": [{"relativePath": relative, "content": "eA=="}]},
                    }
                ],
            },
        },
    )
    assert response.status_code == 400, response.text
    assert repr(relative) in response.json()["error"] or relative in response.json()["error"]
    assert api.get("/snapshots").json() == before


def test_the_sdk_never_embeds_a_file_a_symlink_leads_to_outside_the_folder(tmp_path, host_secret):
    path, content = host_secret
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    (folder / "secret-link").symlink_to(path)
    (folder / "root-link").symlink_to("/")
    with pytest.warns(UserWarning):
        image = Image.base().add_local_dir(folder, "/w/proj")
    assert [p for p, _ in image.files()] == ["/w/proj/ok.txt"]
    assert content not in json.dumps(image.to_dict())


@pytest.fixture
def nonce() -> str:
    return secrets.token_hex(6)


async def test_sandbox_env_and_metadata_do_not_carry_the_key(sdk_config, local_server):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        result = await sandbox.commands.run("env; cat /etc/environment 2>/dev/null; true")
        assert local_server.key not in result.stdout
        assert "OC_JUPYTER_SERVER_KEY" not in result.stdout
    finally:
        await sandbox.kill()
