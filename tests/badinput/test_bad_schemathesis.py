"""Schemathesis over the local server's OpenAPI schema: no 5xx, every response as the schema says.

Schemathesis runs as its own command (``st run``) against a server of this
module's own, once, with every check it has; the tests below read its exit
code and its machine-readable reports (the JSON run report for the counts,
JUnit XML for each failure's text), never the console output. Path parameters are pinned to a real sandbox and a real snapshot, so
the command and file routes are exercised inside a live container rather
than answering 404.

Left out, on purpose:
- ``POST /api/sandboxes`` and ``POST /api/snapshots``: valid bodies there
  build images and start containers from random manifests (minutes each, and
  images that could not be told apart from other tests'). Their bad inputs are
  the named catalogue's job (``test_bad_catalogue.py``).
- ``DELETE /api/sandboxes/{sandbox_id}``: it would kill the pinned sandbox
  and turn every later case into a 404.
- ``POST /api/sandboxes/{sandbox_id}/checkpoints``: each valid body commits
  the pinned sandbox to a new image (their cases are in tests/local).
- ``reboot`` and ``power-cycle`` of the pinned sandbox: they restart its
  container, so the stateful phase's next request (a terminal, say) races a
  container that is not running yet; tests/local/test_lifecycle.py covers
  them.
- Schemathesis's "coverage" phase: on this Python (3.11.7) its generator
  crashes inside hypothesis's lambda-source cache (``SystemError: AST
  constructor recursion depth mismatch``), an error of the tool, not of the
  server. The examples, fuzzing and stateful phases run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from ownserver import ARTIFACTS, record_figures

ST = str(Path(sys.executable).parent / "st")
EXCLUDED = [
    "create_sandbox_api_sandboxes_post",
    "create_snapshot_api_snapshots_post",
    "kill_sandbox_api_sandboxes__sandbox_id__delete",
    "create_checkpoint_api_sandboxes__sandbox_id__checkpoints_post",
    "reboot_api_sandboxes__sandbox_id__reboot_post",
    "power_cycle_api_sandboxes__sandbox_id__power_cycle_post",
]
# Failures that say the schema is less precise than the server's validation (not a crash, not a bad response).
PRECISION = {"ST201", "ST202"}
# `st run` exits 0 when every check passed and 1 when some check failed; anything else means it did not finish.
COMPLETED = (0, 1)


@dataclass
class Run:
    returncode: int
    output: str
    report: dict  # the JSON run report
    failures: list[tuple[str, str, str]]  # (operation, failure code, text) from the JUnit report
    sandbox_id: str

    def codes(self) -> set[str]:
        return {failure["code"] for failure in self.report["failures"]}


def _junit_failures(path: Path) -> list[tuple[str, str, str]]:
    found = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for failure in case.iter("failure"):
            found.append((case.get("name", ""), failure.get("message", ""), failure.text or ""))
    return found


@pytest.fixture(scope="module")
def st_run(bad_server, tmp_path_factory) -> Run:
    """Run schemathesis once and read its reports."""
    folder = tmp_path_factory.mktemp("schemathesis")
    with bad_server.client() as api:
        created = api.post("/sandboxes", json={"timeout": 0})
        assert created.status_code == 201, created.text
        sandbox_id = created.json()["sandboxID"]
        snap = api.post("/snapshots", json={"name": "st-pinned", "image": {"base": "base", "steps": []}})
        assert snap.status_code == 201, snap.text
    config = folder / "schemathesis.toml"
    config.write_text(
        'headers = { "X-API-Key" = "${OC_ST_KEY}" }\n'
        "[parameters]\n"
        f'"path.sandbox_id" = "{sandbox_id}"\n'
        '"path.name" = "st-pinned"\n'
    )
    args = [
        ST,
        "--config-file",
        str(config),
        "run",
        bad_server.url + "/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--workers",
        "2",
        "--no-color",
        "--phases",
        "examples,fuzzing,stateful",
        "--generation-database",
        "none",
        "--continue-on-failure",
        "--request-timeout",
        "60",
        "--report",
        "json,junit",
        "--report-json-path",
        str(folder / "report.json"),
        "--report-junit-path",
        str(folder / "junit.xml"),
    ]
    for operation in EXCLUDED:
        args += ["--exclude-operation-id", operation]
    env = dict(bad_server.env, OC_ST_KEY=bad_server.key)
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=folder, timeout=600)
    output = done.stdout + done.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "badinput-schemathesis.txt").write_text(output)
    assert done.returncode in COMPLETED, f"st run did not complete (exit {done.returncode}):\n{output[-4000:]}"
    report = json.loads((folder / "report.json").read_text())
    for name in ("report.json", "junit.xml"):
        (ARTIFACTS / f"badinput-schemathesis-{name}").write_bytes((folder / name).read_bytes())
    run = Run(done.returncode, output, report, _junit_failures(folder / "junit.xml"), sandbox_id)
    record_figures(
        "badinput-schemathesis",
        {
            "cases_generated": report["test_cases"]["generated"],
            "failures": {f["code"]: f["count"] for f in report["failures"]},
            "errors": len(report["errors"]),
            "excluded_operations": EXCLUDED,
        },
    )
    return run


def test_schemathesis_ran_every_selected_operation_to_the_end(st_run):
    report = st_run.report
    assert report["exit_code"] == st_run.returncode
    assert (report["complete"], report["stop_reason"]) == (True, "completed"), report
    assert report["operations"]["selected"] == report["operations"]["tested"] == 40, report["operations"]
    assert report["operations"]["errored"] == 0 and report["test_cases"]["errored"] == 0, report
    assert report["test_cases"]["generated"] >= 300, report["test_cases"]
    # Every error group counts (network errors, unresponsive operations, schema errors, ...), not one title.
    assert report["errors"] == [], report["errors"]


def _cases(text: str) -> list[str]:
    return re.split(r"\n(?=\d+\. Test Case ID:)", text)


def _requests(case: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    """The (method, path, query) of each ``curl`` line under "Reproduce with"."""
    found = []
    for method, url in re.findall(r"curl -X (\w+) .*?'?(https?://[^\s']+)'?\s*$", case, re.MULTILINE):
        parts = urlsplit(url)
        found.append((method, parts.path, parse_qs(parts.query)))
    return found


def _refetched_what_it_deleted(case: str) -> bool:
    """ST301 asks again for what a DELETE removed; its stateful links also pair a file's DELETE with a
    listing of an unrelated folder, which is not the deleted resource and proves nothing."""
    requests = _requests(case)
    deletes = [r for r in requests if r[0] == "DELETE"]
    gets = [r for r in requests if r[0] == "GET"]
    if not deletes or not gets:
        return True
    (_, deleted_path, deleted_query), (_, got_path, got_query) = deletes[-1], gets[-1]
    if "path" in deleted_query or "path" in got_query:
        return deleted_query.get("path") == got_query.get("path")
    return deleted_path == got_path


def test_schemathesis_finds_no_server_error_and_no_response_off_its_schema(st_run, bad_server):
    assert bad_server.key not in st_run.output
    # A JUnit failure that several checks failed at once names them all, comma-separated.
    junit_codes = {part for _, code, _ in st_run.failures for part in code.split(", ")}
    assert junit_codes == st_run.codes(), "the JUnit report lacks failures the JSON lists"
    serious = [
        f"{operation} {code}: {case}"
        for operation, code, text in st_run.failures
        if not set(code.split(", ")) <= PRECISION
        for case in _cases(text)
        # A failure grouping several checks lists each case under its own check; count only the serious ones.
        if not set(re.findall(r"^- (ST\d+)", case, re.MULTILINE)) <= PRECISION
        if code != "ST301" or _refetched_what_it_deleted(case)
    ]
    assert serious == [], "\n".join(serious)[-8000:]
    assert st_run.returncode == (1 if st_run.codes() else 0)
    # The pinned sandbox lived through it all (fuzzed hibernate calls may leave it asleep).
    with httpx.Client(base_url=bad_server.url + "/api", headers=bad_server.headers, trust_env=False) as api:
        assert api.get(f"/sandboxes/{st_run.sandbox_id}").json()["status"] in {"running", "hibernated"}


def test_the_schema_says_what_the_server_accepts(st_run):
    """ST201/ST202: a request the schema calls valid is refused (or the reverse); the schema should say so.

    A refusal that depends on the sandbox's state (a ``cwd`` that does not
    exist there) is not something a schema can express, so it is not counted.
    """
    cases = [
        (operation, case) for operation, code, text in st_run.failures if code in PRECISION for case in _cases(text)
    ]
    unexplained = [f"{operation}: {case}" for operation, case in cases if "does not exist in sandbox" not in case]
    assert cases or not st_run.codes() & PRECISION, "the JSON report lists failures the JUnit report lacks"
    assert unexplained == [], "\n".join(unexplained)[-8000:]
