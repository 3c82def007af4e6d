"""A catalogue of named bad inputs, each refused with one clear sentence and nothing stored.

Three families: requests sent over HTTP to the local server (manifests,
names, ids, paths, malformed bodies), values given to the SDK's ``Image``
builder (including local files: missing, binary, huge, symlinked), and
``%%oc_image`` recipes. Each case names the fragments its message must hold:
what was wrong, the offending value, and what to do.

Decided outcomes worth stating: a non-UTF-8 or binary local file is not bad
input, it is embedded byte for byte (base64 on the wire) and arrives intact
in the sandbox; a huge folder is accepted with a ``LargeFolderWarning`` naming
its biggest files; symlinks leading out of a folder, dangling ones and link
loops are skipped (with a warning for the first two), never followed.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import dataclass, field

import httpx
import pytest

from oc_jupyter.magics.recipe import RecipeError, build_image
from oc_jupyter.sdk import Image, LargeFolderWarning, LocalFileNotFound, Sandbox

GOOD_FILE = {"type": "add_file", "args": {"path": "/w/a.txt", "content": "aGk=", "encoding": "base64"}}


def manifest(*steps, **extra) -> dict:
    return {"base": "base", "steps": list(steps), **extra}


def snapshot_body(*steps, name: str = "cat-snap", **extra) -> dict:
    return {"name": name, "image": manifest(*steps, **extra)}


@dataclass
class Http:
    """One bad request: where it goes, what it sends, the status and message fragments expected."""

    method: str
    path: str
    status: int
    fragments: tuple[str, ...]
    json: object = None
    content: bytes | None = None
    params: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


HTTP_CASES = {
    # ── malformed bodies ──
    "malformed JSON": Http(
        "POST",
        "/snapshots",
        400,
        ("not valid JSON", "send a JSON object"),
        content=b'{"name": "x", "image": ',
        headers={"Content-Type": "application/json"},
    ),
    "body is a JSON list": Http("POST", "/snapshots", 400, ("Invalid",), json=[1, 2]),
    "empty body": Http(
        "POST", "/snapshots", 400, ("required",), content=b"", headers={"Content-Type": "application/json"}
    ),
    "missing name": Http("POST", "/snapshots", 400, ("name is required",), json={"image": manifest()}),
    "missing image": Http("POST", "/snapshots", 400, ("image is required",), json={"name": "cat-snap"}),
    # ── snapshot names ──
    "name of the wrong type": Http("POST", "/snapshots", 400, ("name",), json={"name": 123, "image": manifest()}),
    "empty snapshot name": Http(
        "POST", "/snapshots", 400, ("snapshot name", "is invalid", "letters, digits"), json=snapshot_body(name="")
    ),
    "snapshot name with a space": Http(
        "POST", "/snapshots", 400, ("'my snap'", "is invalid"), json=snapshot_body(name="my snap")
    ),
    "snapshot name with ..": Http(
        "POST", "/snapshots", 400, ("'../etc'", "is invalid"), json=snapshot_body(name="../etc")
    ),
    "snapshot name too long": Http(
        "POST", "/snapshots", 400, ("is invalid", "1 to 128"), json=snapshot_body(name="a" * 200)
    ),
    "snapshot name with NUL": Http("POST", "/snapshots", 400, ("is invalid",), json=snapshot_body(name="a\x00b")),
    # ── manifests ──
    "unknown step type": Http(
        "POST",
        "/snapshots",
        400,
        ("Unknown step type 'copy'", "valid types are"),
        json=snapshot_body({"type": "copy", "args": {}}),
    ),
    "step without a type": Http(
        "POST", "/snapshots", 400, ("has no 'type'",), json=snapshot_body({"args": {"commands": ["true"]}})
    ),
    "steps not a list": Http(
        "POST", "/snapshots", 400, ("image.steps",), json={"name": "x", "image": {"steps": "run"}}
    ),
    "unknown base": Http("POST", "/snapshots", 400, ("image.base",), json={"name": "x", "image": {"base": "ubuntu"}}),
    "builderMemoryMB not a number": Http(
        "POST", "/snapshots", 400, ("builderMemoryMB",), json=snapshot_body(builderMemoryMB="lots")
    ),
    "apt_install with no package": Http(
        "POST", "/snapshots", 400, ("packages",), json=snapshot_body({"type": "apt_install", "args": {"packages": []}})
    ),
    "apt_install packages as a string": Http(
        "POST",
        "/snapshots",
        400,
        ("packages",),
        json=snapshot_body({"type": "apt_install", "args": {"packages": "curl"}}),
    ),
    "pip_install blank package": Http(
        "POST",
        "/snapshots",
        400,
        ("package name is empty",),
        json=snapshot_body({"type": "pip_install", "args": {"packages": ["  "]}}),
    ),
    "run with no command": Http(
        "POST", "/snapshots", 400, ("commands",), json=snapshot_body({"type": "run", "args": {"commands": []}})
    ),
    "run command with NUL": Http(
        "POST",
        "/snapshots",
        400,
        ("NUL character",),
        json=snapshot_body({"type": "run", "args": {"commands": ["echo a\x00b"]}}),
    ),
    "env name starting with a digit": Http(
        "POST",
        "/snapshots",
        400,
        ("'1BAD'", "invalid"),
        json=snapshot_body({"type": "env", "args": {"vars": {"1BAD": "x"}}}),
    ),
    "env value not a string": Http(
        "POST", "/snapshots", 400, ("vars",), json=snapshot_body({"type": "env", "args": {"vars": {"N": 1}}})
    ),
    "workdir relative": Http(
        "POST",
        "/snapshots",
        400,
        ("'workspace'", "not absolute", "start it with '/'"),
        json=snapshot_body({"type": "workdir", "args": {"path": "workspace"}}),
    ),
    "workdir with NUL": Http(
        "POST",
        "/snapshots",
        400,
        ("NUL character",),
        json=snapshot_body({"type": "workdir", "args": {"path": "/w\x00x"}}),
    ),
    "add_file relative path": Http(
        "POST",
        "/snapshots",
        400,
        ("'etc/passwd'", "not absolute"),
        json=snapshot_body({"type": "add_file", "args": {"path": "etc/passwd", "content": "aGk="}}),
    ),
    "add_file path with a line break": Http(
        "POST",
        "/snapshots",
        400,
        ("line break",),
        json=snapshot_body({"type": "add_file", "args": {"path": "/w/a\nb", "content": "aGk="}}),
    ),
    "add_file to the root folder": Http(
        "POST",
        "/snapshots",
        400,
        ("'/'",),
        json=snapshot_body({"type": "add_file", "args": {"path": "/", "content": "aGk="}}, name="cat-root"),
    ),
    "add_file to a path ending in /": Http(
        "POST",
        "/snapshots",
        400,
        ("'/w/'",),
        json=snapshot_body({"type": "add_file", "args": {"path": "/w/", "content": "aGk="}}, name="cat-slash"),
    ),
    "add_file content not base64": Http(
        "POST",
        "/snapshots",
        400,
        ("not valid base64",),
        json=snapshot_body({"type": "add_file", "args": {"path": "/w/a", "content": "not base64!!"}}),
    ),
    "add_file encoding utf-8": Http(
        "POST",
        "/snapshots",
        400,
        ("encoding",),
        json=snapshot_body({"type": "add_file", "args": {"path": "/w/a", "content": "aGk=", "encoding": "utf-8"}}),
    ),
    "add_dir relativePath ../x": Http(
        "POST",
        "/snapshots",
        400,
        ("'../x'", "'..' segment", "escape the folder"),
        json=snapshot_body(
            {"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "../x", "content": "aGk="}]}}
        ),
    ),
    "add_dir relativePath a/../../x": Http(
        "POST",
        "/snapshots",
        400,
        ("'..' segment",),
        json=snapshot_body(
            {"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "a/../../x", "content": ""}]}}
        ),
    ),
    "add_dir relativePath with backslashes": Http(
        "POST",
        "/snapshots",
        400,
        ("'..' segment",),
        json=snapshot_body(
            {"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "..\\..\\x", "content": ""}]}}
        ),
    ),
    "add_dir absolute relativePath": Http(
        "POST",
        "/snapshots",
        400,
        ("'/etc/cron.d/x'", "is absolute"),
        json=snapshot_body(
            {"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "/etc/cron.d/x", "content": ""}]}}
        ),
    ),
    "add_dir empty relativePath": Http(
        "POST",
        "/snapshots",
        400,
        ("relativePath is empty",),
        json=snapshot_body({"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "", "content": ""}]}}),
    ),
    "add_dir relativePath with NUL": Http(
        "POST",
        "/snapshots",
        400,
        ("NUL character",),
        json=snapshot_body(
            {"type": "add_dir", "args": {"path": "/w", "files": [{"relativePath": "a\x00", "content": ""}]}}
        ),
    ),
    "bad manifest in a sandbox create": Http(
        "POST", "/sandboxes", 400, ("Unknown step type 'nope'",), json={"image": manifest({"type": "nope", "args": {}})}
    ),
    "bad manifest in a cache preview": Http(
        "POST",
        "/x-oc-jupyter/v1/cache-preview",
        400,
        ("not absolute",),
        json={"image": manifest({"type": "workdir", "args": {"path": "w"}})},
    ),
    # ── sandboxes ──
    "sandbox from an unknown snapshot": Http(
        "POST", "/sandboxes", 404, ("Snapshot 'no-such-snap' not found",), json={"snapshot": "no-such-snap"}
    ),
    "sandbox from an unknown template": Http(
        "POST", "/sandboxes", 404, ("Template 'gpu-xl' not found", "'base'"), json={"templateID": "gpu-xl"}
    ),
    "negative sandbox timeout": Http("POST", "/sandboxes", 400, ("timeout",), json={"timeout": -5}),
    "sandbox timeout as a string": Http("POST", "/sandboxes", 400, ("timeout",), json={"timeout": "5"}),
    "sandbox env name with =": Http(
        "POST", "/sandboxes", 400, ("environment variable name", "invalid"), json={"envs": {"A=B": "c"}}
    ),
    "unknown snapshot": Http("GET", "/snapshots/no-such-snap", 404, ("Snapshot 'no-such-snap' not found",)),
    "delete an unknown snapshot": Http("DELETE", "/snapshots/no-such-snap", 404, ("'no-such-snap' not found",)),
    "unknown sandbox id": Http("GET", "/sandboxes/sb-0000000000000000", 404, ("'sb-0000000000000000' not found",)),
    "kill an unknown sandbox": Http("DELETE", "/sandboxes/sb-0000000000000000", 404, ("not found",)),
    "run in an unknown sandbox": Http(
        "POST", "/sandboxes/sb-0000000000000000/exec/run", 404, ("not found",), json={"cmd": "true"}
    ),
    "files of an unknown sandbox": Http(
        "GET", "/sandboxes/sb-0000000000000000/files", 404, ("not found",), params={"path": "/etc/hostname"}
    ),
    "sandbox id with ..": Http("GET", "/sandboxes/..%2f..%2fsnapshots", 404, ("No route",)),
    "unknown route": Http("GET", "/nothing-here", 404, ("No route", "/openapi.json")),
    "wrong method": Http("PATCH", "/snapshots", 405, ("not allowed",)),
}

# Requests against a real sandbox ({sb} is replaced by its id).
SANDBOX_CASES = {
    "file path relative": Http(
        "GET", "/sandboxes/{sb}/files", 400, ("'etc/passwd'", "must be absolute"), params={"path": "etc/passwd"}
    ),
    "file path with NUL": Http("GET", "/sandboxes/{sb}/files", 400, ("NUL",), params={"path": "/etc/pass\x00wd"}),
    "write to a relative path": Http(
        "PUT", "/sandboxes/{sb}/files", 400, ("must be absolute",), params={"path": "../x"}, content=b"x"
    ),
    "read a missing file": Http(
        "GET", "/sandboxes/{sb}/files", 404, ("/no/such/file",), params={"path": "/no/such/file"}
    ),
    "list a missing folder": Http(
        "GET", "/sandboxes/{sb}/files/list", 404, ("/no/such/dir",), params={"path": "/no/such/dir"}
    ),
    "run with an empty cmd": Http("POST", "/sandboxes/{sb}/exec/run", 400, ("cmd",), json={"cmd": ""}),
    "run with a missing cwd": Http(
        "POST",
        "/sandboxes/{sb}/exec/run",
        400,
        ("'/no/such/dir'", "does not exist"),
        json={"cmd": "true", "cwd": "/no/such/dir"},
    ),
    "run with an env name holding =": Http(
        "POST", "/sandboxes/{sb}/exec/run", 400, ("'A=B'", "invalid"), json={"cmd": "true", "envs": {"A=B": "c"}}
    ),
    "run with NUL in an argument": Http(
        "POST", "/sandboxes/{sb}/exec/run", 400, ("NUL character",), json={"cmd": "echo", "args": ["a\x00b"]}
    ),
    "kill an unknown session": Http(
        "POST", "/sandboxes/{sb}/exec/no-such-session/kill", 404, ("no-such-session",), json={"signal": 9}
    ),
    "timeout as a string": Http("POST", "/sandboxes/{sb}/timeout", 400, ("timeout",), json={"timeout": "soon"}),
}


def assert_one_clear_sentence(message: str, fragments: tuple[str, ...]) -> None:
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from {message!r}"
    assert "Traceback" not in message and "pydantic" not in message.lower(), message
    assert 10 < len(message) < 600, message
    assert "\n" not in message.strip(), message


@pytest.fixture(scope="module")
def api(bad_server):
    with httpx.Client(
        base_url=bad_server.url + "/api", headers=bad_server.headers, trust_env=False, timeout=httpx.Timeout(60)
    ) as client:
        yield client


@pytest.fixture(scope="module")
def taken_name(api):
    """A ready snapshot (of the bare base: nothing to build) whose name later creates must not take."""
    created = api.post("/snapshots", json={"name": "cat-taken", "image": manifest()})
    assert created.status_code == 201, created.text
    return "cat-taken"


@pytest.fixture(scope="module")
def sandbox_id(api):
    created = api.post("/sandboxes", json={"timeout": 0})
    assert created.status_code == 201, created.text
    return created.json()["sandboxID"]


def _state(api) -> tuple:
    snaps = sorted((s["name"], s["status"], s["contentHash"]) for s in api.get("/snapshots").json())
    boxes = sorted(s["sandboxID"] for s in api.get("/sandboxes").json())
    return snaps, boxes


def _send(api, case: Http, **subst):
    path = case.path.format(**subst)
    return api.request(
        case.method,
        path,
        params=case.params,
        headers=case.headers,
        **({"json": case.json} if case.content is None else {"content": case.content}),
    )


@pytest.mark.parametrize("name", list(HTTP_CASES))
def test_bad_request_is_refused_clearly_and_stores_nothing(api, taken_name, name):
    case = HTTP_CASES[name]
    before = _state(api)
    response = _send(api, case)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_one_clear_sentence(response.json()["error"], case.fragments)
    assert _state(api) == before


@pytest.mark.parametrize("name", list(SANDBOX_CASES))
def test_bad_request_in_a_sandbox_is_refused_clearly(api, sandbox_id, name):
    case = SANDBOX_CASES[name]
    before = _state(api)
    response = _send(api, case, sb=sandbox_id)
    assert response.status_code == case.status, response.text
    assert_one_clear_sentence(response.json()["error"], case.fragments)
    assert _state(api) == before
    assert api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "true"}).json()["exitCode"] == 0


def test_a_taken_snapshot_name_is_409_naming_it(api, taken_name):
    before = _state(api)
    response = api.post("/snapshots", json={"name": taken_name, "image": manifest(GOOD_FILE)})
    assert response.status_code == 409
    assert_one_clear_sentence(response.json()["error"], (f"{taken_name!r} is taken", "delete it first"))
    assert _state(api) == before


# ── the Image builder and local files ──────────────────────────────────────
BUILDER_CASES = {
    "apt_install given a str": (lambda: Image.base().apt_install("curl jq"), TypeError, ("['curl', 'jq']",)),
    "pip_install of nothing": (lambda: Image.base().pip_install([]), ValueError, ("at least one package",)),
    "blank package": (lambda: Image.base().pip_install([" "]), ValueError, ("blank",)),
    "relative workdir": (lambda: Image.base().workdir("workspace"), ValueError, ("'workspace'", "must be absolute")),
    "env name with a dash": (lambda: Image.base().env({"MY-VAR": "1"}), ValueError, ("'MY-VAR'", "not valid")),
    "env value not a str": (lambda: Image.base().env({"N": 1}), TypeError, ("N", "'1'")),
    "command with NUL": (lambda: Image.base().run_commands("echo a\x00b"), ValueError, ("NUL",)),
    "command with a lone surrogate": (lambda: Image.base().run_commands("echo \udc80"), ValueError, ("surrogate",)),
    "run_commands given a list": (lambda: Image.base().run_commands(["a", "b"]), TypeError, ("run_commands(*",)),
    "add_file content of a wrong type": (lambda: Image.base().add_file("/w/a", 12), TypeError, ("str or bytes",)),
    "add_file relative remote path": (lambda: Image.base().add_file("w/a", "x"), ValueError, ("'w/a'", "absolute")),
    "add_local_file that does not exist": (
        lambda: Image.base().add_local_file("no-such.csv", "/w/x", base_dir="/tmp"),
        LocalFileNotFound,
        ("'no-such.csv' not found", "/tmp"),
    ),
    "add_local_file of a folder": (
        lambda: Image.base().add_local_file("/tmp", "/w/x"),
        LocalFileNotFound,
        ("not a file", "add_local_dir"),
    ),
    "add_local_dir of a file": (
        lambda: Image.base().add_local_dir("/etc/hostname", "/w/x"),
        LocalFileNotFound,
        ("not a folder", "add_local_file"),
    ),
}


@pytest.mark.parametrize("name", list(BUILDER_CASES))
def test_bad_builder_input_is_refused_at_call_time(name):
    call, kind, fragments = BUILDER_CASES[name]
    with pytest.raises(kind) as caught:
        call()
    assert_one_clear_sentence(str(caught.value), fragments)


def test_symlinks_out_of_a_folder_dangling_and_looping_are_never_followed(tmp_path):
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("host secret")
    folder = tmp_path / "project"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "data.txt").write_text("inside")
    os.symlink(secret, folder / "leak.txt")
    os.symlink("/etc", folder / "etc-link")
    os.symlink(folder / "missing", folder / "dangling")
    os.symlink(folder, folder / "sub" / "loop")
    os.symlink("data.txt", folder / "sub" / "alias.txt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = Image.base().add_local_dir(folder, "/w/project")
    paths = sorted(p for p, _ in image.files())
    assert paths == ["/w/project/sub/alias.txt", "/w/project/sub/data.txt"], paths
    message = " ".join(str(w.message) for w in caught)
    assert "leak.txt" in message and "etc-link" in message and "dangling" in message, message
    assert "host secret" not in str(image.to_dict())


def test_a_huge_folder_warns_naming_its_biggest_files(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    with open(folder / "weights.bin", "wb") as handle:
        handle.truncate(51 * 1024 * 1024)
    (folder / "small.txt").write_text("x")
    with pytest.warns(LargeFolderWarning) as caught:
        image = Image.base().add_local_dir(folder, "/w/big")
    message = str(caught[0].message)
    assert "weights.bin" in message and "51.0 MB" in message and ".ocignore" in message, message
    assert len(image.files()) == 2


async def test_non_utf8_and_binary_local_files_arrive_byte_for_byte(tmp_path, sdk_config):
    latin1 = "café über".encode("latin-1")
    binary = bytes(range(256)) * 4 + b"\x00\xff\xfe"
    (tmp_path / "latin1.txt").write_bytes(latin1)
    (tmp_path / "blob.bin").write_bytes(binary)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "nul.bin").write_bytes(b"a\x00b\x00")
    image = (
        Image.base()
        .add_local_file(tmp_path / "latin1.txt", "/w/latin1.txt")
        .add_local_file(tmp_path / "blob.bin", "/w/blob.bin")
        .add_local_dir(tmp_path / "dir", "/w/dir")
        .run_commands(f"echo {tmp_path.name}")
    )
    rebuilt = (
        Image.base()
        .add_local_file(tmp_path / "latin1.txt", "/w/latin1.txt")
        .add_local_file(tmp_path / "blob.bin", "/w/blob.bin")
        .add_local_dir(tmp_path / "dir", "/w/dir")
        .run_commands(f"echo {tmp_path.name}")
    )
    assert rebuilt is not image and rebuilt.cache_key() == image.cache_key()
    sandbox = await Sandbox.create(image=image, config=sdk_config, timeout=0)
    try:
        assert await sandbox.files.read_bytes("/w/latin1.txt") == latin1
        assert await sandbox.files.read_bytes("/w/blob.bin") == binary
        assert await sandbox.files.read_bytes("/w/dir/nul.bin") == b"a\x00b\x00"
    finally:
        await sandbox.kill()
        from ownserver import remove_layers

        await asyncio.to_thread(remove_layers, image)


# ── %%oc_image recipes ─────────────────────────────────────────────────────
RECIPE_CASES = {
    "unknown keyword": ("frobnicate x", ("Line 1", "unknown keyword 'frobnicate'", "valid keywords are")),
    "unknown keyword on line 3": ("apt curl\n\nfrom ubuntu", ("Line 3", "'from'")),
    "apt with no package": ("apt", ("Line 1", "at least one package")),
    "pip with unbalanced quotes": ('pip "pandas>=2', ("Line 1", "quoting is unbalanced")),
    "run with no command": ("run", ("Line 1", "needs a shell command")),
    "env without =": ("env DEBUG", ("Line 1", "'DEBUG'", "KEY=VALUE")),
    "env name starting with a digit": ("env 1X=2", ("Line 1", "'1X=2'")),
    "workdir relative": ("workdir workspace", ("Line 1", "absolute")),
    "workdir with two paths": ("workdir /a /b", ("Line 1", "exactly one absolute path")),
    "copy with one argument": ("copy data.csv", ("Line 1", "local source and a sandbox destination")),
    "copy of a missing file": ("copy no-such-file.csv /w/", ("Line 1", "'no-such-file.csv' not found")),
    "copy to a relative path without workdir": ("copy /etc/hostname data/", ("Line 1", "relative")),
    "file without heredoc": ("file /w/a.txt", ("Line 1", "heredoc")),
    "heredoc never closed": ("file /w/a.txt <<EOF\nhello", ("Line 1", "'EOF' is never closed")),
    "file to a relative path": ("file a.txt <<EOF\nx\nEOF", ("Line 1", "'a.txt'", "absolute")),
    "continuation at the end": ("run echo a \\", ("Line 1", "continuation")),
    "interpolation of a failing expression": ("run echo {x.missing}", ("Line 1", "{x.missing}")),
}


@pytest.mark.parametrize("name", list(RECIPE_CASES))
def test_bad_recipe_names_the_line_and_the_fix(name):
    text, fragments = RECIPE_CASES[name]
    with pytest.raises(RecipeError) as caught:
        build_image(text, {"x": object()}, base_dir="/tmp")
    assert isinstance(caught.value, ValueError)
    assert_one_clear_sentence(str(caught.value), fragments)
