"""The live build log: one row per step, a progress bar and a bounded tail of output.

Two layers:

- :class:`BuildProgress` turns build-log events into per-step state
  (waiting, building, cached, done, failed) and keeps the whole log in a
  compact :class:`~oc_jupyter.widgets.log_buffer.LogBuffer`. No UI, no threads.
- :class:`BuildLogWidget` shows a ``BuildProgress`` with stock ipywidgets
  (or as text lines when there is no widget front end) and, when the build
  ends, replaces itself with a static HTML summary so the saved notebook
  records what happened.

Events may arrive on any thread; :meth:`BuildLogWidget.feed` only queues them.
The widget is redrawn from :meth:`BuildLogWidget.pump`, at most
``1/min_interval`` times a second, so a million-line build costs a handful of
comm messages per second and no line is lost (they are all in the buffer).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oc_jupyter.wire.events import infer_phase, parse_step_line

from ..untrusted import clean_terminal
from . import render
from .log_buffer import LogBuffer
from .mode import widgets_enabled

__all__ = ["BuildLogWidget", "BuildProgress", "StepState"]


@dataclass
class StepState:
    """What is known about one step of a build."""

    index: int
    description: str
    type: str = ""
    state: str = "waiting"
    started: float | None = None
    elapsed: float | None = None
    lines: int = 0


class BuildProgress:
    """Per-step state and the full log of one build, updated event by event."""

    def __init__(
        self,
        title: str = "Build",
        steps: Iterable[tuple[str, str]] = (),
        *,
        tail_lines: int = 200,
        clock=time.monotonic,
    ) -> None:
        self.title = title
        self.steps: list[StepState] = [StepState(i, desc, type_) for i, (type_, desc) in enumerate(steps, 1)]
        self.log = LogBuffer()
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.current: int | None = None
        self.status = "waiting"
        self.cache_hit = False
        self.error: str | None = None
        self.failure: tuple[int | None, list[str]] | None = None
        self.notes: list[str] = []
        self.events = 0
        self.output_lines = 0
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None

    # ---------------------------------------------------------------- events

    def _step(self, index: int, total: int | None = None, description: str = "", type_: str = "") -> StepState:
        while len(self.steps) < max(index, total or 0):
            self.steps.append(StepState(len(self.steps) + 1, ""))
        step = self.steps[index - 1]
        if description and not step.description:
            step.description = description
        if type_ and type_ not in ("build", "output") and not step.type:
            step.type = type_
        return step

    def _close_current(self, now: float) -> None:
        if self.current is not None:
            step = self.steps[self.current - 1]
            if step.state == "building":
                step.state = "done"
                if step.elapsed is None and step.started is not None:
                    step.elapsed = now - step.started
        self.current = None

    def apply(self, event: Any) -> None:  # noqa: C901
        """Take one build-log event: an SDK ``BuildLog``, a dict of its fields, or a plain line.

        One branch per event shape and phase, read as a table.
        """
        self.events += 1
        if self.status == "waiting":
            self.status = "building"
        if isinstance(event, dict):
            message, type_, phase = str(event.get("message", "")), str(event.get("type", "")), event.get("phase")
            step_no, elapsed = event.get("step"), event.get("elapsed")
        else:
            phase = getattr(event, "phase", None)
            if phase == "output":
                # The hot path: a million-line build is almost all output lines.
                self._output(str(event), getattr(event, "step", None))
                return
            message = str(getattr(event, "message", event))
            type_ = str(getattr(event, "type", "") or "")
            step_no, elapsed = getattr(event, "step", None), getattr(event, "elapsed", None)
        if phase == "output" and type_ != "cache_hit":
            self._output(message, step_no)
            return
        if phase == "reattach":
            # The SDK lost the stream and polls the build's status: no more lines will come.
            self.note(message)
            self.status = "reattaching"
            return
        now = self._clock()
        line = parse_step_line(message)
        if not phase:
            # Backends that do not send a phase still prefix step starts with "Step i/N:".
            phase = infer_phase(type_, message)
        if type_ == "cache_hit":
            self.cache_hit = True
            for step in self.steps:
                step.state = "cached"
            self.log.append(message)
            return
        if line and phase in ("start", "cached", "done"):
            index, total = line.step, line.total
            step = self._step(index, total, line.description.strip(), type_)
            if phase == "start":
                self._close_current(now)
                step.state, step.started = "building", now
                self.current = index
                self.tail.clear()
            elif phase == "cached":
                step.state = "cached"
            elif phase == "done":
                step.state = "done"
                if isinstance(elapsed, (int, float)):
                    step.elapsed = float(elapsed)
                elif step.started is not None:
                    step.elapsed = now - step.started
                if self.current == index:
                    self.current = None
            self.log.append(message)
            return
        if phase == "done" and isinstance(step_no, int) and 1 <= step_no <= len(self.steps):
            step = self.steps[step_no - 1]
            step.state = "done"
            step.elapsed = float(elapsed) if isinstance(elapsed, (int, float)) else step.elapsed
            if self.current == step_no:
                self.current = None
            self.log.append(message)
            return
        self._output(message, step_no)

    def _output(self, message: str, step_no) -> None:
        """One line of a step's output."""
        self.output_lines += 1
        self.log.append(message)
        self.tail.append(message)
        target = step_no if type(step_no) is int and 0 < step_no <= len(self.steps) else self.current
        if target is not None:
            self.steps[target - 1].lines += 1

    def note(self, text: str) -> None:
        """A remark from the client side (e.g. the stream dropped and status is being polled)."""
        self.notes.append(text)
        self.log.append(f"[oc_jupyter] {text}")

    def finish(
        self, ok: bool, error: str | None = None, *, step: int | None = None, tail: list[str] | None = None
    ) -> None:
        """Mark the build ended; on failure record the failing step and its last lines."""
        now = self._clock()
        self._ended = now
        if ok:
            self._close_current(now)
            for s in self.steps:
                if s.state in ("waiting", "building"):
                    s.state = "cached" if self.cache_hit else "done"
            self.status = "cached" if self.cache_hit else "done"
            return
        self.status = "failed"
        self.error = error
        failing = step if step is not None else self.current
        if failing is not None and 1 <= failing <= len(self.steps):
            s = self.steps[failing - 1]
            s.state = "failed"
            if s.elapsed is None and s.started is not None:
                s.elapsed = now - s.started
        self.current = None
        lines = list(tail) if tail else list(self.tail)
        self.failure = (failing, lines[-50:])
        if error:
            self.log.append(error)

    # ---------------------------------------------------------------- reading

    @property
    def finished(self) -> bool:
        return self._ended is not None

    @property
    def elapsed(self) -> float:
        return (self._ended if self._ended is not None else self._clock()) - self._started

    def fraction(self) -> float:
        if not self.steps:
            return 1.0 if self.finished and self.status != "failed" else 0.0
        finished = sum(1 for s in self.steps if s.state in ("done", "cached"))
        return finished / len(self.steps)

    def status_line(self) -> str:
        """What happened, in words: "built 5 steps in 41.2s", "2 cached, 3 built in 9.0s", "failed at step 3 of 5 …"."""
        took = render.human_duration(self.elapsed)
        total = len(self.steps)
        cached = sum(1 for s in self.steps if s.state == "cached")
        built = sum(1 for s in self.steps if s.state == "done")
        if self.status == "waiting":
            return "waiting to start"
        if self.status == "failed":
            failing = self.failure[0] if self.failure else None
            where = f"failed at step {failing} of {total}" if failing else "failed"
            return f"{where} after {took}"
        if self.status in ("building", "reattaching"):
            doing = f"building step {self.current} of {total}" if self.current else "building"
            if self.status == "reattaching":
                doing = "following the build by polling its status"
            done = ", ".join(part for part in (_count(cached, "cached"), _count(built, "built")) if part)
            return f"{doing} ({done + ', ' if done else ''}{took})"
        if self.cache_hit or (total and cached == total):
            return f"cache hit, {_plural(total, 'step')} already built ({took})"
        if cached:
            return f"{cached} cached, {built} built in {took}"
        return f"built {_plural(built, 'step')} in {took}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n else ""


