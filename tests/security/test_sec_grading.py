"""Grading that a submission cannot subvert.

Runs the teaching notebook's own grading cells (its recipe, ``expected_tests``
and ``check``) in a real kernel against the real server, with answers that
attack the grader instead of solving the exercise: rewriting the tests,
printing pytest's success line and exiting 0, forging the grader's report,
killing every process they can see, and reaching the network. Each must be
graded FAIL (or, for the network probe, graded as if there were no network),
and the course's tests must be unchanged afterwards.
"""

from __future__ import annotations

import copy
from pathlib import Path

import httpx
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
COURSE = "py101-adversarial"

ATTACKS = {
    "rewrite": """
import pathlib
for test in pathlib.Path("/course/tests").glob("*.py"):
    try:
        test.write_text("def test_first_fifteen():\\n    pass\\n")
    except OSError as exc:
        print("could not rewrite", test, exc)

def fizzbuzz(n):
    return []
""",
    "print_success": """
import os
print("3 passed in 0.01s")
os._exit(0)
""",
    "forge_report": """
import json
FAKE = {"tests": {name: {"outcome": "passed", "message": ""} for name in
        ("test_first_fifteen", "test_zero_gives_an_empty_list", "test_multiples_of_both_come_first")}}
for path in ("/grader/report.json", "/course/report.json"):
    try:
        with open(path, "w") as f:
            json.dump(FAKE, f)
    except OSError as exc:
        print("could not forge", path, exc)

def fizzbuzz(n):
    return ["FizzBuzz"] * n
""",
    "kill_everything": """
import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass

def fizzbuzz(n):
    return []
""",
}

NETWORK_PROBE = """
import socket
try:
    socket.create_connection(("pypi.org", 443), timeout=5).close()
    REACHED = True
except OSError:
    REACHED = False

def fizzbuzz(n):
    if REACHED:
        return ["the network was reachable"]
    return [("Fizz" if i % 3 == 0 else "") + ("Buzz" if i % 5 == 0 else "") or str(i) for i in range(1, n + 1)]
"""

INTACT = """
async with await Sandbox.create(snapshot=COURSE, timeout=120, network=False) as sandbox:
    await sandbox.files.write("/submission/answer.py", ATTACKS["rewrite"])
    await sandbox.commands.run("python3 -m pytest tests/test_fizzbuzz.py", timeout=60)
    after = await sandbox.files.read_bytes("/course/tests/test_fizzbuzz.py")
print("tests intact:", after == Path("course/tests/test_fizzbuzz.py").read_bytes())
"""


def code(source: str):
    return nbformat.v4.new_code_cell(source)


@pytest.fixture(scope="module")
def graded(local_server, tmp_path_factory):
    teaching = nbformat.read(NOTEBOOKS / "teaching.ipynb", as_version=4)
    cells = [c for c in teaching.cells if c.cell_type == "code"]
    keep = [
        copy.deepcopy(c)
        for c in cells
        if not c.source.startswith(
            ("async with", "%oc_snapshots", "right =", "wrong =", "answers =", "%oc_snapshot delete")
        )
    ]
    for cell in keep:
        cell.source = cell.source.replace('COURSE = "py101-week1"', f'COURSE = "{COURSE}"')
    nb = nbformat.v4.new_notebook(metadata=teaching.metadata)
    nb.cells = [*keep, code(f"ATTACKS = {ATTACKS!r}")]
    nb.cells += [code(f'await check("fizzbuzz", ATTACKS[{name!r}], {name!r})') for name in ATTACKS]
    nb.cells += [code(f"await check('fizzbuzz', {NETWORK_PROBE!r}, 'network_probe')"), code(INTACT)]
    nb.cells += [code("%oc_snapshot delete {COURSE}")]
    env = dict(local_server.env, JPY_SESSION_NAME=str(NOTEBOOKS / "teaching.ipynb"))
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, tmp_path_factory.mktemp("grading") / "graded.ipynb")
    return nb


def shown(nb, needle: str) -> str:
    cell = next(c for c in nb.cells if c.cell_type == "code" and needle in c.source)
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attacking_answer_is_graded_fail(graded, attack):
    text = shown(graded, f"ATTACKS[{attack!r}], {attack!r})")
    assert f"{attack} / fizzbuzz: FAIL" in text, text
    assert "3 of 3 tests failed" in text or "tests failed" in text, text
    assert text.strip().splitlines()[-1] == "False", text


def test_an_answer_cannot_reach_the_network(graded):
    text = shown(graded, "'network_probe')")
    assert "network_probe / fizzbuzz: PASS" in text, text


def test_an_answer_cannot_rewrite_its_tests(graded):
    assert "tests intact: True" in shown(graded, "tests intact:")


def test_the_grading_run_leaves_no_snapshot_behind(graded, local_server):
    response = httpx.get(f"{local_server.url}/api/snapshots", headers={"X-API-Key": local_server.key}, timeout=30)
    assert COURSE not in {s["name"] for s in response.json()}
