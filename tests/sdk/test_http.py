"""What the SDK puts on the wire (path, headers, body byte for byte) and how it reads failures."""

from __future__ import annotations

import json
import socket

import pytest
from sdk_servers import KEY, Reply, sse

from oc_jupyter.sdk import (
    AuthError,
    BackendUnavailable,
    Config,
    Conflict,
    Image,
    RequestError,
    Sandbox,
    SandboxNotFound,
    SnapshotNotFound,
    Snapshots,
)
from oc_jupyter.sdk._http import SDK_VERSION

SANDBOX = {"sandboxID": "sb-1", "status": "running", "templateID": "base"}


def _common_headers(recorded):
    assert recorded.headers["x-api-key"] == KEY
    assert recorded.headers["x-oc-sdk-version"] == SDK_VERSION


async def test_create_from_image_sends_the_manifest_and_asks_for_a_stream(recorder):
    recorder.route("POST", "/api/sandboxes", Reply(stream=sse(("result", SANDBOX))))
    image = Image.base().apt_install(["curl"]).env({"A": "<1>"}).add_file("/w/x", "hi")
    sandbox = await Sandbox.create(image=image, envs={"E": "1"}, config=recorder.config)
    assert sandbox.id == "sb-1" and sandbox.status == "running"
    [sent] = recorder.requests
    assert (sent.method, sent.path) == ("POST", "/api/sandboxes")
    _common_headers(sent)
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == (
        b'{"envs":{"E":"1"},"image":{"base":"base","steps":['
        b'{"type":"apt_install","args":{"packages":["curl"]}},'
        b'{"type":"env","args":{"vars":{"A":"\\u003c1\\u003e"}}},'
        b'{"type":"add_file","args":{"content":"aGk=","encoding":"base64","path":"/w/x"}}]},'
        b'"templateID":"base","timeout":0}'
    )
    assert json.loads(sent.body)["image"] == image.to_dict()


async def test_create_sends_resources_in_upstream_keys_and_takes_template_first(recorder):
    recorder.route("POST", "/api/sandboxes", Reply(200, SANDBOX))
    sandbox = await Sandbox.create(
        "base",
        60,
        None,
        None,
        None,
        None,
        None,
        None,
        4096,
        2048,
        config=recorder.config,
        cpu_count=2,
        network=False,
    )
    assert sandbox.id == "sb-1"
    [sent] = recorder.requests
    assert json.loads(sent.body) == {
        "templateID": "base",
        "timeout": 60,
        "diskMB": 4096,
        "memoryMB": 2048,
        "cpuCount": 2,
        "networkEnabled": False,
    }


async def test_create_leaves_defaults_off_the_wire(recorder):
    recorder.route("POST", "/api/sandboxes", Reply(200, SANDBOX))
    await Sandbox.create(config=recorder.config)
    [sent] = recorder.requests
    assert json.loads(sent.body) == {"templateID": "base", "timeout": 0}


async def test_kill_asks_to_delete_the_secret_store_only_when_told(recorder):
    recorder.route("DELETE", "/api/sandboxes/sb-1", Reply(204))
    await Sandbox("sb-1", recorder.config).kill()
    await Sandbox("sb-1", recorder.config).kill(delete_secret_store=True)
    plain, deleting = recorder.requests
    assert (plain.path, deleting.path) == ("/api/sandboxes/sb-1", "/api/sandboxes/sb-1?deleteSecretStore=true")


async def test_commands_run_body(recorder):
    recorder.route(
        "POST", "/api/sandboxes/sb-1/exec/run", Reply(200, {"exitCode": 3, "stdout": "out", "stderr": "err"})
    )
    result = await Sandbox("sb-1", recorder.config).commands.run("echo hi", timeout=5, env={"K": "V"}, cwd="/w")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out", "err")
    assert result["exitCode"] == 3
    [sent] = recorder.requests
    _common_headers(sent)
    assert sent.body == b'{"args":["-c","echo hi"],"cmd":"sh","cwd":"/w","envs":{"K":"V"},"timeout":5}'


async def test_files_requests(recorder):
    sandbox = Sandbox("sb-1", recorder.config)
    recorder.route("PUT", "/api/sandboxes/sb-1/files", Reply(204))
    recorder.route(
        "GET", "/api/sandboxes/sb-1/files", Reply(200, b"\x00raw", {"Content-Type": "application/octet-stream"})
    )
    recorder.route(
        "GET",
        "/api/sandboxes/sb-1/files/list",
        Reply(200, [{"name": "a b", "isDir": False, "size": 4, "path": "/w/a b"}]),
    )
    await sandbox.files.write("/w/a b", "data")
    assert await sandbox.files.read_bytes("/w/a b") == b"\x00raw"
    [entry] = await sandbox.files.list("/w")
    assert (entry.name, entry.is_dir, entry["isDir"], entry.size) == ("a b", False, False, 4)
    assert await sandbox.files.exists("/w/a b")
    put, get, listing, _ = recorder.requests
    assert (put.method, put.path, put.body) == ("PUT", "/api/sandboxes/sb-1/files?path=%2Fw%2Fa+b", b"data")
    assert get.path == "/api/sandboxes/sb-1/files?path=%2Fw%2Fa+b"
    assert listing.path == "/api/sandboxes/sb-1/files/list?path=%2Fw"
    with pytest.raises(ValueError, match="must be absolute"):
        await sandbox.files.read("relative.txt")


