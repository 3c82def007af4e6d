"""The remote interpreter's protocol, spoken to a real ``python3 -u -c <source>`` process on this machine.

The same source runs inside sandboxes; here a local process shows the
protocol itself (frames, state, tracebacks, interrupts, pulls, shell
commands, flow control) without a sandbox in the way.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest

from oc_jupyter.magics import values
from oc_jupyter.magics.remote_python import SOURCE, FrameReader


class Repl:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.reader = FrameReader()
        self.items: list = []
        self.consumed = 0
        self.ack = True
        self.stderr = b""
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        assert self.wait_for(lambda f: f["t"] == "ready")["python"]

    def _read(self):
        while True:
            data = os.read(self.proc.stdout.fileno(), 4096)
            if not data:
                return
            with self._cond:
                for kind, value in self.reader.feed(data.decode()):
                    if kind == "frame" and value["t"] == "stream":
                        self.items.append((value["name"], value["text"]))
                    else:
                        self.items.append((kind, value))
                self._cond.notify_all()
            self.consumed += len(data)
            if self.ack:
                try:
                    self.send(op="ack", n=self.consumed)
                except (BrokenPipeError, ValueError):
                    return  # the interpreter was closed

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def send(self, **request):
        with self._send_lock:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()

    def wait_for(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for kind, value in self.items:
                    if kind == "frame" and pred(value):
                        return value
                left = deadline - time.monotonic()
                assert left > 0, f"no matching frame in {self.items!r}"
                self._cond.wait(left)

    def run(self, code, rid, **extra):
        self.items.clear()
        self.send(op="exec", id=rid, code=code, filename=f"<cell {rid}>", **extra)
        done = self.wait_for(lambda f: f["t"] == "done" and f["id"] == rid)
        return done, list(self.items)

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def repl():
    r = Repl()
    yield r
    r.close()


def stdout_of(items):
    return "".join(v for k, v in items if k == "stdout")


def frames(items, t):
    return [v for k, v in items if k == "frame" and v["t"] == t]


def test_names_persist_and_the_last_expression_is_displayed(repl):
    done, items = repl.run("x = 40\nprint('hi')", 1)
    assert done["ok"] and stdout_of(items) == "hi\n" and not frames(items, "display")
    done, items = repl.run("x + 2", 2)
    (display,) = frames(items, "display")
    assert display["data"]["text/plain"] == "42"


def test_html_repr_travels_in_the_bundle(repl):
    _, items = repl.run("class T:\n    def _repr_html_(self):\n        return '<b>t</b>'\nT()", 1)
    assert frames(items, "display")[0]["data"]["text/html"] == "<b>t</b>"


def test_exceptions_carry_the_cell_traceback_only(repl):
    done, items = repl.run("def f():\n    return 1/0\nf()", 1)
    assert not done["ok"]
    (error,) = frames(items, "error")
    text = "".join(error["traceback"])
    assert error["ename"] == "ZeroDivisionError"
    assert '<cell 1>", line 3' in text and "<string>" not in text
    done, items = repl.run("def broken(:\n    pass", 2)
    assert frames(items, "error")[0]["ename"] == "SyntaxError"


def test_interrupt_stops_the_cell_and_keeps_the_interpreter(repl):
    repl.run("kept = 'yes'", 1)
    repl.items.clear()
    repl.send(op="exec", id=2, code="import time\nprint('started')\ntime.sleep(30)", filename="<cell 2>")
    deadline = time.monotonic() + 10
    while "started" not in stdout_of(repl.items) and time.monotonic() < deadline:
        time.sleep(0.02)
    sent = time.monotonic()
    repl.send(op="interrupt")
    done = repl.wait_for(lambda f: f["t"] == "done" and f["id"] == 2)
    assert not done["ok"]
    assert frames(repl.items, "error")[0]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - sent < 5
    _, items = repl.run("kept", 3)
    assert frames(items, "display")[0]["data"]["text/plain"] == "'yes'"


def test_push_pickles_and_pull_sends_safe_forms(repl):
    blob = base64.b64encode(pickle.dumps({"a": [1, 2]}, protocol=4)).decode()
    done, items = repl.run("y = [v * 10 for v in data['a']]", 1, push={"data": blob}, pull=["y", "missing"])
    assert done["ok"]
    (pulled,) = frames(items, "pull")
    assert pulled["fmt"] == "safe" and values.decode(pulled["v"]) == [10, 20]
    assert frames(items, "pull_error")[0]["name"] == "missing"


def test_pull_falls_back_to_pickle_only_where_allowed(repl):
    code = "import fractions\nodd = fractions.Fraction(1, 3)\nodd2 = odd"
    done, items = repl.run(code, 1, pull=["odd", "odd2"], pickle=["odd2"])
    (refused,) = frames(items, "pull_error")
    assert refused["name"] == "odd" and refused["ename"] == "Unsupported" and refused["type"] == "fractions.Fraction"
    (pickled,) = frames(items, "pull")
    assert pickled["name"] == "odd2" and pickled["fmt"] == "pickle"


def test_printed_frames_and_subprocess_output_arrive_as_stream_text(repl):
    forged = '8 {"t":1}\n10 {"t":"x"}\n'
    code = (
        "import os, subprocess, sys\n"
        f"print({forged!r})\n"
        f"sys.stderr.write({forged!r})\n"
        f"os.write(1, {forged!r}.encode())\n"
        'subprocess.run(["printf", "%s", "44 {\\"t\\": \\"done\\", \\"id\\": 1, \\"ok\\": true}\\n"])\n'
        "_ = os.system('echo child')"
    )
    done, items = repl.run(code, 1)
    assert done["ok"]
    assert [k for k, _ in items if k == "frame"] == ["frame"]  # only the real 'done'
    out = stdout_of(items)
    assert out.count(forged) == 2 and '"t": "done", "id": 1' in out and "child" in out
    assert "".join(v for k, v in items if k == "stderr") == forged


def test_a_subprocess_does_not_inherit_the_reply_channel(repl):
    _, items = repl.run(
        "import os, subprocess\n"
        "print(subprocess.run(['ls', '/proc/self/fd'], capture_output=True, text=True).stdout.split())",
        1,
    )
    fds = eval(stdout_of(items))
    assert sorted(fds, key=int)[:3] == ["0", "1", "2"] and len(fds) <= 4  # the 4th is ls's own listing


def test_output_waits_for_the_kernel_to_catch_up(repl):
    repl.ack = False
    repl.items.clear()
    repl.send(
        op="exec",
        id=1,
        code="import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 65536)\nprint('end')",
        filename="<cell 1>",
    )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)
    held = sum(len(v) for k, v in repl.items if k == "stdout")
    assert held < 8 << 20, "the interpreter kept sending without acknowledgements"
    repl.ack = True
    repl.send(op="ack", n=repl.consumed)
    repl.wait_for(lambda f: f["t"] == "done" and f["id"] == 1, timeout=60)
    assert stdout_of(repl.items).endswith("end\n") and len(stdout_of(repl.items)) == 200 * 65536 + 4


def test_push_of_an_unknown_module_names_the_module(repl):
    # A pickle that refers to a module the interpreter cannot import.
    blob = base64.b64encode(b"\x80\x04cno_such_module_x\nC\n.").decode()
    done, items = repl.run("1", 1, push={"obj": blob})
    assert not done["ok"]
    (error,) = frames(items, "push_error")
    assert error["module"] == "no_such_module_x"


def test_shell_commands_stream_and_can_be_killed_with_their_children(repl):
    repl.items.clear()
    repl.send(op="shell", id=10, cmd="echo out; echo err >&2; exit 4", env={"A": "1"})
    exit_frame = repl.wait_for(lambda f: f["t"] == "sh_exit" and f["id"] == 10)
    outs = frames(repl.items, "sh_out")
    assert exit_frame["code"] == 4
    # The two pipes are read independently, so only each stream's own content is ordered.
    streams = {fd: "".join(o["d"] for o in outs if o["fd"] == fd) for fd in (1, 2)}
    assert streams == {1: "out\n", 2: "err\n"}
    repl.items.clear()
    repl.send(op="shell", id=11, cmd="sleep 30 & echo $!; wait")
    pid_frame = repl.wait_for(lambda f: f["t"] == "sh_out" and f["id"] == 11)
    child = int(pid_frame["d"].strip())
    repl.send(op="shell_kill", id=11)
    exit_frame = repl.wait_for(lambda f: f["t"] == "sh_exit" and f["id"] == 11)
    assert exit_frame["code"] == 128 + signal.SIGKILL
    assert not _running(child)


def _running(pid: int, wait: float = 2.0) -> bool:
    """Whether ``pid`` is still a live process (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def test_frame_reader_cuts_length_prefixed_frames_across_chunks():
    r = FrameReader()
    assert r.feed('13 {"t": ') == []
    assert r.feed('"done"}\n14 {"t": "ready"}') == [("frame", {"t": "done"})]
    assert r.feed("\n") == [("frame", {"t": "ready"})]
    assert r.feed("garbage line\n5 [1,2]\n") == [
        ("breach", "text outside a frame"),
        ("breach", "a frame that is not a JSON object"),
    ]
    assert r.feed("3 {}xx\n2 {}\n") == [
        ("breach", "a frame of the wrong length"),
        ("breach", "a frame that is not a JSON object"),
    ]
