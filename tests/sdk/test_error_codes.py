"""Error answers carry a code, and the SDK raises the class it names, over real HTTP to the local server."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio
from _support import container_name, engine, nonce

from oc_jupyter.sdk import (
    AuthError,
    BuildFailed,
    Conflict,
    Image,
    NotFound,
    PathConflict,
    PathNotFound,
    RequestError,
    Sandbox,
    SandboxNotFound,
    SandboxStopped,
    SnapshotNotFound,
    Snapshots,
    _http,
)
from oc_jupyter.wire.codes import STATUS, ErrorCode


@pytest.fixture
def raw(local_server):
    with httpx.Client(base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, timeout=60) as c:
        yield c


class Sent:
    """The requests the SDK's own HTTP client sends, read from httpx's event hook."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.lines.append(f"{request.method} {request.url.path}")


@pytest_asyncio.fixture
async def sent():
    recorder = Sent()
    hooks = _http.client().event_hooks
    hooks["request"].append(recorder)
    yield recorder
    hooks["request"].remove(recorder)


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", "/sandboxes/sb-nope", None, ErrorCode.SANDBOX_NOT_FOUND),
        ("GET", "/snapshots/no-such-snapshot", None, ErrorCode.SNAPSHOT_NOT_FOUND),
        ("POST", "/sandboxes", {"templateID": "nope", "timeout": 0}, ErrorCode.TEMPLATE_NOT_FOUND),
        ("POST", "/sandboxes", {"snapshot": "no-such-snapshot", "timeout": 0}, ErrorCode.SNAPSHOT_NOT_FOUND),
        ("POST", "/snapshots", {"name": "x", "image": {"steps": [{"type": "nope"}]}}, ErrorCode.BAD_REQUEST),
        ("GET", "/no-such-route", None, ErrorCode.NOT_FOUND),
        ("PATCH", "/sandboxes", None, ErrorCode.METHOD_NOT_ALLOWED),
    ],
)
def test_the_envelope_keeps_error_and_adds_a_code_with_its_status(raw, method, path, body, code):
    response = raw.request(method, path, json=body)
    data = response.json()
    assert data["code"] == code.value and response.status_code == STATUS[code]
    assert isinstance(data["error"], str) and data["error"].endswith((".", ")"))


def test_a_wrong_key_is_unauthorized(local_server):
    response = httpx.get(local_server.url + "/api/sandboxes", headers={"X-API-Key": "wrong"}, timeout=30)
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


async def test_unknown_names_raise_the_class_their_code_names(sdk_config):
    with pytest.raises(SandboxNotFound) as gone:
        await Sandbox.connect("sb-nope", config=sdk_config)
    assert gone.value.code == "sandbox_not_found" and gone.value.status == 404
    with pytest.raises(SnapshotNotFound) as missing:
        await Snapshots(config=sdk_config).get("no-such-snapshot")
    assert missing.value.code == "snapshot_not_found"
    with pytest.raises(NotFound) as template:
        await Sandbox.create(template="nope", config=sdk_config, timeout=0)
    assert template.value.code == "template_not_found"


async def test_a_wrong_key_raises_auth_error(local_server):
    from oc_jupyter.sdk import Config

    bad = Config(local_server.url, "not-the-key")
    with pytest.raises(AuthError) as refused:
        await Sandbox.list(config=bad)
    assert refused.value.code == "unauthorized" and "not-the-key" not in str(refused.value)


async def test_a_missing_path_is_path_not_found_without_a_second_request(base_sandbox, sent):
    with pytest.raises(PathNotFound) as missing:
        await base_sandbox.files.read(f"/tmp/{nonce()}/absent.txt")
    assert missing.value.code == "path_not_found"
    assert sent.lines == [f"GET /api/sandboxes/{base_sandbox.id}/files"]


async def test_a_folder_where_a_file_is_needed_is_path_conflict(base_sandbox):
    with pytest.raises(PathConflict) as clash:
        await base_sandbox.files.read("/tmp")
    assert clash.value.code == "path_conflict" and isinstance(clash.value, Conflict)


async def test_a_sandbox_stopped_outside_raises_sandbox_stopped_without_a_second_request(sdk_config, sent):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        assert engine("rm", "-f", "-t", "0", container_name(sandbox.id)).returncode == 0
        sent.lines.clear()
        with pytest.raises(SandboxStopped) as stopped:
            await sandbox.commands.run("true")
        assert stopped.value.code == "sandbox_stopped"
        assert sent.lines == [f"POST /api/sandboxes/{sandbox.id}/exec/run"]
    finally:
        try:
            await sandbox.kill()
        except SandboxNotFound:
            pass


async def test_a_taken_snapshot_name_is_a_conflict_with_its_code(sdk_config):
    snapshots = Snapshots(config=sdk_config)
    name = f"taken-{nonce()}"
    await snapshots.create(name=name, image=Image.base())
    try:
        with pytest.raises(Conflict) as taken:
            await snapshots.create(name=name, image=Image.base())
        assert taken.value.code == "name_taken"
    finally:
        await snapshots.delete(name)


def test_a_blocking_build_failure_is_build_failed_not_request_error(raw):
    name = f"fails-{nonce()}"
    image = {"steps": [{"type": "run", "args": {"commands": [f"echo {name}; exit 3"]}}]}
    response = raw.post("/snapshots", json={"name": name, "image": image}, timeout=600)
    assert (response.status_code, response.json()["code"]) == (400, "build_failed")
    from oc_jupyter.sdk import Config

    config = Config(str(raw.base_url).removesuffix("/api"), raw.headers["X-API-Key"])
    with pytest.raises(BuildFailed) as failed:
        _http.raise_for_response(response, config)
    assert not isinstance(failed.value, RequestError) and failed.value.code == "build_failed"
    raw.delete(f"/snapshots/{name}")


def test_backends_without_codes_fall_back_to_the_status():
    """The cloud sends no codes and cannot be reached from a test; its answers are built here instead."""
    from oc_jupyter.sdk import Config

    config = Config("https://api.example.test", "k")
    request = httpx.Request("GET", "https://api.example.test/api/x")
    for status, expected in [(404, SandboxNotFound), (409, Conflict), (400, RequestError)]:
        response = httpx.Response(status, json={"error": "no"}, request=request)
        with pytest.raises(expected) as raised:
            _http.raise_for_response(response, config, not_found=SandboxNotFound)
        assert raised.value.code is None and raised.value.status == status
    unknown = httpx.Response(404, json={"error": "no", "code": "some_future_code"}, request=request)
    with pytest.raises(SandboxNotFound):
        _http.raise_for_response(unknown, config, not_found=SandboxNotFound)
