"""The snapshot table widget: rows, delete with confirmation, polling while building.

The table takes its data through two callables; these tests hand it plain
functions over a list (the magics integration tests drive it against the real
local server).
"""

from __future__ import annotations

import time

from oc_jupyter.sdk import SnapshotInfo
from oc_jupyter.widgets import SnapshotTable


def info(name, status="ready", h="ab" * 32):
    return SnapshotInfo.model_validate(
        {"name": name, "status": status, "contentHash": h, "createdAt": "2026-11-26T10:00:00Z", "lastUsedAt": None}
    )


def test_rows_show_name_status_short_hash_and_dates():
    table = SnapshotTable(lambda: [info("b"), info("a", "building")], mode="on", poll_interval=60)
    html = table.html()
    assert html.index(">a<") < html.index(">b<")
    assert "building" in html and "ready" in html
    assert "abababababab<" in html  # 12-character short hash
    assert "2026-11-26" in html
    grid = table._rows.children[0]
    texts = [getattr(child, "value", "") for child in grid.children]
    assert any(">a<" in t or t == "a" for t in texts)
    table.close()


def test_delete_asks_for_confirmation_then_deletes():
    store = {"keep": info("keep"), "drop": info("drop")}
    deleted = []

    def delete(name):
        deleted.append(name)
        store.pop(name)

    table = SnapshotTable(lambda: list(store.values()), delete, mode="on")
    table.ask_delete("drop")
    assert deleted == [] and "Delete snapshot <b>drop</b>?" in table._confirm.children[0].value
    table.cancel_delete()
    assert deleted == [] and table._confirm.children == ()
    table.ask_delete("drop")
    table.confirm_delete()
    assert deleted == ["drop"]
    assert [s.name for s in table.snapshots] == ["keep"]


def test_polls_while_a_snapshot_is_building_then_stops():
    answers = [[info("s", "building")], [info("s", "building")], [info("s", "ready")]]
    calls = []

    def load():
        calls.append(1)
        return answers[min(len(calls) - 1, len(answers) - 1)]

    table = SnapshotTable(load, mode="on", poll_interval=0.05)
    table.refresh()
    for _ in range(200):
        if table.snapshots[0].status == "ready" and not table._poller.is_alive():
            break
        time.sleep(0.05)
    assert table.snapshots[0].status == "ready"
    assert not table._poller.is_alive()
    assert len(calls) >= 3


def test_errors_are_shown_not_raised():
    def load():
        raise RuntimeError("backend down")

    table = SnapshotTable(load, mode="off")
    assert "backend down" in repr(table)
    assert "backend down" in table.html()


def test_bundle_carries_widget_and_static_html():
    table = SnapshotTable(lambda: [info("a")], mode="on")
    bundle = table._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert ">a<" in bundle["text/html"]
    text_only = SnapshotTable(lambda: [info("a")], mode="off")._repr_mimebundle_()
    assert set(text_only) == {"text/plain", "text/html"}
