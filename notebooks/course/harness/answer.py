"""The student's answer, seen from the tests.

The tests say ``from answer import fizzbuzz`` as if the answer were a module
of theirs. It is not imported here: every call runs in a separate process,
started as the unprivileged ``student`` user, that loads the answer file and
sends back each result as JSON. So the answer can neither patch pytest nor
the tests, cannot write the grader's report or the course files (they belong
to root), and can only ever hand back values, which the tests then judge.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

ANSWER = os.environ.get("GRADING_ANSWER", "/submission/answer.py")
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_answer.py")
CALL_TIMEOUT = float(os.environ.get("GRADING_CALL_TIMEOUT", "10"))

_child: subprocess.Popen | None = None


class AnswerError(Exception):
    """The answer raised, printed garbage on its channel, crashed or ran too long."""


def _runner() -> subprocess.Popen:
    global _child  # noqa: PLW0603 -- one runner process, reused across checks
    if _child is None or _child.poll() is not None:
        command = [sys.executable, "-I", RUNNER, ANSWER]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "student", "--", *command]
        _child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/tmp")
    return _child


def _call(name: str, args: tuple, kwargs: dict):
    child = _runner()
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps({"name": name, "args": args, "kwargs": kwargs}).encode() + b"\n")
        child.stdin.flush()
    except BrokenPipeError:
        raise AnswerError(f"the answer's process ended before {name}() could be called") from None
    ready, _, _ = select.select([child.stdout], [], [], CALL_TIMEOUT)
    if not ready:
        child.kill()
        raise AnswerError(f"{name}() did not return within {CALL_TIMEOUT:g} s")
    line = child.stdout.readline(1_000_000)
    if not line:
        raise AnswerError(f"the answer's process ended during {name}() (exit code {child.wait()})")
    try:
        reply = json.loads(line)
    except ValueError:
        raise AnswerError(f"{name}() answered something that is not a result") from None
    if not isinstance(reply, dict) or not ({"value"} <= reply.keys() or {"error"} <= reply.keys()):
        raise AnswerError(f"{name}() answered something that is not a result")
    if "error" in reply:
        raise AnswerError(str(reply["error"])[:500])
    return reply["value"]


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return lambda *args, **kwargs: _call(name, args, kwargs)
