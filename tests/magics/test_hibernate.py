"""The magics' sandboxes hibernate after OCJupyter.sandbox_timeout and wake on the next cell, names intact."""

from __future__ import annotations

import re

LOAD = "%load_ext oc_jupyter"
WAIT_HIBERNATED = "\n".join(
    [
        "import time",
        "from oc_jupyter.sdk import Sandbox, sync",
        "deadline = time.monotonic() + 60",
        "while sync.run(Sandbox.connect(host)).status != 'hibernated' and time.monotonic() < deadline:",
        "    time.sleep(0.25)",
        "print(sync.run(Sandbox.connect(host)).status)",
    ]
)
WOKE = re.compile(r"^woke sandbox sb-[0-9a-f]{16} in \d+ ms$", re.M)


def test_remote_names_survive_hibernation_and_the_next_cell_wakes_the_sandbox(notebook):
    run = notebook(
        [
            LOAD,
            "%config OCJupyter.widgets = 'off'\n%config OCJupyter.sandbox_timeout = 3",
            "%%oc_run --pull host\nimport socket\nhost = socket.gethostname()\nkept = 41",
            WAIT_HIBERNATED,
            "%%oc_run\nprint(kept + 1)",
            "%oc_sandbox hibernate $host",
            "print(sync.run(Sandbox.connect(host)).status)",
            "%%oc_run\nprint(kept)",
            # A cell longer than the idle timeout, silent all along, is not frozen under way.
            "%%oc_run\nimport time\ntime.sleep(9)\nprint('slept', kept)",
            "%oc_run sleep 9; echo shell done",
            "%oc_sandbox wake $host",
            "%oc_sandbox hibernate $host\n%oc_sandbox wake $host\nprint(sync.run(Sandbox.connect(host)).status)",
            "%oc_sandbox hibernate nonsense",
        ],
        allow_errors=True,
        timeout=300,
    )
    for cell in range(len(run.nb.cells) - 1):
        assert run.errors(cell) == [], (cell, run.outputs(cell))
    assert run.text(3).strip() == "hibernated"
    out = run.text(4, "stdout")
    assert WOKE.search(out) and out.endswith("42\n"), out
    assert "Hibernated sandbox sb-" in run.text(5) and "wakes it" in run.text(5)
    assert run.text(6).strip() == "hibernated"
    out = run.text(7, "stdout")
    assert WOKE.search(out) and out.endswith("41\n"), out
    assert run.text(8, "stdout") == "slept 41\n"
    assert run.text(9, "stdout") == "shell done\n"
    assert re.fullmatch(r"Sandbox sb-[0-9a-f]{16} is not hibernated \(running\); nothing to wake.\n", run.text(10))
    lines = run.text(11, "stdout").splitlines()
    assert lines[0].startswith("Hibernated sandbox sb-") and WOKE.match(lines[1]) and lines[2] == "running", lines
    (error,) = run.errors(12)
    assert error["ename"] == "UsageError" and "'nonsense'" in error["evalue"]
