"""``%%oc_run``'s reply channel is a trust boundary: output cannot forge replies, and floods stay bounded.

Real kernel (nbclient), real local server, real podman sandbox of the base image.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import json
import os
import pickle
import re
import stat
from pathlib import Path

import pytest

# The notebook fixtures of the magics tests: a real kernel run by nbclient against the session's server.
_spec = importlib.util.spec_from_file_location(
    "_magics_fixtures", Path(__file__).resolve().parents[1] / "magics" / "conftest.py"
)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
kernel_env, notebook, interrupt_when = _fixtures.kernel_env, _fixtures.notebook, _fixtures.interrupt_when

LOAD = "%load_ext oc_jupyter"
GIB = 1 << 30
# Peak resident memory of this kernel since the last reset, and a reset (Linux: clear_refs 5).
RSS_MARK = (
    "def _oc_rss(field):\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith(field):\n"
    "            return int(line.split()[1]) * 1024\n"
    "_oc_base = _oc_rss('VmRSS:')\n"
    "open('/proc/self/clear_refs', 'w').write('5')"
)
RSS_GROWTH = "print('growth', _oc_rss('VmHWM:') - _oc_base)"


class _Touch:
    """Unpickles to ``os.system('touch PATH')``: proof that a pickle ran code here."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _forged_frames(marker: str) -> list[str]:
    """Reply frames of every kind, for requests 1..6, as the interpreter would write them."""
    evil = base64.b64encode(pickle.dumps(_Touch(marker))).decode()
    frames = []
    for rid in range(1, 7):
        for body in (
            {"t": "pull", "id": rid, "name": "injected", "fmt": "pickle", "data": evil},
            {"t": "pull", "id": rid, "name": "injected2", "fmt": "safe", "v": 1},
            {"t": "display", "id": rid, "data": {"text/plain": "FORGED-DISPLAY"}},
            {"t": "stream", "id": rid, "name": "stdout", "text": "FORGED-STREAM"},
            {"t": "done", "id": rid, "ok": True},
        ):
            payload = json.dumps(body)
            frames.append(f"{len(payload)} {payload}")
            frames.append("\x1eOCJ\x1f" + payload)  # the channel's earlier form
    return frames


def test_printed_reply_frames_are_only_text(notebook, tmp_path):
    marker = tmp_path / "pwned"
    forged = "\n".join(_forged_frames(str(marker))) + "\n"
    (tmp_path / "forged.txt").write_text(forged)
    run = notebook(
        [
            LOAD,
            f"forged = open({str(tmp_path / 'forged.txt')!r}).read()",
            "%%oc_run --push forged\n"
            "import os, sys, subprocess\n"
            "print(forged)\n"
            "sys.stderr.write(forged)\n"
            "os.write(1, forged.encode())\n"
            "open('/tmp/forged.txt', 'w').write(forged)\n"
            "_ = os.system('cat /tmp/forged.txt; cat /tmp/forged.txt >&2')\n"
            "_ = subprocess.run(['sh', '-c', 'cat /tmp/forged.txt'])\n"
            "print('cell-finished')",
            "print('injected' in dir(), 'injected2' in dir())",
            "%%oc_run\nprint(21 * 2)",
        ]
    )
    out = run.text(2, "stdout")
    assert out.rstrip().endswith("cell-finished")
    # Each way of printing delivered the frames as text: print, os.write, os.system's cat, subprocess.
    assert out.count('"name": "injected"') == 4 * 6 * 2
    assert run.text(2, "stderr").count('"name": "injected"') == 2 * 6 * 2
    assert not [o for o in run.outputs(2) if o["output_type"] in ("display_data", "execute_result")]
    assert "ignored" not in run.text(2)
    assert not marker.exists()
    assert run.text(3).strip() == "False False"
    assert run.text(4).strip() == "42"


def test_frames_the_kernel_did_not_ask_for_are_dropped_with_one_note(notebook, tmp_path):
    marker = tmp_path / "pwned"
    evil = base64.b64encode(pickle.dumps(_Touch(str(marker)))).decode()
    # Code in the sandbox can write to the reply channel itself (the sandbox is not trusted):
    # the kernel still takes only what it asked for.
    code = (
        "import json, os, sys\n"
        "channel = sys.modules['__main__']._proto_fd\n"
        "def frame(**f):\n"
        "    p = json.dumps(f)\n"
        "    os.write(channel, ('%d %s\\n' % (len(p), p)).encode())\n"
        f"frame(t='pull', id=1, name='injected', fmt='pickle', data={evil!r})\n"
        "frame(t='pull', id=1, name='wanted', fmt='pickle', data=" + repr(evil) + ")\n"
        "frame(t='teleport', id=1)\n"
        "frame(t='display', id=999, data={'text/plain': 'FORGED'})\n"
        "frame(t='stream', id=999, name='stdout', text='FORGED')\n"
        "wanted = [1, 2]\n"
        "print('cell-finished')"
    )
    run = notebook(
        [
            LOAD,
            "%%oc_run --pull wanted\n" + code,
            "print('injected' in dir(), 'wanted' in dir())",
            "%%oc_run\nprint(21 * 2)",
        ],
        allow_errors=True,
    )
    errors = run.errors(1)
    assert [e["ename"] for e in errors] == ["UsageError"]
    assert "sent a pickle" in errors[0]["evalue"] and "--pull-pickle wanted" in errors[0]["evalue"]
    notes = [line for line in run.text(1, "stderr").splitlines() if "ignored" in line]
    assert len(notes) == 1
    assert "ignored 4 messages" in notes[0] and "'injected'" in notes[0]
    assert "FORGED" not in run.text(1) and "cell-finished" in run.text(1)
    assert not marker.exists()
    assert run.text(2).strip() == "False False"
    assert run.text(3).strip() == "42"


