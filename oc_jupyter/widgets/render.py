"""HTML and plain-text renderings of images, builds, snapshots, sandboxes and runs.

Pure functions from data to strings, shared by the live widgets, the static
summaries a saved notebook keeps, and the rich reprs. Only inline styles and
plain tags are used so the output looks the same in JupyterLab, Notebook 7,
VS Code and nbconvert's HTML. Names, log lines and messages come from a
sandbox or a backend and are untrusted: in HTML every value goes through
``escape`` (terminal escapes removed, then ``html.escape``); in text, names
and cells go through ``one_line`` and log lines through ``clean_terminal`` so
they can neither forge a line nor drive the terminal.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import Any

from oc_jupyter.wire.describe import content_size, describe_step, human_size

from ..untrusted import clean_terminal, one_line
from ..untrusted import escape_html as escape

__all__ = [
    "STATE_COLORS",
    "badge",
    "build_summary_html",
    "build_summary_text",
    "command_result_html",
    "human_duration",
    "human_size",
    "image_html",
    "image_text",
    "manifest_steps",
    "sandbox_html",
    "sandboxes_html",
    "sandboxes_text",
    "short_hash",
    "snapshot_detail_html",
    "snapshot_detail_text",
    "snapshot_html",
    "snapshots_html",
    "snapshots_text",
    "steps_html",
    "table",
    "when",
]

STATE_COLORS = {
    "waiting": "#9e9e9e",
    "building": "#1e88e5",
    "cached": "#8e24aa",
    "done": "#43a047",
    "ready": "#43a047",
    "running": "#43a047",
    "failed": "#e53935",
    "error": "#e53935",
    "will build": "#fb8c00",
    "stopped": "#757575",
    "reattaching": "#fb8c00",
}

_BOX = "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4"
_TABLE = "border-collapse:collapse;margin:4px 0"
_TD = "padding:2px 8px;border-bottom:1px solid #e0e0e0;text-align:left;vertical-align:top"
_PRE = (
    "margin:4px 0;padding:6px;background:#f5f5f5;color:#212121;max-height:20em;overflow:auto;"
    "white-space:pre-wrap;word-break:break-all;font-size:12px"
)


def badge(state: str) -> str:
    color = STATE_COLORS.get(state, "#607d8b")
    return (
        f'<span style="display:inline-block;padding:0 6px;border-radius:8px;color:#fff;'
        f'background:{color};font-size:11px">{escape(state)}</span>'
    )


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s"


def short_hash(value: str | None) -> str:
    return (value or "")[:12]


def when(value: Any) -> str:
    """An ISO timestamp as a short local-time string (unchanged when it cannot be read)."""
    if not value:
        return ""
    try:
        stamp = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone()
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (already HTML)."""
    cell = str if raw else (lambda v: escape(str(v)))
    head = "".join(f'<th style="{_TD};font-weight:600">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{_TD}">{cell(v)}</td>' for v in row) + "</tr>" for row in rows)
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [[one_line(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers).rstrip()] + [fmt.format(*r).rstrip() for r in rows])


def pre(lines: Iterable[str]) -> str:
    return f'<pre style="{_PRE}">{escape(chr(10).join(lines))}</pre>'


# --------------------------------------------------------------------------- images


def _preview_states(image, preview) -> list[str]:
    """Per step: 'cached', 'will build' or '' (unknown), from a cache preview."""
    states = [""] * len(image.steps)
    if preview is None:
        return states
    if getattr(preview, "cached", False):
        return ["cached"] * len(states)
    for step in getattr(preview, "steps", []) or []:
        index = getattr(step, "index", None)
        if isinstance(index, int) and 1 <= index <= len(states):
            states[index - 1] = "cached" if step.cached else "will build"
    return states


def image_html(image, name: str | None = None, preview=None, *, preview_known: bool = True) -> str:
    """An image's summary: steps (with cached / will build), embedded files, cache key."""
    states = _preview_states(image, preview)
    rows = [
        [str(i), escape(step.type), escape(_clip(step.description)), badge(states[i - 1]) if states[i - 1] else ""]
        for i, step in enumerate(image.steps, 1)
    ]
    title = f"Image <b>{escape(name)}</b>" if name else "Image"
    parts = [
        f'<div style="{_BOX}"><div>{title} from <code>{escape(image.base_image)}</code>, '
        f"{len(image.steps)} step{'s' if len(image.steps) != 1 else ''}</div>"
    ]
    if rows:
        parts.append(table(["#", "type", "step", "cache"], rows, raw=True))
    files = image.files()
    if files:
        total = sum(size for _, size in files)
        shown = files[:50]
        file_rows = [[escape(path), human_size(size)] for path, size in shown]
        if len(files) > len(shown):
            file_rows.append([f"… {len(files) - len(shown)} more", ""])
        parts.append(
            f"<details><summary>{len(files)} embedded file{'s' if len(files) != 1 else ''}, "
            f"{human_size(total)}</summary>{table(['path', 'size'], file_rows, raw=True)}</details>"
        )
    key = image.cache_key()
    note = ""
    if preview is None and not preview_known:
        note = " (the backend does not report what is cached)"
    elif preview is not None and getattr(preview, "cached", False):
        note = " (" + badge("cached") + " whole image)"
    parts.append(f'<div>cache key <code title="{escape(key)}">{escape(short_hash(key))}</code>{note}</div></div>')
    return "".join(parts)