# ============================================================================ the view


class BuildLogWidget:
    """Shows a build as it happens; holds the full log afterwards (``.log``, ``.progress``).

    Use it from a magic (which calls :meth:`pump` from the main thread) or by
    hand around an SDK call::

        view = BuildLogWidget("Build my-image", image=image)
        sandbox = await Sandbox.create(image=image, on_build_log=view.feed)
        view.close()

    :meth:`feed` only queues (it may be called from any thread); the view
    draws what was queued when :meth:`pump` or :meth:`close` runs, so a
    hand-held view that is never pumped shows the build when it is closed.
    """

    def __init__(
        self,
        title: str = "Build",
        *,
        image=None,
        steps: Iterable[tuple[str, str]] | None = None,
        tail_lines: int = 200,
        min_interval: float = 0.25,
        mode: str | None = None,
        display_now: bool = True,
        clock=time.monotonic,
    ) -> None:
        if steps is None and image is not None:
            steps = [(s.type, s.description) for s in image.steps]
        self.progress = BuildProgress(title, steps or (), tail_lines=tail_lines, clock=clock)
        self.min_interval = min_interval
        self._clock = clock
        self.use_widgets = widgets_enabled(mode)
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._last_draw = float("-inf")
        self._dirty = False
        self._handle = None
        self._closed = False
        self._lock = threading.Lock()
        self.redraws = 0
        self.box: Any = None  # an ipywidgets VBox once built
        if self.use_widgets:
            self._build_widgets()
        if display_now:
            self.display()

    # ---------------------------------------------------------------- public

    @property
    def log(self) -> LogBuffer:
        """Every line of the build, in order."""
        return self.progress.log

    def feed(self, event: Any) -> None:
        """Queue one build-log event; safe from any thread (use as ``on_build_log``)."""
        self._inbox.put(event)

    def pump(self, force: bool = False) -> None:
        """Apply queued events and redraw if the last redraw is old enough (main thread)."""
        with self._lock:
            applied = self._drain()
            if applied:
                self._dirty = True
            now = self._clock()
            if self._dirty and (force or now - self._last_draw >= self.min_interval):
                self._draw()
                self._last_draw = now
                self._dirty = False

    def note(self, text: str) -> None:
        with self._lock:
            self._drain()
            self.progress.note(text)
            if not self.use_widgets:
                self._print(f"[oc_jupyter] {render.one_line(text)}")
            self._dirty = True
        self.pump(force=True)

    def close(
        self, ok: bool = True, error: str | None = None, *, step: int | None = None, tail: list[str] | None = None
    ) -> None:
        """End the build view: final redraw, then a static summary replaces the live widget."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._drain()
            self.progress.finish(ok, error, step=step, tail=tail)
            self._finish_view()

    def fail(self, exc: BaseException) -> None:
        """Close as failed, taking the failing step and tail from a ``BuildFailed`` when given one."""
        self.close(False, str(exc), step=getattr(exc, "step", None), tail=getattr(exc, "tail", None) or None)

    def display(self) -> None:
        from IPython.display import display

        if self.use_widgets:
            self._handle = display(self.box, display_id=True)
        else:
            self._print(f"{render.one_line(self.progress.title)}: {_plural(len(self.progress.steps), 'step')}")

    def _repr_html_(self) -> str:
        return render.build_summary_html(self.progress)

    def __repr__(self) -> str:
        return render.build_summary_text(self.progress)

    # ---------------------------------------------------------------- internals

    def _drain(self) -> int:
        n = 0
        get = self._inbox.get_nowait
        apply = self.progress.apply
        text = not self.use_widgets
        while True:
            try:
                event = get()
            except queue.Empty:
                return n
            before = self.progress.current
            apply(event)
            n += 1
            if text:
                self._print_event(event, before)

    def _print(self, line: str) -> None:
        # Build output is the sandbox's: colours may reach the terminal, other escapes may not.
        print(clean_terminal(line), file=sys.stdout, flush=False)

    def _print_event(self, event: Any, before) -> None:
        message = str(getattr(event, "message", event) if not isinstance(event, dict) else event.get("message", ""))
        # One event is one printed line: an embedded break could forge a step line.
        message = " ".join(message.splitlines())
        phase = event.get("phase") if isinstance(event, dict) else getattr(event, "phase", None)
        if phase == "reattach":
            self._print(f"[oc_jupyter] {message}")
        elif parse_step_line(message) or getattr(event, "type", "") == "cache_hit":
            self._print(message)
        else:
            self._print("    " + message)

    def _build_widgets(self) -> None:
        import ipywidgets as w

        self.title_view = w.HTML(value=self._title_html())
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info", layout=w.Layout(width="60%"))
        self.steps_view = w.HTML(value=render.steps_html(self.progress.steps))
        self.notes_view = w.HTML(value="")
        self.tail_view = w.HTML(value="")
        self.failure_view = w.HTML(value="")
        self.box = w.VBox(
            [self.title_view, self.bar, self.steps_view, self.notes_view, self.tail_view, self.failure_view]
        )

    def _title_html(self) -> str:
        p = self.progress
        return f"<b>{render.escape(p.title)}</b> {render.badge(p.status)} {render.escape(p.status_line())}"

    def _draw(self) -> None:
        self.redraws += 1
        if not self.use_widgets:
            sys.stdout.flush()
            return
        p = self.progress
        # Assigning an unchanged value sends nothing, so only what moved costs a message.
        self.title_view.value = self._title_html()
        self.bar.value = p.fraction()
        self.steps_view.value = render.steps_html(p.steps)
        self.notes_view.value = render.notes_html(p.notes)
        self.tail_view.value = render.pre(p.tail) if p.tail else ""

    def _finish_view(self) -> None:
        p = self.progress
        if self.use_widgets:
            self._draw()
            self.bar.bar_style = "danger" if p.status == "failed" else "success"
            if p.failure is not None:
                self.failure_view.value = render.build_summary_html(p)
            summary = _Summary(p)
            if self._handle is not None:
                self._handle.update(summary)
            self.box.close()
        else:
            if p.failure is not None:
                self._print(render.build_summary_text(p))
            else:
                self._print(f"{render.one_line(p.title)}: {p.status_line()}")
            sys.stdout.flush()


class _Summary:
    """The static record a finished build leaves in the notebook (HTML and text)."""

    def __init__(self, progress: BuildProgress) -> None:
        self._html = render.build_summary_html(progress)
        self._text = render.build_summary_text(progress)

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return self._text
