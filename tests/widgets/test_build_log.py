"""The build-log widget: step states, batched redraws, a bounded tail, and every line kept."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest

from oc_jupyter.sdk import BuildLog
from oc_jupyter.sdk.errors import BuildFailed
from oc_jupyter.widgets import BuildLogWidget, BuildProgress


class FakeClock:
    """A settable clock, so batching is checked without depending on real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def start(i, n, desc):
    return BuildLog({"step": i, "type": "run", "message": f"Step {i}/{n}: {desc}", "phase": "start"})


def output(i, text):
    return BuildLog({"step": i, "type": "run", "message": text, "phase": "output"})


def done(i, n, desc, elapsed=1.5):
    return BuildLog({"step": i, "type": "run", "message": f"Step {i}/{n}: {desc}", "phase": "done", "elapsed": elapsed})


def widget(**kw):
    kw.setdefault("mode", "on")
    kw.setdefault("display_now", False)
    return BuildLogWidget("Build test", steps=[("run", "echo a"), ("pip_install", "pip six"), ("run", "echo c")], **kw)


def test_step_states_follow_the_events():
    p = BuildProgress("b", [("run", "a"), ("run", "b"), ("run", "c")])
    p.apply(BuildLog({"step": 1, "type": "run", "message": "Step 1/3: a (cached)", "phase": "cached"}))
    p.apply(start(2, 3, "b"))
    p.apply(output(2, "working"))
    assert [s.state for s in p.steps] == ["cached", "building", "waiting"]
    p.apply(done(2, 3, "b", 2.0))
    p.apply(start(3, 3, "c"))
    p.finish(True)
    assert [s.state for s in p.steps] == ["cached", "done", "done"]
    assert p.steps[1].elapsed == 2.0
    assert p.steps[1].lines == 1
    assert p.status == "done"


def test_states_are_inferred_without_phase_as_the_cloud_sends_them():
    p = BuildProgress("b")
    for message in ["Step 1/2: apt_install curl (cached)", "Step 2/2: run make", "compiling", "linking"]:
        p.apply({"type": "run", "message": message})
    assert [s.state for s in p.steps] == ["cached", "building"]
    assert p.steps[1].description == "run make"
    assert list(p.tail) == ["compiling", "linking"]


def test_whole_image_cache_hit_marks_every_step_cached():
    p = BuildProgress("b", [("run", "a"), ("run", "b")])
    p.apply(BuildLog({"step": 0, "type": "cache_hit", "message": "Image abc is cached"}))
    p.finish(True)
    assert [s.state for s in p.steps] == ["cached", "cached"]
    assert p.status == "cached" and p.cache_hit


def test_failure_view_names_the_failing_step_and_its_last_lines():
    w = widget()
    w.feed(start(1, 3, "echo a"))
    w.feed(done(1, 3, "echo a"))
    w.feed(start(2, 3, "pip six"))
    w.feed(output(2, "ERROR: no such package"))
    w.fail(
        BuildFailed(
            "Step 2/3 (pip_install) failed with exit code 1: ERROR: no such package",
            step=2,
            tail=["Collecting six", "ERROR: no such package"],
        )
    )
    states = [s.state for s in w.progress.steps]
    assert states == ["done", "failed", "waiting"]
    html = w._repr_html_()
    assert "failed with exit code 1" in html and "Collecting six" in html
    assert "ERROR: no such package" in w.failure_view.value


def test_no_line_is_lost_and_the_live_tail_stays_bounded():
    clock = FakeClock()
    w = widget(tail_lines=50, clock=clock)
    tails = []
    w.tail_view.observe(lambda change: tails.append(change["new"].count("\n") + 1), names="value")
    lines = [f"line {i} é ✓" for i in range(20_000)]
    w.feed(start(1, 3, "echo a"))
    for i, line in enumerate(lines):
        w.feed(output(1, line))
        if i % 100 == 0:
            clock.now += 0.01
            w.pump()
    w.close(True)
    logged = [line for line in w.log if not line.startswith("Step ")]
    assert logged == lines
    assert w.progress.steps[0].lines == len(lines)
    assert tails and max(tails) <= 50


def test_redraws_are_batched_to_the_interval():
    clock = FakeClock()
    w = widget(clock=clock, min_interval=0.25)
    changes = []
    w.steps_view.observe(lambda change: changes.append(clock.now), names="value")
    w.tail_view.observe(lambda change: changes.append(clock.now), names="value")
    w.feed(start(1, 3, "echo a"))
    for i in range(10_000):  # ten simulated seconds, one line a millisecond
        w.feed(output(1, f"l{i}"))
        clock.now += 0.001
        w.pump()
    assert w.redraws <= 10 / 0.25 + 2
    # Each redraw sends at most one update per child widget.
    assert len(changes) <= 2 * w.redraws


