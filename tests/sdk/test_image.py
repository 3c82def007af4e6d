"""The Image builder: wire manifest, immutability, friendly validation, descriptions and file summary."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oc_jupyter.sdk import Image


def test_seed_image_to_dict_is_the_wire_manifest():
    image = (
        Image.base()
        .apt_install(["curl", "jq"])
        .pip_install(["requests"])
        .add_file("/workspace/config.json", '{"debug": true}')
        .env({"APP_ENV": "development"})
        .workdir("/workspace")
        .run_commands("mkdir -p /w", "echo hi")
    )
    assert image.to_dict() == {
        "base": "base",
        "steps": [
            {"type": "apt_install", "args": {"packages": ["curl", "jq"]}},
            {"type": "pip_install", "args": {"packages": ["requests"]}},
            {
                "type": "add_file",
                "args": {
                    "path": "/workspace/config.json",
                    "content": base64.b64encode(b'{"debug": true}').decode(),
                    "encoding": "base64",
                },
            },
            {"type": "env", "args": {"vars": {"APP_ENV": "development"}}},
            {"type": "workdir", "args": {"path": "/workspace"}},
            {"type": "run", "args": {"commands": ["mkdir -p /w", "echo hi"]}},
        ],
    }


def test_builder_is_immutable():
    base = Image.base()
    with_curl = base.apt_install(["curl"])
    assert base.to_dict()["steps"] == []
    assert len(with_curl.steps) == 1
    with pytest.raises(AttributeError):
        with_curl.steps = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        with_curl.steps[0].args["packages"] = ["x"]  # type: ignore[index]
    # to_dict hands out copies: editing one changes nothing.
    wire = with_curl.to_dict()
    wire["steps"][0]["args"]["packages"].append("evil")
    assert with_curl.to_dict()["steps"][0]["args"]["packages"] == ["curl"]


def test_steps_describe_themselves():
    image = (
        Image.base()
        .apt_install(["curl", "jq"])
        .run_commands("a", "b")
        .env({"K": "V"})
        .workdir("/w")
        .add_file("/f", "hello")
    )
    assert [s.description for s in image.steps] == [
        "apt_install curl jq",
        "run a && b",
        "env K=V",
        "workdir /w",
        "add_file /f (5 B)",
    ]
    assert [s.type for s in image.steps] == ["apt_install", "run", "env", "workdir", "add_file"]
    assert "apt_install curl jq" in repr(image)


def test_files_lists_embedded_files_with_sizes(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "src" / "a.txt").write_bytes(b"abc")
    image = Image.base().add_file("/etc/motd", b"\x00\x01").add_local_dir("src", "/workspace/src/", base_dir=tmp_path)
    assert image.files() == [("/etc/motd", 2), ("/workspace/src/a.txt", 3), ("/workspace/src/pkg/m.py", 6)]
    step = image.steps[1]
    assert step.type == "add_dir"
    assert [f["relativePath"] for f in step.to_dict()["args"]["files"]] == ["a.txt", "pkg/m.py"]
    assert step.description == "add_dir src -> /workspace/src/ (2 files, 9 B)"


@pytest.mark.parametrize(
    "call,error,fragment",
    [
        (lambda i: i.apt_install("curl jq"), TypeError, "write apt_install(['curl', 'jq'])"),
        (lambda i: i.pip_install("pandas"), TypeError, "got the str 'pandas'"),
        (lambda i: i.apt_install([]), ValueError, "at least one package"),
        (lambda i: i.pip_install(["ok", ""]), ValueError, "must not be blank"),
        (lambda i: i.pip_install([1]), TypeError, "package name must be a str, got 1"),
        (lambda i: i.run_commands(), ValueError, "at least one command"),
        (lambda i: i.run_commands(["a", "b"]), TypeError, "write run_commands(*['a', 'b'])"),
        (lambda i: i.run_commands("echo \x00"), ValueError, "NUL"),
        (lambda i: i.env({}), ValueError, "at least one variable"),
        (lambda i: i.env(["A=1"]), TypeError, "dict of NAME: value"),
        (lambda i: i.env({"1A": "x"}), ValueError, "'1A' is not valid"),
        (lambda i: i.env({"DEBUG": 1}), TypeError, "write 'DEBUG': '1'"),
        (lambda i: i.workdir("workspace"), ValueError, "must be absolute, e.g. '/workspace/workspace'"),
        (lambda i: i.workdir("/w\x00"), ValueError, "NUL"),
        (lambda i: i.add_file("config.json", "x"), ValueError, "remote path 'config.json' must be absolute"),
        (lambda i: i.add_file("/x", 3), TypeError, "content must be str or bytes"),
        (lambda i: i.add_file("/x", "\ud800"), ValueError, "not valid Unicode"),
        (lambda i: i.builder_memory(0), ValueError, "positive number of MB"),
    ],
)
def test_mistakes_fail_at_the_call_with_one_sentence(call, error, fragment):
    with pytest.raises(error) as info:
        call(Image.base())
    message = str(info.value)
    assert fragment in message
    assert message.count("\n") == 0


def test_add_file_content_may_hold_any_bytes():
    image = Image.base().add_file("/bin/blob", b"\x00\xff").add_file("/t", "nul \x00 in text is data")
    assert image.files() == [("/bin/blob", 2), ("/t", 21)]


def test_equal_images_compare_equal_and_hash_alike():
    a = Image.base().env({"A": "1", "B": "2"})
    b = Image.base().env({"B": "2", "A": "1"})
    assert a == b and hash(a) == hash(b)
    assert a != Image.base().env({"A": "1"})


def test_images_pickle_and_copy(tmp_path):
    import copy
    import pickle

    (tmp_path / "f.txt").write_text("x")
    image = Image.base().env({"A": "1"}).add_local_dir(tmp_path, "/w").builder_memory(2048)
    for clone in (pickle.loads(pickle.dumps(image)), copy.deepcopy(image)):
        assert clone.to_dict() == image.to_dict()
        assert clone.cache_key() == image.cache_key()


@given(
    st.sampled_from(["apt_install", "pip_install", "run_commands", "env", "workdir", "add_file"]),
    st.one_of(st.text(), st.lists(st.text(), max_size=3), st.dictionaries(st.text(), st.text(), max_size=2), st.none()),
)
def test_any_input_gives_an_image_or_a_clear_error(method, value):
    image = Image.base()
    try:
        if method == "run_commands":
            result = image.run_commands(*value) if isinstance(value, list) else image.run_commands(value)
        elif method == "add_file":
            result = image.add_file(value, "x")
        else:
            result = getattr(image, method)(value)
    except (TypeError, ValueError) as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(result, Image)
        assert len(result.cache_key()) == 64
