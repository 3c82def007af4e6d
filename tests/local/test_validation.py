"""Bad input gets a 4xx with one clear sentence, and nothing is stored half-made."""

from __future__ import annotations

import pytest

from .conftest import b64, manifest, nonce, run_step


def _file(path, content="aGk=", **extra):
    return {"type": "add_file", "args": {"path": path, "content": content, **extra}}


def _dir(path, *files):
    return {
        "type": "add_dir",
        "args": {"path": path, "files": [{"relativePath": r, "content": b64("x")} for r in files]},
    }


BAD_IMAGES = {
    "unknown step type": ({"steps": [{"type": "copy_everything", "args": {}}]}, "Unknown step type 'copy_everything'"),
    "step without type": ({"steps": [{"args": {}}]}, "has no 'type'"),
    "relative add_file path": (manifest(_file("etc/x")), "is not absolute"),
    "NUL in path": (manifest(_file("/etc/x\x00y")), "NUL character"),
    "relative workdir": (manifest({"type": "workdir", "args": {"path": "workspace"}}), "is not absolute"),
    "dotdot in relativePath": (manifest(_dir("/srv", "ok.txt", "../../etc/passwd")), "'..' segment"),
    "absolute relativePath": (manifest(_dir("/srv", "/etc/passwd")), "is absolute"),
    "empty relativePath": (manifest(_dir("/srv", "")), "relativePath is empty"),
    "encoding not base64": (manifest(_file("/x", encoding="utf-8")), "encoding"),
    "content not base64": (manifest(_file("/x", content="not base64!")), "is not valid base64"),
    "packages as a string": (manifest({"type": "pip_install", "args": {"packages": "pandas"}}), "valid list"),
    "no packages": (manifest({"type": "apt_install", "args": {"packages": []}}), "packages"),
    "bad env name": (manifest({"type": "env", "args": {"vars": {"1BAD": "x"}}}), "variable name '1BAD'"),
    "unknown base": ({"base": "ubuntu:22.04", "steps": []}, "image.base"),
    "steps not a list": ({"base": "base", "steps": {"type": "run"}}, "image.steps"),
}


def _one_sentence(message: str) -> None:
    assert message and message[0].isupper() and message.endswith(".")
    assert "\n" not in message


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
async def test_bad_manifest_is_400_with_one_sentence_and_stores_nothing(api, case):
    image, expected = BAD_IMAGES[case]
    name = f"bad-{nonce()}"
    for path, body in (("/snapshots", {"name": name, "image": image}), ("/sandboxes", {"image": image})):
        before = len((await api.get(path)).json())
        response = await api.post(path, json=body)
        assert response.status_code == 400, response.text
        message = response.json()["error"]
        assert expected in message
        _one_sentence(message)
        assert len((await api.get(path)).json()) == before
    assert (await api.get(f"/snapshots/{name}")).status_code == 404


async def test_malformed_json_is_400(api):
    response = await api.post(
        "/snapshots", content=b'{"name": "x", "image": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("The request body is not valid JSON")


@pytest.mark.parametrize("name", ["", "has space", "../up", "x" * 200, "-leading-dash"])
async def test_invalid_snapshot_names_are_refused(api, name):
    response = await api.post("/snapshots", json={"name": name, "image": manifest()})
    assert response.status_code == 400
    assert "snapshot name" in response.json()["error"]


async def test_missing_fields_and_wrong_types_are_named(api):
    missing = await api.post("/snapshots", json={"image": manifest()})
    assert (
        missing.status_code == 400 and missing.json()["error"] == "name is required but missing; add it to the request."
    )
    wrong = await api.post("/sandboxes", json={"timeout": "soon"})
    assert wrong.status_code == 400 and "timeout" in wrong.json()["error"] and "'soon'" in wrong.json()["error"]
    negative = await api.post("/sandboxes", json={"timeout": -5})
    assert negative.status_code == 400


async def test_unknown_snapshot_for_a_sandbox_is_404(api):
    response = await api.post("/sandboxes", json={"snapshot": f"never-made-{nonce()}"})
    assert response.status_code == 404
    assert "not found" in response.json()["error"]


async def test_unknown_sandbox_is_404_everywhere(api):
    for method, path in (("GET", "/sandboxes/sb-unknown"), ("DELETE", "/sandboxes/sb-unknown")):
        response = await api.request(method, path)
        assert response.status_code == 404 and "'sb-unknown'" in response.json()["error"]
    response = await api.post("/sandboxes/sb-unknown/timeout", json={"timeout": 5})
    assert response.status_code == 404


async def test_unknown_route_and_method_use_the_envelope(api):
    assert (await api.get("/no-such-thing")).json()["error"].startswith("No route")
    wrong = await api.put("/snapshots")
    assert wrong.status_code == 405 and "PUT" in wrong.json()["error"]


async def test_valid_manifest_with_every_step_type_is_accepted_by_the_preview(api):
    every = manifest(
        {"type": "apt_install", "args": {"packages": ["jq"]}},
        {"type": "pip_install", "args": {"packages": ["six"]}},
        run_step("true"),
        {"type": "env", "args": {"vars": {"A": "1"}}},
        {"type": "workdir", "args": {"path": "/w"}},
        _file("/w/a", encoding="base64"),
        _dir("/w/d", "x/y.txt"),
    )
    response = await api.post("/x-oc-jupyter/v1/cache-preview", json={"image": every})
    assert response.status_code == 200
    assert [s["type"] for s in response.json()["steps"]] == [s["type"] for s in every["steps"]]


async def test_unpaired_surrogates_are_refused(api):
    body = '{"image": {"steps": [{"type": "run", "args": {"commands": ["echo \\ud800"]}}]}}'
    response = await api.post("/sandboxes", content=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid Unicode" in response.json()["error"]
