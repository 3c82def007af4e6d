"""Local files for an Image: where relative paths start, ignores, symlinks and size warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from oc_jupyter.sdk import Image, LargeFolderWarning, LocalFileNotFound, localfiles


def _rel_paths(image: Image) -> list[str]:
    return [f["relativePath"] for f in image.steps[-1].to_dict()["args"]["files"]]


def _run_python(code: str, cwd: Path, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_relative_paths_start_at_the_notebook_folder_even_after_cd(tmp_path):
    notebook_dir = tmp_path / "course"
    elsewhere = tmp_path / "elsewhere"
    notebook_dir.mkdir()
    elsewhere.mkdir()
    (notebook_dir / "data.csv").write_text("a,b\n")
    (elsewhere / "data.csv").write_text("WRONG\n")
    result = _run_python(
        f"""
        import json, os
        from oc_jupyter.sdk import Image
        os.chdir({str(elsewhere)!r})
        image = Image.base().add_local_file("data.csv", "/workspace/data.csv")
        print(json.dumps(image.to_dict()["steps"][0]["args"]["content"]))
        """,
        cwd=elsewhere,
        env={"JPY_SESSION_NAME": str(notebook_dir / "analysis.ipynb")},
    )
    assert result == "YSxiCg=="  # base64 of "a,b\n", the notebook folder's file


def test_kernel_session_variable_is_used_when_the_env_is_absent(tmp_path):
    notebook_dir = tmp_path / "nb"
    notebook_dir.mkdir()
    (notebook_dir / "x.txt").write_text("from notebook")
    result = _run_python(
        f"""
        import json, os, sys
        env = dict(os.environ); os.environ.pop("JPY_SESSION_NAME", None)
        sys.modules["__main__"].__session__ = {str(notebook_dir / "n.ipynb")!r}
        from oc_jupyter.sdk.localfiles import base_folder
        print(json.dumps([str(p) for p in base_folder()]))
        """,
        cwd=tmp_path,
        env={},
    )
    assert result == [str(notebook_dir), "the notebook's folder"]


def test_outside_a_kernel_paths_start_at_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "here.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    image = Image.base().add_local_file("here.txt", "/here.txt")
    assert image.files() == [("/here.txt", 1)]


def test_base_dir_wins(tmp_path):
    (tmp_path / "cfg.json").write_text("{}")
    image = Image.base().add_local_file("cfg.json", "/cfg.json", base_dir=tmp_path)
    assert image.files() == [("/cfg.json", 2)]


def test_missing_file_names_path_and_folder(tmp_path):
    with pytest.raises(LocalFileNotFound) as info:
        Image.base().add_local_file("data/train.csv", "/w/train.csv", base_dir=tmp_path)
    assert str(info.value) == f"Local file 'data/train.csv' not found (looked in {tmp_path}, base_dir)."
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(LocalFileNotFound, match="is not a folder"):
        (tmp_path / "f").write_text("x")
        Image.base().add_local_dir("f", "/w", base_dir=tmp_path)


def test_dir_walk_is_sorted_and_skips_default_ignores(tmp_path):
    for rel in [
        "b.py",
        "a/z.py",
        "a/b.py",
        ".git/HEAD",
        "__pycache__/m.pyc",
        "pkg/__pycache__/m.pyc",
        ".ipynb_checkpoints/n.ipynb",
        ".venv/bin/python",
        "node_modules/x/i.js",
        "B.txt",
        ".env",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    image = Image.base().add_local_dir(tmp_path, "/w")
    assert _rel_paths(image) == [".env", "B.txt", "a/b.py", "a/z.py", "b.py"]


def test_ignore_patterns_and_ocignore_use_gitignore_syntax(tmp_path):
    for rel in ["keep.py", "data/big.csv", "data/small.csv", "logs/a.log", "src/x.log", "src/keep.log"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / ".ocignore").write_text("# comment\n*.log\n!src/keep.log\ndata/big.csv\n")
    image = Image.base().add_local_dir(tmp_path, "/w", ignore=["logs/"])
    assert _rel_paths(image) == [".ocignore", "data/small.csv", "keep.py", "src/keep.log"]


def test_symlinks_never_lead_out_of_the_folder_and_loops_end(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("host secret")
    root = tmp_path / "proj"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("inside")
    (root / "leak.txt").symlink_to(outside)
    (root / "leakdir").symlink_to(tmp_path)
    (root / "sub" / "loop").symlink_to(root)
    (root / "alias.txt").symlink_to(root / "sub" / "f.txt")
    (root / "dangling").symlink_to(tmp_path / "nothing")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = Image.base().add_local_dir(root, "/w")
    assert _rel_paths(image) == ["alias.txt", "sub/f.txt"]
    assert any("leak.txt" in str(w.message) and "outside" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert all(b"host secret" not in f.data for f in localfiles.collect_dir(root))


def test_large_folders_warn_naming_the_biggest_files(tmp_path, monkeypatch):
    monkeypatch.setattr(localfiles, "LARGE_FOLDER_BYTES", 1000)
    (tmp_path / "big.bin").write_bytes(b"x" * 900)
    (tmp_path / "mid.bin").write_bytes(b"x" * 200)
    (tmp_path / "tiny.txt").write_bytes(b"x")
    with pytest.warns(LargeFolderWarning) as record:
        Image.base().add_local_dir(tmp_path, "/w")
    message = str(record[0].message)
    assert "big.bin" in message and message.index("big.bin") < message.index("mid.bin")
    assert ".ocignore" in message


@pytest.mark.parametrize("told", [True, False], ids=["JPY_SESSION_NAME", "start-folder"])
def test_in_a_real_kernel_the_notebook_folder_survives_cd(tmp_path, told):
    """A kernel started the way Jupyter starts it: in the notebook's folder, told its path (or not)."""
    from jupyter_client.manager import start_new_kernel

    notebook_dir = tmp_path / "course"
    notebook_dir.mkdir()
    (notebook_dir / "train.csv").write_text("x,y\n")
    km, kc = start_new_kernel(
        kernel_name="python3",
        cwd=str(notebook_dir),
        env={
            **{k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"},
            **({"JPY_SESSION_NAME": str(notebook_dir / "lesson.ipynb")} if told else {}),
        },
    )
    try:
        outputs: list[str] = []
        code = (
            f"%cd {tmp_path}\n"
            "from oc_jupyter.sdk import Image\n"
            "image = Image.base().add_local_file('train.csv', '/workspace/train.csv')\n"
            "print(image.files())"
        )
        kc.execute_interactive(
            code, timeout=120, output_hook=lambda msg: outputs.append(msg["content"].get("text", ""))
        )
        assert "[('/workspace/train.csv', 4)]" in "".join(outputs)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_non_utf8_file_names_are_refused_by_name(tmp_path):
    (tmp_path / "ok.txt").write_text("x")
    bad = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(bad, "wb") as handle:
        handle.write(b"x")
    with pytest.raises(ValueError, match=r"File name b'caf\\xe9.txt' .* is not valid UTF-8; rename it"):
        Image.base().add_local_dir(tmp_path, "/w")
    image = Image.base().add_local_dir(tmp_path, "/w", ignore=["caf*.txt"])
    assert image.files() == [("/w/ok.txt", 1)]
