"""The %%oc_image recipe parser: every form maps to the right Image step; every mistake names its line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oc_jupyter.magics.recipe import RecipeError, build_image, interpolate, parse_recipe
from oc_jupyter.sdk import Image


def steps(image):
    return [(s.type, s.to_dict()["args"]) for s in image.steps]


def test_each_keyword_maps_to_its_builder_method(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.json").write_text('{"a": 1}')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mod.py").write_text("X = 1\n")
    recipe = """
apt curl jq                          # apt_install
pip requests "pandas>=2"             # pip_install (shell-style quoting)
run mkdir -p /workspace/data
env PROJECT_ROOT=/workspace DEBUG=1
workdir /workspace
copy data/config.json /workspace/config.json
copy src/ /workspace/src
file /workspace/hello.txt <<EOF
hello
  # not a comment: file content is verbatim
EOF
"""
    image = build_image(recipe, base_dir=tmp_path)
    expected = (
        Image.base()
        .apt_install(["curl", "jq"])
        .pip_install(["requests", "pandas>=2"])
        .run_commands("mkdir -p /workspace/data")
        .env({"PROJECT_ROOT": "/workspace", "DEBUG": "1"})
        .workdir("/workspace")
        .add_local_file("data/config.json", "/workspace/config.json", base_dir=tmp_path)
        .add_local_dir("src", "/workspace/src", base_dir=tmp_path)
        .add_file("/workspace/hello.txt", "hello\n  # not a comment: file content is verbatim\n")
    )
    assert image.cache_key() == expected.cache_key()
    assert [s.type for s in image.steps] == [
        "apt_install",
        "pip_install",
        "run",
        "env",
        "workdir",
        "add_file",
        "add_dir",
        "add_file",
    ]


def test_keywords_are_case_insensitive_and_dockerfile_spellings_work():
    image = build_image("RUN echo hi\nENV A=1\nWORKDIR /w\nApt curl\nPIP six\n")
    assert steps(image) == steps(
        Image.base().run_commands("echo hi").env({"A": "1"}).workdir("/w").apt_install(["curl"]).pip_install(["six"])
    )


def test_each_run_line_is_its_own_step():
    image = build_image("run echo one\nrun echo two")
    assert [s.to_dict()["args"]["commands"] for s in image.steps] == [["echo one"], ["echo two"]]


def test_continuations_join_lines_and_skip_comment_lines_inside():
    image = build_image("apt curl \\\n  # a comment inside\n   jq\nrun make \\\n && make install")
    assert steps(image)[0] == ("apt_install", {"packages": ["curl", "jq"]})
    assert steps(image)[1][1]["commands"] == ["make  && make install"]


def test_comments_and_blank_lines_are_ignored():
    image = build_image("# header\n\n   \napt curl # trailing comment\n  # indented comment\n")
    assert steps(image) == [("apt_install", {"packages": ["curl"]})]


def test_interpolation_from_namespace_and_brace_escapes():
    ns = {"version": "2.1", "pkgs": ["a", "b"], "cfg": {"dir": "/opt/x"}}
    image = build_image("pip pandas=={version}\nrun echo {{literal}} {cfg[dir]} ${HOME} {undefined}\n", ns)
    assert steps(image)[0][1]["packages"] == ["pandas==2.1"]
    assert steps(image)[1][1]["commands"] == ["echo {literal} /opt/x ${HOME} {undefined}"]


def test_interpolation_keeps_shell_braces_that_name_no_variable():
    assert interpolate("echo ${PATH} {a..b} {1,2}", {"x": 1}) == "echo ${PATH} {a..b} {1,2}"


def test_env_accepts_dockerfile_legacy_form():
    assert steps(build_image("ENV KEY value"))[0] == ("env", {"vars": {"KEY": "value"}})


def test_copy_into_folder_destination_keeps_the_file_name(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    image = build_image("copy a.txt /workspace/", base_dir=tmp_path)
    assert image.files() == [("/workspace/a.txt", 1)]


def test_copy_relative_destination_uses_the_workdir(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    image = build_image("workdir /srv\ncopy a.txt b.txt", base_dir=tmp_path)
    assert image.files() == [("/srv/b.txt", 1)]


def test_heredoc_with_quoted_tag_and_trailing_steps():
    image = build_image("file /a <<'END'\n{not interpolated}\nEND\nrun cat /a\n", {"not": 1})
    assert image.files() == [("/a", len("{not interpolated}\n"))]
    assert steps(image)[1] == ("run", {"commands": ["cat /a"]})


@pytest.mark.parametrize(
    "recipe, lineno, fragment",
    [
        (
            "apt curl\n\napk add curl",
            3,
            "Line 3: unknown keyword 'apk' in \"apk add curl\"; valid keywords are apt, pip, run, env, workdir, copy, file.",
        ),
        ("apt", 1, "'apt' needs at least one package"),
        ("pip 'unterminated", 1, "quoting is unbalanced"),
        ("run", 1, "'run' needs a shell command"),
        ("env NOEQUALS", 1, "is not a KEY=VALUE pair"),
        ("env 1BAD=x", 1, "is not a KEY=VALUE pair"),
        ("workdir", 1, "'workdir' takes exactly one absolute path"),
        ("workdir relative/path", 1, "Line 1:"),
        ("copy onlyone", 1, "'copy' takes a local source and a sandbox destination"),
        ("copy missing.txt /w/missing.txt", 1, "not found"),
        ("copy x.txt relative", 1, "is relative and no workdir was set"),
        ("file /a.txt", 1, "'file' needs a path and a heredoc"),
        ("run ok\nfile /a <<EOF\nno end", 2, "heredoc 'EOF' is never closed"),
        ("apt curl \\", 1, "continuation"),
        ("file /a /b <<EOF\nx\nEOF", 1, "exactly one sandbox path"),
    ],
)
def test_mistakes_raise_recipe_error_naming_the_line(recipe, lineno, fragment, tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(RecipeError) as info:
        build_image(recipe, base_dir=tmp_path)
    assert info.value.lineno == lineno
    assert str(info.value).startswith(f"Line {lineno}: ")
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_failing_format_of_a_user_object_is_a_recipe_error():
    class Bad:
        def __format__(self, spec):
            raise RuntimeError("boom")

    with pytest.raises(RecipeError, match="could not be filled in"):
        parse_recipe("run echo {x}", {"x": Bad()})


def test_parse_does_not_touch_the_filesystem():
    instructions = parse_recipe("copy nowhere/file.txt /w/file.txt")
    assert instructions[0].keyword == "copy"
    assert instructions[0].args == ("nowhere/file.txt", "/w/file.txt")


def test_copy_resolves_against_the_notebook_folder_not_the_cwd(tmp_path, monkeypatch):
    from oc_jupyter.sdk import localfiles

    (tmp_path / "data.csv").write_text("a,b\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setattr(localfiles, "_notebook_dir", tmp_path)
    monkeypatch.setattr(localfiles, "_notebook_dir_known", True)
    monkeypatch.chdir(elsewhere)
    image = build_image("copy data.csv /w/data.csv")
    assert image.files() == [("/w/data.csv", 4)]


_keywords = st.sampled_from(["apt", "pip", "run", "env", "workdir", "copy", "file", "RUN", "COPY", "apk", "#", ""])
_lines = st.builds(lambda k, rest: f"{k} {rest}", _keywords, st.text(max_size=40))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(_lines, max_size=8).map("\n".join)))
def test_any_text_gives_an_image_or_a_value_error(text):
    try:
        image = build_image(text, {"x": 1, "name": "v"}, base_dir=Path(os.devnull).parent)
    except ValueError as exc:
        assert str(exc).startswith("Line "), f"a recipe error that does not name its line: {exc}"
        return
    assert isinstance(image, Image)
    assert image.cache_key() == build_image(text, {"x": 1, "name": "v"}, base_dir=Path(os.devnull).parent).cache_key()