async def test_snapshot_create_body_and_sse_accept(recorder):
    info = {"id": "s1", "name": "ml", "status": "ready", "contentHash": "ab", "newField": 1}
    recorder.route("POST", "/api/snapshots", Reply(stream=sse(("result", info))))
    snaps = Snapshots(config=recorder.config)
    result = await snaps.create("ml", Image.base().pip_install(["pandas"]))
    assert result["status"] == "ready" and result.content_hash == "ab" and result["newField"] == 1
    [sent] = recorder.requests
    _common_headers(sent)
    assert sent.headers["accept"] == "text/event-stream"
    assert (
        sent.body
        == b'{"image":{"base":"base","steps":[{"type":"pip_install","args":{"packages":["pandas"]}}]},"name":"ml"}'
    )


async def test_error_envelope_becomes_the_exception_tree(recorder):
    snaps = Snapshots(config=recorder.config)
    recorder.route("GET", "/api/snapshots/nope", Reply(404, {"error": "snapshot 'nope' not found"}))
    with pytest.raises(SnapshotNotFound, match="snapshot 'nope' not found"):
        await snaps.get("nope")
    recorder.route("POST", "/api/snapshots", Reply(409, {"error": "snapshot name 'ml' is taken"}))
    with pytest.raises(Conflict, match="is taken"):
        await snaps.create("ml", Image.base())
    recorder.route("GET", "/api/sandboxes/sb-x", Reply(404, {"error": "sandbox sb-x not found"}))
    with pytest.raises(SandboxNotFound):
        await Sandbox.connect("sb-x", config=recorder.config)
    recorder.route("POST", "/api/sandboxes", Reply(400, {"error": "timeout must be >= 0"}))
    with pytest.raises(RequestError, match="timeout must be >= 0"):
        await Sandbox.create(config=recorder.config, timeout=-1)


async def test_auth_error_hints_at_the_key_and_never_shows_it(recorder):
    cloudish = Config(recorder.url, KEY, "cloud")
    recorder.route("GET", "/api/snapshots", Reply(401, {"error": f"invalid key {KEY}"}))
    with pytest.raises(AuthError) as info:
        await Snapshots(config=cloudish).list()
    assert "OPENCOMPUTER_API_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in repr(cloudish) and KEY not in str(cloudish)


async def test_idempotent_requests_retry_transient_failures(recorder):
    recorder.route(
        "GET",
        "/api/snapshots",
        Reply(503, {"error": "busy"}),
        Reply(429, {"error": "slow down"}, {"Retry-After": "0"}),
        Reply(200, []),
    )
    assert await Snapshots(config=recorder.config).list() == []
    assert [r.method for r in recorder.requests] == ["GET", "GET", "GET"]


async def test_posts_that_could_run_twice_are_never_retried(recorder):
    recorder.route(
        "POST", "/api/sandboxes/sb-1/exec/run", Reply(503, {"error": "engine busy"}), Reply(200, {"exitCode": 0})
    )
    with pytest.raises(BackendUnavailable, match="engine busy"):
        await Sandbox("sb-1", recorder.config).commands.run("rm -rf /tmp/x")
    assert len(recorder.requests) == 1


async def test_retries_give_up_with_the_server_message(recorder):
    recorder.route("GET", "/api/sandboxes", Reply(502, {"error": "bad gateway"}))
    with pytest.raises(BackendUnavailable, match="502: bad gateway"):
        await Sandbox.list(config=recorder.config)
    assert len(recorder.requests) == 4


async def test_unreachable_backend_is_backend_unavailable_not_an_httpx_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Config(f"http://127.0.0.1:{port}", KEY)
    with pytest.raises(BackendUnavailable) as info:
        await Sandbox.list(config=config)
    assert "cannot reach the local backend" in str(info.value)
    assert type(info.value.__cause__).__module__.startswith("httpx")


async def test_a_reply_that_is_not_the_api_is_reported_not_leaked(recorder):
    recorder.route("GET", "/api/snapshots", Reply(200, "<html>login</html>", {"Content-Type": "text/html"}))
    with pytest.raises(BackendUnavailable, match="sent a reply this client cannot read"):
        await Snapshots(config=recorder.config).list()
    recorder.route("POST", "/api/sandboxes", Reply(201, {"status": "running"}))
    with pytest.raises(BackendUnavailable, match="without a sandboxID"):
        await Sandbox.create(config=recorder.config)