def image_text(image, name: str | None = None, preview=None) -> str:
    states = _preview_states(image, preview)
    head = f"Image {one_line(name)} " if name else "Image "
    lines = [
        f"{head}from {one_line(repr(image.base_image))}, {len(image.steps)} steps, "
        f"cache key {short_hash(image.cache_key())}"
    ]
    for i, step in enumerate(image.steps, 1):
        state = f"  [{states[i - 1]}]" if states[i - 1] else ""
        lines.append(f"  {i}. {_clip(step.description)}{state}")
    files = image.files()
    if files:
        lines.append(f"  {len(files)} embedded files, {human_size(sum(s for _, s in files))}:")
        lines += [f"    {one_line(path)} ({human_size(size)})" for path, size in files[:20]]
        if len(files) > 20:
            lines.append(f"    … {len(files) - 20} more")
    return "\n".join(lines)


def _clip(text: str, limit: int = 100) -> str:
    text = " ".join(one_line(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- builds


def steps_html(steps) -> str:
    """The per-step table of a build: number, step, state badge, duration, line count."""
    rows = [
        [
            str(s.index),
            escape(_clip(s.description)),
            badge(s.state),
            human_duration(s.elapsed),
            str(s.lines) if s.lines else "",
        ]
        for s in steps
    ]
    return table(["#", "step", "state", "time", "lines"], rows, raw=True)


def notes_html(notes) -> str:
    """Remarks from the client side of a build (such as a dropped stream being followed by polling)."""
    return "".join(f'<div style="color:#ef6c00">{escape(note)}</div>' for note in notes)


def build_summary_html(progress) -> str:
    """A static record of a finished (or stopped) build, kept in the saved notebook."""
    parts = [
        f'<div style="{_BOX}"><div><b>{escape(progress.title)}</b> {badge(progress.status)} '
        f"{escape(progress.status_line())}</div>"
    ]
    if progress.steps:
        parts.append(steps_html(progress.steps))
    parts.append(notes_html(progress.notes))
    if progress.failure is not None:
        _step, tail = progress.failure
        parts.append(f'<div style="color:#e53935">{escape(progress.error or "The build failed.")}</div>')
        if tail:
            parts.append(pre(tail))
    elif progress.tail:
        parts.append(
            f"<details><summary>last {len(progress.tail)} lines of output</summary>{pre(progress.tail)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


def build_summary_text(progress) -> str:
    lines = [f"{one_line(progress.title)}: {progress.status_line()}"]
    for s in progress.steps:
        extra = f" {human_duration(s.elapsed)}" if s.elapsed is not None else ""
        lines.append(f"  {s.index}. [{s.state}] {_clip(s.description)}{extra}")
    lines += [f"  [oc_jupyter] {one_line(note)}" for note in progress.notes]
    if progress.failure is not None:
        lines.append(one_line(progress.error or "The build failed."))
        lines += ["  | " + " ".join(clean_terminal(line).splitlines()) for line in progress.failure[1]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- snapshots and sandboxes


def _get(info: Any, key: str, attr: str | None = None) -> Any:
    value = getattr(info, attr or key, None)
    if value is None:
        try:
            value = info[key]
        except Exception:
            value = None
    return value


def snapshot_row(info) -> list[str]:
    return [
        escape(str(_get(info, "name") or "")),
        badge(str(_get(info, "status") or "unknown")),
        f'<code title="{escape(str(_get(info, "contentHash", "content_hash") or ""))}">'
        f"{escape(short_hash(_get(info, 'contentHash', 'content_hash')))}</code>",
        escape(when(_get(info, "createdAt", "created_at"))),
        escape(when(_get(info, "lastUsedAt", "last_used_at"))),
    ]


SNAPSHOT_HEADERS = ["name", "status", "hash", "created", "last used"]


def snapshot_html(info) -> str:
    return f'<div style="{_BOX}">{table(SNAPSHOT_HEADERS, [snapshot_row(info)], raw=True)}</div>'


def snapshots_html(infos) -> str:
    if not infos:
        return f'<div style="{_BOX}"><i>No snapshots.</i></div>'
    return f'<div style="{_BOX}">{table(SNAPSHOT_HEADERS, [snapshot_row(i) for i in infos], raw=True)}</div>'


def snapshots_text(infos) -> str:
    if not infos:
        return "No snapshots."
    rows = [
        [
            str(_get(i, "name") or ""),
            str(_get(i, "status") or ""),
            short_hash(_get(i, "contentHash", "content_hash")),
            when(_get(i, "createdAt", "created_at")),
            when(_get(i, "lastUsedAt", "last_used_at")),
        ]
        for i in infos
    ]
    return _text_table(SNAPSHOT_HEADERS, rows)


def manifest_steps(manifest: Any) -> tuple[list[str], list[tuple[str, int]]]:
    """A wire manifest's steps as short descriptions, and its embedded files as ``(path, size)``, never content."""
    steps = (manifest.get("steps") or []) if isinstance(manifest, dict) else []
    descriptions: list[str] = []
    files: list[tuple[str, int]] = []
    for step in steps:
        kind = str(step.get("type", "?")) if isinstance(step, dict) else "?"
        args = step["args"] if isinstance(step, dict) and isinstance(step.get("args"), dict) else {}
        if kind == "add_file":
            files.append((str(args.get("path", "")), content_size(args.get("content"))))
        elif kind == "add_dir":
            root = str(args.get("path", "")).rstrip("/")
            files += [
                (f"{root}/{f.get('relativePath', '')}", content_size(f.get("content")))
                for f in args.get("files") or []
                if isinstance(f, dict)
            ]
        descriptions.append(describe_step(kind, args))
    return descriptions, files


def _snapshot_facts(info) -> list[tuple[str, str]]:
    return [
        ("status", str(_get(info, "status") or "unknown")),
        ("hash", short_hash(_get(info, "contentHash", "content_hash"))),
        ("created", when(_get(info, "createdAt", "created_at"))),
        ("last used", when(_get(info, "lastUsedAt", "last_used_at")) or "never"),
    ]


def snapshot_detail_html(info) -> str:
    """One snapshot in full for ``%oc_snapshot info``: facts, steps, embedded files (paths and sizes only)."""
    steps, files = manifest_steps(_get(info, "manifest"))
    facts = _snapshot_facts(info)
    head = " ".join(
        [f"Snapshot <b>{escape(str(_get(info, 'name') or ''))}</b>", badge(facts[0][1])]
        + [f"{escape(k)} <code>{escape(v)}</code>" if k == "hash" else f"{escape(k)} {escape(v)}" for k, v in facts[1:]]
    )
    parts = [f'<div style="{_BOX}"><div>{head}</div>']
    if steps:
        parts.append(table(["#", "step"], [[str(i), _clip(d)] for i, d in enumerate(steps, 1)]))
    if files:
        rows = [[path, human_size(size)] for path, size in files[:50]]
        if len(files) > 50:
            rows.append([f"… {len(files) - 50} more", ""])
        parts.append(
            f"<details><summary>{len(files)} embedded file{'s' if len(files) != 1 else ''}, "
            f"{human_size(sum(n for _, n in files))}</summary>{table(['path', 'size'], rows)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


def snapshot_detail_text(info) -> str:
    steps, files = manifest_steps(_get(info, "manifest"))
    lines = [
        f"Snapshot {one_line(_get(info, 'name') or '')}: "
        + ", ".join(f"{k} {one_line(v)}" for k, v in _snapshot_facts(info))
    ]
    lines += [f"  {i}. {_clip(d)}" for i, d in enumerate(steps, 1)]
    if files:
        lines.append(
            f"  {len(files)} embedded file{'s' if len(files) != 1 else ''}, {human_size(sum(n for _, n in files))}:"
        )
        lines += [f"    {one_line(path)} ({human_size(size)})" for path, size in files[:20]]
        if len(files) > 20:
            lines.append(f"    … {len(files) - 20} more")
    return "\n".join(lines)


SANDBOX_HEADERS = ["id", "status", "from", "created", "notebook"]


def _origin(info) -> str:
    meta = _get(info, "metadata") or {}
    if isinstance(meta, dict) and meta.get("oc_jupyter.target"):
        return str(meta["oc_jupyter.target"])
    return str(_get(info, "templateID", "template_id") or "")


def sandbox_row(info, mark: dict | None = None) -> list[str]:
    sid = str(_get(info, "sandboxID", "sandbox_id") or "")
    return [
        sid,
        str(_get(info, "status") or ""),
        _origin(info),
        when(_get(info, "startedAt") or _get(info, "createdAt")),
        (mark or {}).get(sid, ""),
    ]


def sandbox_html(info) -> str:
    return f'<div style="{_BOX}">{table(SANDBOX_HEADERS[:4], [sandbox_row(info)[:4]])}</div>'


def sandboxes_html(infos, mark: dict | None = None) -> str:
    if not infos:
        return f'<div style="{_BOX}"><i>No sandboxes.</i></div>'
    return f'<div style="{_BOX}">{table(SANDBOX_HEADERS, [sandbox_row(i, mark) for i in infos])}</div>'


def sandboxes_text(infos, mark: dict | None = None) -> str:
    if not infos:
        return "No sandboxes."
    return _text_table(SANDBOX_HEADERS, [sandbox_row(i, mark) for i in infos])


def command_result_html(result) -> str:
    """A ``ProcessResult``: exit code badge, then stdout and stderr (the last 20,000 characters of each)."""
    code = getattr(result, "exit_code", None)
    parts = [f'<div style="{_BOX}">{badge("done" if code == 0 else "failed")} exit code {escape(str(code))}']
    for name in ("stdout", "stderr"):
        text = getattr(result, name, "") or ""
        if text:
            parts.append(f"<div>{name}</div>{pre(text[-20000:].splitlines())}")
    parts.append("</div>")
    return "".join(parts)
