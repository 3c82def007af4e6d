"""The wire contract package: validation rules, step descriptions, build-event parsing, error codes."""

from __future__ import annotations

import pytest

from oc_jupyter.sdk import Image
from oc_jupyter.wire.codes import STATUS, ErrorCode
from oc_jupyter.wire.describe import describe_step, human_size
from oc_jupyter.wire.events import PHASES, infer_phase, parse_step_line
from oc_jupyter.wire.gojson import Blob
from oc_jupyter.wire.manifest import Manifest, decode_base64
from oc_jupyter.wire.validate import absolute_path_problem, is_env_name, relative_path_problem, text_problem


@pytest.mark.parametrize(("name", "ok"), [("A", True), ("_x1", True), ("1A", False), ("A-B", False), ("", False)])
def test_env_names_follow_the_shell(name, ok):
    assert is_env_name(name) is ok


def test_text_and_path_rules_name_the_reason():
    assert text_problem("fine") is None
    assert text_problem("a\x00b") == "contains a NUL character"
    assert text_problem("\ud800") == "is not valid Unicode (it holds an unpaired surrogate)"
    assert absolute_path_problem("/w/x") is None
    assert absolute_path_problem("w/x") == "is not absolute"
    assert absolute_path_problem("/w\nx") == "contains a line break"
    assert relative_path_problem("src/a.py") is None
    assert relative_path_problem("") == "is empty"
    assert relative_path_problem("/abs") == "is absolute"
    assert relative_path_problem("a/../../etc") == "contains a '..' segment, which could escape the folder"


def test_one_description_for_the_sdk_the_widgets_and_the_server():
    image = Image.base().apt_install(["curl", "jq"]).add_file("/etc/app.conf", "x" * 12).env({"A": "1"})
    wire = image.to_dict()["steps"]
    sdk_side = [step.description for step in image.steps]
    server_side = [step.describe() for step in Manifest.model_validate(image.to_dict()).steps]
    from_wire = [describe_step(step["type"], step["args"]) for step in wire]
    assert sdk_side == server_side == from_wire == ["apt_install curl jq", "add_file /etc/app.conf (12 B)", "env A=1"]


def test_descriptions_of_added_folders_and_long_commands():
    args = {"path": "/w/", "files": [{"relativePath": "a", "content": Blob(b"abc")}]}
    assert describe_step("add_dir", args) == "add_dir /w (1 file, 3 B)"
    assert describe_step("add_dir", args, local="data") == "add_dir data -> /w/ (1 file, 3 B)"
    assert describe_step("run", {"commands": ["x" * 200]}, limit=120) == "run " + "x" * 115 + "…"
    assert human_size(1536) == "1.5 KB"


def test_step_lines_and_inferred_phases():
    line = parse_step_line("Step 2/5: run make (cached)")
    assert line is not None and (line.step, line.total, line.description, line.cached) == (2, 5, "run make", True)
    assert parse_step_line("compiling") is None
    assert infer_phase("build", "Step 1/1: run make") == "start"
    assert infer_phase("build", "Step 1/1: run make (cached)") == "cached"
    assert infer_phase("cache_hit", "all cached") == "cached"
    assert infer_phase("build", "compiling") == "output"
    assert set(PHASES) == {"start", "output", "cached", "done", "reattach"}


def test_every_error_code_has_a_status():
    assert set(STATUS) == set(ErrorCode)
    assert str(ErrorCode.PATH_NOT_FOUND) == "path_not_found"


def test_base64_is_decoded_strictly():
    assert decode_base64("aGk=") == b"hi"
    for bad in ("aGk", "a!Gk=", "aGk=x"):
        with pytest.raises(ValueError, match="is not valid base64"):
            decode_base64(bad)


@pytest.mark.parametrize(("name", "valid"), [("curl", True), ("\x1c", True), ("\x85", True), (" \ufeff\u3000", False)])
def test_a_blank_package_name_is_what_the_schema_calls_blank(name, valid):
    """The schema's ``\\S`` is ECMA's: \\x1c and \\x85 are not blank there, U+FEFF is."""
    image = {"steps": [{"type": "apt_install", "args": {"packages": [name]}}]}
    if valid:
        assert Manifest.model_validate(image).steps[0].wire_args() == {"packages": [name]}
    else:
        with pytest.raises(ValueError, match="a package name is empty"):
            Manifest.model_validate(image)
