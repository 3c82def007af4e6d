"""The shipped notebooks run end to end against the local backend and show what they promise."""

from __future__ import annotations

import re

import httpx
import pytest


def api(local_server, path: str):
    response = httpx.get(f"{local_server.url}/api{path}", headers={"X-API-Key": local_server.key}, timeout=30)
    response.raise_for_status()
    return response.json()


def snapshot_names(local_server) -> set[str]:
    return {s["name"] for s in api(local_server, "/snapshots")}


def no_errors(executed):
    for cell in executed.cells():
        assert all(o.output_type != "error" for o in cell.get("outputs", [])), executed.text(cell)
        assert cell.execution_count is not None, f"cell never ran: {cell.source[:60]!r}"


# --------------------------------------------------------------------------- quickstart


def test_quickstart_runs_every_cell(quickstart):
    no_errors(quickstart)


def test_quickstart_runs_commands_in_the_built_image(quickstart):
    assert "/usr/bin/curl" in quickstart.text(quickstart.cell("%oc_run --image dev_image which curl"))
    shell = quickstart.text(quickstart.cell("--shell"))
    assert "APP_ENV=development, working in /workspace" in shell
    assert "\ntrue" in "\n" + shell  # jq read the embedded config file
    assert "curl " in shell


def test_quickstart_keeps_python_state_between_cells(quickstart):
    first = quickstart.text(quickstart.cell("info = {"))
    assert "'requests'" in first and "'python'" in first
    assert "['python', 'requests']" in quickstart.text(quickstart.cell("sorted(info)"))


def test_quickstart_rebuilds_only_the_new_step(quickstart):
    log = quickstart.text(quickstart.cell("%%oc_image dev_image --build"))
    steps = [line.strip() for line in log.splitlines() if re.match(r"\s*\d+\. \[", line)]
    assert len(steps) == 6, log
    assert all(line.split()[1] == "[cached]" for line in steps[:5]), log  # built by the first %oc_run
    assert steps[5].split()[1] in ("[done]", "[cached]"), log
    assert "ready" in quickstart.text(quickstart.cell("%oc_run --image dev_image cat STATUS")).splitlines()


def test_quickstart_reports_cache_hits_on_second_builds(quickstart):
    for needle in ('commands.run("which curl")', "snapshots.create("):
        text = quickstart.text(quickstart.cell(needle))
        build_lines = [line for line in text.splitlines() if line.startswith("build: ")]
        assert len(build_lines) == 1 and re.search(r"already built|cache", build_lines[0], re.IGNORECASE), text


def test_quickstart_sdk_prints_the_seed_exit_code(quickstart):
    text = quickstart.text(quickstart.cell('commands.run("which curl")'))
    assert "same image as dev_image: True" in text
    assert "0" in text.splitlines()
    follow_up = quickstart.text(quickstart.cell("jq -r .debug"))
    assert follow_up.split() == ["ready", "true", "development"]


def test_quickstart_builds_and_uses_snapshots(quickstart):
    assert "55" in quickstart.text(quickstart.cell("np.arange(1, 11).sum()"))
    assert "quickstart-ml" in quickstart.text(quickstart.cell("%oc_snapshots"))
    assert re.search(r"quickstart-ml-sdk ready [0-9a-f]{12}", quickstart.text(quickstart.cell("snapshots.create(")))
    assert re.search(r"numpy \d+\.\d+", quickstart.text(quickstart.cell('snapshot="quickstart-ml-sdk"')))


def test_quickstart_cleans_up(quickstart, local_server):
    assert not {"quickstart-ml", "quickstart-ml-sdk"} & snapshot_names(local_server)
    assert quickstart.left_running == set()


# --------------------------------------------------------------------------- data science


def test_data_science_runs_every_cell(data_science):
    no_errors(data_science)


def test_data_science_reads_the_shipped_data(data_science):
    text = data_science.text(data_science.cell('load("data/bike_rentals.csv")'))
    assert "730 days, 01 Jan 2023 to 30 Dec 2024" in text
    for weather in ("clear", "cloudy", "rain"):
        assert weather in text


def test_data_science_brings_back_sane_metrics(data_science):
    text = data_science.text(data_science.cell('print(f"MAE'))
    mae, baseline = map(float, re.search(r"MAE (\d+) rentals/day \(predicting the average: (\d+)\)", text).groups())
    r2 = float(re.search(r"R² ([\d.]+) over 183 test days", text).group(1))
    assert 0.8 <= r2 <= 1.0
    assert 50 <= mae < baseline / 2
    assert "strongest features: temp_c" in data_science.text(data_science.cell("--pull metrics"))


def test_data_science_returns_a_figure(data_science):
    figure = data_science.cell("plt.subplots")
    assert any("image/png" in o.get("data", {}) for o in figure.outputs), figure.outputs


def test_data_science_cleans_up(data_science, local_server):
    assert "bike-rentals" not in snapshot_names(local_server)
    assert data_science.left_running == set()


# --------------------------------------------------------------------------- teaching


def test_teaching_runs_every_cell(teaching):
    no_errors(teaching)


def test_teaching_snapshot_holds_the_course(teaching):
    listing = teaching.text(teaching.cell("ls -1 tests"))
    assert "test_fizzbuzz.py" in listing and "test_word_count.py" in listing
    assert "pytest" in listing
    assert "py101-week1" in teaching.text(teaching.cell("%oc_snapshot info"))


def test_teaching_grades_right_and_wrong_answers(teaching):
    right = teaching.text(teaching.cell('await check("fizzbuzz", right)'))
    assert right.split() == ["answer", "/", "fizzbuzz:", "PASS", "True"]
    wrong = teaching.text(teaching.cell('await check("fizzbuzz", wrong)'))
    assert "answer / fizzbuzz: FAIL" in wrong
    assert "'Fizz' != 'FizzBuzz'" in wrong
    assert "2 of 3 tests failed" in wrong
    assert wrong.splitlines()[-1] == "False"


def test_teaching_grades_a_class(teaching):
    text = teaching.text(teaching.cell("for student, answer in answers.items()"))
    assert "ada / word_count: PASS" in text
    assert "grace / word_count: FAIL" in text
    assert "{'ada': True, 'grace': False}" in text


def test_teaching_cleans_up(teaching, local_server):
    assert "py101-week1" not in snapshot_names(local_server)
    assert teaching.left_running == set()


# --------------------------------------------------------------------------- all


@pytest.mark.parametrize("name", ["quickstart", "data_science", "teaching"])
def test_executed_notebooks_never_contain_the_api_key(name, request, local_server):
    executed = request.getfixturevalue(name)
    assert local_server.key not in executed.path.read_text()