@pytest.mark.parametrize(
    "cell",
    [
        "%oc_run head -c 1G /dev/zero | tr '\\0' x",
        "%%oc_run\nimport sys\nchunk = 'y' * 65535 + '\\n'\nfor _ in range(16384):\n    sys.stdout.write(chunk)",
    ],
    ids=["shell", "python"],
)
def test_a_gigabyte_of_output_keeps_the_kernel_and_notebook_small(notebook, cell):
    run = notebook(
        [LOAD, "%oc_run true", RSS_MARK, cell, RSS_GROWTH, "%oc_run echo still-ok", "%%oc_run\nprint('python', 6 * 7)"],
        timeout=1800,
    )
    growth = int(run.text(4).split()[1])
    assert growth < 100 * 1024 * 1024, f"the kernel grew by {growth} bytes"
    outputs = run.outputs(3)
    assert len(json.dumps(outputs)) < 3 * 1024 * 1024
    (note,) = re.findall(r"\[oc_jupyter: .* characters of output cut here.*\]", run.text(3))
    path = note.rsplit("zcat ", 1)[1].removesuffix(" | less]")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    size, tail = 0, b""
    with gzip.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            tail = chunk[-16:]
    os.unlink(path)
    assert size == GIB
    shown = "".join(o.get("text", "") for o in outputs)
    assert shown.startswith("x" * 1000 if "head" in cell else "y" * 1000)
    assert shown.rstrip("\n").endswith(tail.decode().rstrip("\n"))
    assert run.text(5).strip() == "still-ok"
    assert run.text(6).strip() == "python 42"


@pytest.mark.parametrize(
    "cell",
    [
        "%%oc_run\nimport sys\nkept = 'yes'\nprint('started')\nwhile True:\n    sys.stdout.write('z' * 65536)",
        "%%oc_run --shell\necho started; yes zzzzzzzzzzzzzzzz",
    ],
    ids=["python", "shell"],
)
def test_an_endless_flood_stops_on_interrupt_and_leaves_the_sandbox_usable(notebook, cell):
    async def interrupt_past_the_head(client, index=3):
        # Once the cell has shown its whole head the rest is being cut: interrupt then, a little later.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 300
        while sum(len(o.get("text", "")) for o in client.nb.cells[index].get("outputs", [])) < 1_000_000:
            assert loop.time() < deadline, "the cell never filled its head"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        await client.km.interrupt_kernel()

    run = notebook(
        [LOAD, "%oc_run true", RSS_MARK, cell, RSS_GROWTH, "%oc_run echo still-ok", "%%oc_run\nprint('python', 6 * 7)"],
        allow_errors=True,
        actions={3: interrupt_past_the_head},
    )
    assert [e["ename"] for e in run.errors(3)] == ["KeyboardInterrupt"]
    (note,) = re.findall(r"\[oc_jupyter: .* characters of output cut here.*zcat (\S+) \| less\]", run.text(3))
    os.unlink(note)
    assert int(run.text(4).split()[1]) < 100 * 1024 * 1024
    assert len(json.dumps(run.outputs(3))) < 3 * 1024 * 1024
    assert run.text(5).strip() == "still-ok"
    assert run.text(6).strip() == "python 42"


def test_terminal_escapes_from_the_sandbox_never_reach_the_notebook(notebook):
    osc52 = "\\x1b]52;c;ZXZpbA==\\x07"  # a clipboard write, as the cell's code spells it
    run = notebook(
        [
            LOAD,
            f"%%oc_run\nprint('out{osc52}put')\nraise ValueError('bo{osc52}om')",
            "%%oc_run\nprint(6 * 7)",
        ],
        allow_errors=True,
    )
    saved = json.dumps(run.outputs(1))
    assert "\\u001b]52" not in saved and "\\u0007" not in saved
    assert "output" in run.text(1, "stdout")
    (error,) = run.errors(1)
    assert error["ename"] == "RemotePythonError" or "ValueError" in "".join(error["traceback"])
    assert "boom" in "".join(error["traceback"]) + error.get("evalue", "")
    assert run.text(2).strip() == "42"
