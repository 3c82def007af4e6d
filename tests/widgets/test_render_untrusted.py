"""Names, log lines and messages from a sandbox or backend never become markup or terminal control.

Every HTML rendering is parsed: the only tags are the ones ``render`` writes
itself, with no event handler. Every text rendering holds no escape sequence
other than colours and no line the hostile value forged.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from oc_jupyter.sdk import BuildLog, CommandResult, SandboxInfo, SnapshotInfo
from oc_jupyter.widgets import BuildLogWidget, BuildProgress, SnapshotTable, render

HOSTILE = (
    "<img src=x onerror=alert(1)><script>alert(2)</script>\"'><svg onload=alert(3)>"
    "\x1b]0;pwned\x07\x1b]52;c;cm0gLXJm\x07\x1b[2J\x1b[31mred\x1b[0m\n  2. [done] forged\r"
)
RENDER_TAGS = {
    "div",
    "span",
    "b",
    "i",
    "code",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def assert_markup_is_ours(markup: str) -> None:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in RENDER_TAGS, (tag, markup)
        assert set(attrs) <= {"style", "title"}, (attrs, markup)
    assert "\x1b" not in markup


def assert_terminal_safe(text: str) -> None:
    for seq in re.findall(r"\x1b.{0,8}", text, re.S):
        assert re.match(r"\x1b\[[0-9;:]*m", seq), repr(seq)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]", text)
    assert not any(line.startswith("  2. [done] forged") for line in text.splitlines())


def hostile_build(fail: bool) -> BuildProgress:
    progress = BuildProgress(f"Build {HOSTILE}", [("run", HOSTILE)])
    progress.apply(BuildLog({"step": 1, "type": "run", "message": f"Step 1/1: {HOSTILE}", "phase": "start"}))
    progress.apply(BuildLog({"step": 1, "type": "run", "message": HOSTILE, "phase": "output"}))
    progress.note(HOSTILE)
    progress.finish(not fail, HOSTILE if fail else None)
    return progress


@pytest.mark.parametrize("fail", [False, True])
def test_build_summaries_escape_everything_from_the_sandbox(fail):
    progress = hostile_build(fail)
    html = render.build_summary_html(progress)
    assert_markup_is_ours(html)
    assert "&lt;script&gt;" in html  # shown, as text
    assert_markup_is_ours(render.steps_html(progress.steps))
    assert_terminal_safe(render.build_summary_text(progress))


def test_snapshot_and_sandbox_renderings():
    snap = SnapshotInfo.model_validate(
        {
            "name": HOSTILE,
            "status": HOSTILE,
            "contentHash": HOSTILE,
            "createdAt": HOSTILE,
            "lastUsedAt": None,
            "manifest": {"steps": [{"type": "add_file", "args": {"path": HOSTILE, "content": "QQ=="}}]},
        }
    )
    sandbox = SandboxInfo.model_validate(
        {"sandboxID": HOSTILE, "status": HOSTILE, "templateID": HOSTILE, "metadata": {"oc_jupyter.target": HOSTILE}}
    )
    for markup in (
        render.snapshot_html(snap),
        render.snapshots_html([snap]),
        render.snapshot_detail_html(snap),
        render.sandbox_html(sandbox),
        render.sandboxes_html([sandbox], {HOSTILE: HOSTILE}),
        render.command_result_html(CommandResult(exit_code=1, stdout=HOSTILE, stderr=HOSTILE)),
    ):
        assert_markup_is_ours(markup)
    for text in (
        render.snapshots_text([snap]),
        render.snapshot_detail_text(snap),
        render.sandboxes_text([sandbox], {HOSTILE: HOSTILE}),
    ):
        assert_terminal_safe(text)


def test_text_mode_build_log_prints_no_control_sequences(capsys):
    view = BuildLogWidget(HOSTILE, steps=[("run", "echo")], mode="off")
    view.feed(BuildLog({"step": 1, "type": "run", "message": "Step 1/1: echo", "phase": "start"}))
    view.feed(BuildLog({"step": 1, "type": "run", "message": HOSTILE, "phase": "output"}))
    view.pump(force=True)
    view.note(HOSTILE)
    view.close(False, HOSTILE)
    out = capsys.readouterr().out
    assert_terminal_safe(out)
    assert "\x1b[31mred\x1b[0m" in out  # colours of build output still show


def test_live_build_widget_state_holds_only_escaped_text():
    view = BuildLogWidget(HOSTILE, steps=[("run", HOSTILE)], mode="on", display_now=False)
    view.feed(BuildLog({"step": 1, "type": "run", "message": f"Step 1/1: {HOSTILE}", "phase": "start"}))
    view.feed(BuildLog({"step": 1, "type": "run", "message": HOSTILE, "phase": "output"}))
    view.pump(force=True)
    for child in (view.title_view, view.steps_view, view.tail_view):
        assert_markup_is_ours(child.value)
    view.close(True)


def test_snapshot_table_widget_and_text_with_hostile_names_and_errors():
    snap = SnapshotInfo.model_validate(
        {
            "name": HOSTILE,
            "status": "ready",
            "contentHash": "ab" * 32,
            "createdAt": "2026-11-26T10:00:00Z",
            "lastUsedAt": None,
        }
    )

    answers = [[snap]]

    def load():
        if answers:
            return answers.pop()
        raise RuntimeError(HOSTILE)

    table = SnapshotTable(load, mode="on", poll_interval=60)
    for cell in table._rows.children[0].children:
        if hasattr(cell, "value"):
            assert_markup_is_ours(cell.value)
    table.ask_delete(HOSTILE)
    assert_markup_is_ours(table._confirm.children[0].value)
    table.refresh()  # the backend now answers with an error message of its own making
    assert table.error == HOSTILE
    assert_markup_is_ours(table.html())
    assert_markup_is_ours(table._status.value)
    assert_terminal_safe(repr(table))
    table.close()
