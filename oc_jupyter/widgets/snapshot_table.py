"""The snapshot status table: name, status badge, short hash, created, last used.

It refreshes on demand, deletes with a confirmation, and polls on its own
while any snapshot is building. The data comes from two callables supplied by
the magic (``load() -> list[SnapshotInfo]``, ``delete(name)``), so this
module never talks to a backend itself.

Its display bundle carries the live widget and a static HTML table side by
side: a front end with widget support shows the widget, anything else (a saved
notebook on GitHub, nbconvert) shows the table as it last was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import render
from .mode import widgets_enabled

__all__ = ["SnapshotTable"]


class SnapshotTable:
    """A live table of named snapshots."""

    def __init__(
        self,
        load: Callable[[], list],
        delete: Callable[[str], Any] | None = None,
        *,
        poll_interval: float = 2.0,
        mode: str | None = None,
    ) -> None:
        self._load = load
        self._delete = delete
        self.poll_interval = poll_interval
        self.use_widgets = widgets_enabled(mode)
        self.snapshots: list = []
        self.error: str | None = None
        self.pending_delete: str | None = None
        self._handle = None
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self.refresh(redraw=False)
        if self.use_widgets:
            self._build()

    # ---------------------------------------------------------------- data

    def refresh(self, redraw: bool = True) -> None:
        """Reload the list from the backend and redraw."""
        with self._lock:
            try:
                self.snapshots = sorted(self._load(), key=lambda s: str(render._get(s, "name") or ""))
                self.error = None
            except Exception as exc:  # shown in the table; the widget must stay usable
                self.error = str(exc) or type(exc).__name__
        if redraw:
            self._redraw()
        if self.building() and self.use_widgets:
            self._ensure_polling()

    def building(self) -> list[str]:
        return [str(render._get(s, "name")) for s in self.snapshots if render._get(s, "status") == "building"]

    def ask_delete(self, name: str) -> None:
        """First click on delete: ask for confirmation."""
        self.pending_delete = name
        self._redraw()

    def confirm_delete(self) -> None:
        name, self.pending_delete = self.pending_delete, None
        if name and self._delete is not None:
            try:
                self._delete(name)
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
        self.refresh()

    def cancel_delete(self) -> None:
        self.pending_delete = None
        self._redraw()

    def close(self) -> None:
        self._stop.set()
        if self.use_widgets:
            self._box.close()

    # ---------------------------------------------------------------- display

    def _repr_html_(self) -> str:
        return self.html()

    def html(self) -> str:
        body = render.snapshots_html(self.snapshots)
        if self.error:
            body += f'<div style="color:#e53935">{render.escape(self.error)}</div>'
        return body

    def __repr__(self) -> str:
        return render.snapshots_text(self.snapshots) + (f"\n{render.one_line(self.error)}" if self.error else "")

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": repr(self), "text/html": self.html()}
        if self.use_widgets:
            data.update(self._box._repr_mimebundle_() or {})
            data["text/html"] = self.html()
            data["text/plain"] = repr(self)
        return data

    def show(self) -> None:
        from IPython.display import display

        self._handle = display(self, display_id=True)

    # ---------------------------------------------------------------- widgets

    def _build(self) -> None:
        import ipywidgets as w

        self._refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="auto"))
        self._refresh_button.on_click(lambda _b: self.refresh())
        self._status = w.HTML()
        self._rows = w.VBox()
        self._confirm = w.HBox()
        self._box = w.VBox([w.HBox([self._refresh_button, self._status]), self._rows, self._confirm])
        self._fill()

    def _fill(self) -> None:
        import ipywidgets as w

        cell = w.Layout(width="100%")
        grid = []
        for header in render.SNAPSHOT_HEADERS + [""]:
            grid.append(w.HTML(f"<b>{render.escape(header)}</b>", layout=cell))
        for info in self.snapshots:
            name = str(render._get(info, "name") or "")
            grid.extend(w.HTML(value, layout=cell) for value in render.snapshot_row(info))
            button = w.Button(
                description="Delete",
                button_style="",
                icon="trash",
                tooltip=f"Delete snapshot {name}",
                layout=w.Layout(width="auto"),
            )
            button.on_click(lambda _b, name=name: self.ask_delete(name))
            grid.append(button)
        self._rows.children = [
            w.GridBox(
                grid,
                layout=w.Layout(grid_template_columns="minmax(8em,auto) 7em 9em 11em 11em 7em", grid_gap="2px 8px"),
            )
        ]
        building = self.building()
        status = f"{len(self.snapshots)} snapshot{'s' if len(self.snapshots) != 1 else ''}"
        if building:
            status += f", {len(building)} building (refreshing every {self.poll_interval:g}s)"
        if self.error:
            status += f' <span style="color:#e53935">{render.escape(self.error)}</span>'
        self._status.value = status
        if self.pending_delete:
            yes = w.Button(description=f"Delete {self.pending_delete}", button_style="danger")
            no = w.Button(description="Cancel")
            yes.on_click(lambda _b: self.confirm_delete())
            no.on_click(lambda _b: self.cancel_delete())
            self._confirm.children = [
                w.HTML(
                    f"Delete snapshot <b>{render.escape(self.pending_delete)}</b>? Sandboxes made from it keep running."
                ),
                yes,
                no,
            ]
        else:
            self._confirm.children = []

    def _redraw(self) -> None:
        with self._lock:
            if self.use_widgets:
                self._fill()
            if self._handle is not None:
                # Keep the static copy that a saved notebook shows in step with the widget.
                self._handle.update(self)

    def _ensure_polling(self) -> None:
        if self._poller is not None and self._poller.is_alive():
            return

        def poll():
            # ipywidgets sends trait changes from any thread, so polling redraws directly.
            while not self._stop.wait(self.poll_interval):
                self.refresh()
                if not self.building():
                    return

        self._poller = threading.Thread(target=poll, name="oc-jupyter-snapshots", daemon=True)
        self._poller.start()