def test_events_from_many_threads_arrive_whole_and_in_order():
    w = widget()
    per_thread = 5_000

    def produce(k):
        for i in range(per_thread):
            w.feed(output(1, f"t{k}-{i}"))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        w.pump()
    for t in threads:
        t.join()
    w.close(True)
    lines = list(w.log)
    assert len(lines) == 4 * per_thread
    for k in range(4):
        mine = [line for line in lines if line.startswith(f"t{k}-")]
        assert mine == [f"t{k}-{i}" for i in range(per_thread)]


def test_a_million_line_build_costs_less_than_50_mb():
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        w = widget(tail_lines=200)
        w.feed(start(1, 3, "echo a"))
        for i in range(1_000_000):
            w.feed(output(1, f"2026-11-26T10:00:00 step output line number {i:07d} of the build"))
            if i % 10_000 == 0:
                w.pump()
        w.close(True)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(w.log) == 1_000_001
    assert grown < 50 * 1024 * 1024, f"{grown / 1e6:.1f} MB"
    assert w.log.tail(1)[0].endswith("0999999 of the build")


def test_text_mode_prints_each_event_as_a_line(capsys):
    w = BuildLogWidget("Build text", steps=[("run", "echo a")], mode="off")
    w.feed(start(1, 1, "echo a"))
    w.feed(output(1, "hello"))
    w.pump(force=True)
    w.close(True)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "Build text: 1 step"
    assert "Step 1/1: echo a" in printed
    assert "    hello" in printed
    assert printed[-1].startswith("Build text: built 1 step in ")


def test_env_var_forces_text_mode(monkeypatch):
    monkeypatch.setenv("OC_JUPYTER_WIDGETS", "off")
    assert BuildLogWidget("x", mode="on", display_now=False).use_widgets is False


@pytest.mark.parametrize("mode", ["on", "off"])
def test_summary_left_behind_holds_no_secret(mode, monkeypatch):
    secret = "key-that-must-not-show"
    monkeypatch.setenv("OPENCOMPUTER_API_KEY", secret)
    w = BuildLogWidget("Build", steps=[("run", "echo a")], mode=mode, display_now=False)
    w.feed(start(1, 1, "echo a"))
    w.close(True)
    assert secret not in w._repr_html_() and secret not in repr(w)
    if mode == "on":
        assert all(secret not in str(v) for v in w.box.get_state().values())


def _built(cached_steps, fail_at=None):
    """A five-step build over a fake clock: the first ``cached_steps`` cached, the rest built (or failing)."""
    clock = FakeClock()
    w = BuildLogWidget(
        "Snapshot quickstart-ml",
        steps=[("run", f"step {i}") for i in range(1, 6)],
        mode="on",
        display_now=False,
        clock=clock,
    )
    for i in range(1, 6):
        if i <= cached_steps:
            w.feed(BuildLog({"step": i, "type": "run", "message": f"Step {i}/5: step {i} (cached)", "phase": "cached"}))
            continue
        w.feed(start(i, 5, f"step {i}"))
        clock.now += 8.24
        if i == fail_at:
            w.pump(force=True)
            w.fail(BuildFailed("Step 3/5 (run) failed with exit code 1: boom", step=i, tail=["boom"]))
            return w
        w.feed(done(i, 5, f"step {i}", elapsed=8.24))
    w.pump(force=True)
    w.close(True)
    return w


@pytest.mark.parametrize(
    ("cached", "fail_at", "line"),
    [
        (0, None, "built 5 steps in 41.2s"),
        (2, None, "2 cached, 3 built in 24.7s"),
        (5, None, "cache hit, 5 steps already built (0.0s)"),
        (2, 3, "failed at step 3 of 5 after 8.2s"),
    ],
)
def test_the_summary_line_reads_naturally_in_text_html_and_the_title(cached, fail_at, line):
    w = _built(cached, fail_at)
    assert repr(w).splitlines()[0] == f"Snapshot quickstart-ml: {line}"
    assert line in w._repr_html_()
    assert line in w.title_view.value


def test_the_live_title_says_which_step_is_building():
    clock = FakeClock()
    w = BuildLogWidget("Build x", steps=[("run", "a"), ("run", "b")], mode="on", display_now=False, clock=clock)
    w.feed(start(1, 2, "a"))
    w.feed(done(1, 2, "a", elapsed=2.0))
    w.feed(start(2, 2, "b"))
    clock.now = 3.0
    w.pump(force=True)
    assert "building step 2 of 2 (1 built, 3.0s)" in w.title_view.value
