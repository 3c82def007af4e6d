"""A pytest plugin that writes the outcome of every test to a JSON report.

It runs in the grader's pytest process, which the answer never enters (see
answer.py), and writes to a folder only root can read or write, so the
report says what the tests found, whatever the answer printed.
"""

from __future__ import annotations

import json
import os

REPORT = os.environ.get("GRADING_REPORT", "/grader/report.json")
_outcomes: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        entry = _outcomes.setdefault(report.nodeid.split("::")[-1], {"outcome": "passed", "message": ""})
        if report.outcome != "passed" or entry["outcome"] == "passed":
            entry["outcome"] = report.outcome if report.when == "call" else "error"
            crash = getattr(report.longrepr, "reprcrash", None)
            entry["message"] = (crash.message if crash else str(report.longrepr or ""))[:1000]


def pytest_sessionfinish(session, exitstatus):
    with open(REPORT, "w") as file:
        json.dump({"tests": _outcomes}, file)
