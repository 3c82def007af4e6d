"""``%oc_upload`` / ``%oc_download`` in a real kernel against the local server and real sandboxes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from oc_jupyter.magics.files import safe_relative

LOAD = "%load_ext oc_jupyter"
NEW = (
    "from oc_jupyter.sdk import Sandbox, sync\n"
    "sb = sync.run(Sandbox.create())\n"
    "%oc_sandbox use {sb.id}\n"
    "print('SANDBOX', sb.id)"
)
KILL = "sync.run(sb.kill())"


def sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_50_mb_file_round_trips_byte_identical_with_bounded_kernel_memory(notebook, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.writelines(os.urandom(1 << 20) for _ in range(50))
    # A thread samples the kernel's resident memory while the transfers run: the peak
    # of a process that once held more would hide growth, the samples do not.
    measure = (
        "import json, os, threading, time\n"
        "page = os.sysconf('SC_PAGE_SIZE')\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * page // (1 << 20)\n"
        "samples, stop = [], threading.Event()\n"
        "def sample():\n"
        "    while not stop.is_set():\n"
        "        samples.append(rss()); time.sleep(0.01)\n"
        "before = rss()\n"
        "sampler = threading.Thread(target=sample); sampler.start()\n"
        "%oc_upload big.bin /workspace/in/big.bin\n"
        "after_up = max(samples)\n"
        "%oc_download /workspace/in/big.bin back/big.bin\n"
        "stop.set(); sampler.join()\n"
        "print('RSS', json.dumps([before, after_up, max(samples)]))"
    )
    (tmp_path / "back").mkdir()
    out = notebook([LOAD, NEW, measure, KILL])
    assert out.error is None, out.error
    text = out.text(2)
    assert "Uploaded 1 file, 50.0 MB, to " in text
    assert ":/workspace/in/big.bin in " in text
    assert "Downloaded 1 file, 50.0 MB, from " in text
    # A kernel with a front end draws the progress bars as widgets, one per transfer.
    views = [o for o in out.outputs(2) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 2
    assert sha(tmp_path / "back" / "big.bin") == sha(big)
    before, after_up, after_down = json.loads(text.split("RSS ", 1)[1].splitlines()[0])
    assert after_up - before < 60, f"upload grew the kernel's RSS by {after_up - before} MB"
    assert after_down - before < 60, f"download grew the kernel's RSS by {after_down - before} MB"
    assert not list((tmp_path / "back").glob(".*part"))


def test_a_nested_folder_round_trips_byte_identical(notebook, tmp_path):
    src = tmp_path / "data"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("top\n")
    (src / "a" / "one.csv").write_text("x,y\n1,2\n")
    (src / "a" / "b" / "deep.bin").write_bytes(os.urandom(300_000))
    (src / "a" / "b" / "empty").write_bytes(b"")
    (src / "name with spaces.txt").write_text("spaces\n")
    (src / "empty_dir" / "inner").mkdir(parents=True)
    out = notebook([LOAD, NEW, "%oc_upload data /workspace/data", "%oc_download /workspace/data copy", KILL])
    assert out.error is None, out.error
    assert "Uploaded 5 files, 0.3 MB, to " in out.text(2)
    assert ":/workspace/data in " in out.text(2)
    assert "Downloaded 5 files" in out.text(3)
    assert tree(tmp_path / "copy") == tree(src)
    assert (tmp_path / "copy" / "empty_dir" / "inner").is_dir()


def test_without_widgets_a_large_transfer_shows_a_text_progress_line(notebook, tmp_path):
    (tmp_path / "six.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    (tmp_path / "small.bin").write_bytes(b"small")
    out = notebook(
        [
            LOAD,
            NEW,
            "%oc_upload six.bin /workspace/",
            "%oc_upload small.bin /workspace/",
            "%oc_download /workspace/six.bin back.bin",
            KILL,
        ],
        env_extra={"OC_JUPYTER_WIDGETS": "off"},
    )
    assert out.error is None, out.error
    assert "Uploading six.bin: 100% (6.0 MB of 6.0 MB)" in out.text(2)
    assert ":/workspace/six.bin in " in out.text(2)
    assert "%" not in out.text(3)  # small transfers show only the summary
    assert ":/workspace/small.bin in " in out.text(3)
    assert "Downloading six.bin: 100% (6.0 MB of 6.0 MB)" in out.text(4)
    assert sha(tmp_path / "back.bin") == sha(tmp_path / "six.bin")
    assert not any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for i in (2, 3, 4) for o in out.outputs(i)
    )


def test_a_hostile_sandbox_folder_writes_nothing_outside_the_target(notebook, tmp_path):
    script = (
        "mkdir -p /workspace/h/sub && echo inside > /workspace/h/ok.txt && "
        "echo x > /workspace/h/..evil && echo y > \"/workspace/h/sub/line$(printf '\\nx')\" && "
        "ln -s /etc /workspace/h/etc_link && ln -s /etc/passwd /workspace/h/passwd_link && "
        "ln -s ../../.. /workspace/h/sub/up"
    )
    hostile = f"r = sync.run(sb.commands.run({script!r}))\nassert r.exit_code == 0, r"
    target = tmp_path / "nb"
    target.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    out = notebook([LOAD, NEW, hostile, "%oc_download /workspace/h got", KILL], folder=target)
    assert out.error is None, out.error
    got = target / "got"
    names = sorted(p.relative_to(got).as_posix() for p in got.rglob("*"))
    assert names == ["..evil", "ok.txt", "sub", "sub/line\nx"]
    assert not any(p.is_symlink() for p in got.rglob("*"))
    assert (got / "ok.txt").read_text() == "inside\n"
    assert "skipped 3 symlink(s) or unsafe name(s)" in out.text(3)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in target.iterdir()) == ["got"]


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/../../b", "", ".", "a//b", "a\x00b", "..\\x"])
def test_names_that_could_leave_the_target_are_refused(name):
    # A real file system cannot hold a name with a slash, so the listing a hostile
    # backend could send is given to the check directly.
    assert safe_relative(name) is None


@pytest.mark.parametrize("name", ["a", "..evil", "a/b/c.txt", "x y", "line\nbreak"])
def test_plain_names_pass(name):
    assert safe_relative(name) == name


def test_bad_input_is_refused_in_one_line(notebook, tmp_path):
    (tmp_path / "f.txt").write_text("file\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x").write_text("x")
    (tmp_path / "exists.txt").write_text("local\n")
    cells = [
        LOAD,
        NEW,
        "%oc_upload missing.csv /workspace/x",  # 2
        "%oc_upload f.txt workspace/x",  # 3
        "%oc_upload f.txt /workspace/f.txt",  # 4
        "%oc_upload folder /workspace/f.txt",  # 5
        "%oc_download /workspace/nothing.txt",  # 6
        "%oc_download /workspace/f.txt no/such/dir/",  # 7
        "%oc_upload folder /workspace/folder",  # 8
        "%oc_download /workspace/folder exists.txt",  # 9
        "%oc_download relative.txt",  # 10
        "print(get_ipython().find_line_magic('oc_upload').__doc__)",  # 11
        KILL,
    ]
    out = notebook(cells, allow_errors=True)

    def err(i):
        found = out.errors(i)
        assert len(found) == 1 and found[0]["ename"] == "UsageError", out.outputs(i)
        return found[0]["evalue"]

    assert "Local path 'missing.csv' not found (looked in" in err(2)
    assert "must be absolute (start with /), for example /workspace/workspace/x" in err(3)
    assert "Uploaded 1 file" in out.text(4)
    assert "'/workspace/f.txt' in sandbox " in err(5) and "is a file, but 'folder' is a folder" in err(5)
    assert "Nothing at '/workspace/nothing.txt' in sandbox" in err(6)
    assert "%oc_run --sandbox " in err(6)
    assert "does not exist; create it first" in err(7)
    assert "Uploaded 1 file" in out.text(8)
    assert "is a file or a symlink, but '/workspace/folder' is a folder" in err(9)
    assert (tmp_path / "exists.txt").read_text() == "local\n"
    assert "must be absolute" in err(10)
    assert "Copy a local file or folder into a sandbox" in out.text(11)
    assert not list(tmp_path.rglob("*.part"))


def test_a_download_never_writes_through_a_local_symlink(notebook, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    nb = tmp_path / "nb"
    (nb / "got").mkdir(parents=True)
    (nb / "got" / "sub").symlink_to(outside)
    (nb / "linked.txt").symlink_to(outside / "target.txt")
    make = "r = sync.run(sb.commands.run('mkdir -p /workspace/h/sub && echo y > /workspace/h/sub/f.txt'))"
    out = notebook(
        [LOAD, NEW, make, "%oc_download /workspace/h got", "%oc_download /workspace/h/sub/f.txt linked.txt", KILL],
        folder=nb,
        allow_errors=True,
    )
    first = out.errors(3)
    assert len(first) == 1 and first[0]["ename"] == "UsageError"
    assert "is a symlink or a file where a folder is needed" in first[0]["evalue"]
    second = out.errors(4)
    assert len(second) == 1 and "is a symlink or not a regular file" in second[0]["evalue"]
    assert list(outside.iterdir()) == []


def test_a_folder_downloads_from_a_sandbox_without_find(notebook, tmp_path):
    # Without GNU find the folder is walked one listing at a time.
    make = (
        'r = sync.run(sb.commands.run(\'rm -f "$(command -v find)" && mkdir -p /workspace/d/a/b && '
        "echo 1 > /workspace/d/one && echo 2 > /workspace/d/a/b/two && ! command -v find'))\n"
        "assert r.exit_code == 0, r"
    )
    out = notebook([LOAD, NEW, make, "%oc_download /workspace/d d", KILL])
    assert out.error is None, out.error
    assert "Downloaded 2 files" in out.text(3)
    assert (tmp_path / "d" / "one").read_text() == "1\n"
    assert (tmp_path / "d" / "a" / "b" / "two").read_text() == "2\n"
