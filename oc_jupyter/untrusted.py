"""What of a sandbox's output may be shown in the notebook, and how.

Everything that comes out of a sandbox is untrusted: a ``_repr_html_`` or a
log line is written by whoever controls the code running there. Output that
a kernel publishes is *trusted* by JupyterLab (its scripts run in the page,
which holds the user's Jupyter session), so a sandbox's display bundle is
rewritten before it is published:

- ``text/html`` and ``image/svg+xml`` are put inside an ``<iframe sandbox>``
  without ``allow-same-origin``: scripts in it still run (interactive plots
  work) but in an opaque origin, so they cannot reach the notebook page, its
  cookies or the Jupyter API; a Content-Security-Policy in the frame also
  forbids it to connect anywhere. Inside the iframe element sits a
  sanitized, script-free copy, which only a sanitizer that drops the frame
  shows (JupyterLab, for a notebook that is not trusted).
- ``text/markdown`` stays markdown, its embedded HTML sanitized with nh3 and
  ``javascript:``-like links broken; ``text/latex`` loses the MathJax
  commands that reach the page (``\\href``, ``\\style``, ``\\class`` ...).
- images pass only when their bytes really are the image they claim to be.
- ``text/plain`` passes with terminal escapes other than colours removed.
- everything else (``application/javascript``, widget views, bokeh/plotly
  exec bundles, unknown types) is dropped, with a one-line note saying so.

Pure functions (and :class:`TerminalStream`, for text that arrives in
chunks), no IPython: the magics and widgets import them, tests call them
directly.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Mapping
from typing import Any

import nh3

__all__ = [
    "FRAME_MAX_HEIGHT",
    "MAX_SANITIZED_TAGS",
    "MAX_STATIC_COPY_CHARS",
    "MAX_VALUE_CHARS",
    "TerminalStream",
    "clean_terminal",
    "escape_html",
    "frame_html",
    "one_line",
    "plain_text",
    "safe_bundle",
    "safe_markdown",
]

#: Largest value (characters of text or base64) shown from one MIME type; a
#: bigger one is dropped so a runaway repr cannot freeze the page.
MAX_VALUE_CHARS = 20 * 1024 * 1024

#: Most HTML tags sanitized in one go (a stretch of markdown, the static copy
#: of an HTML output); past it markdown shows them as text and HTML gets no
#: static copy, because the sanitizer's time grows with the square of the nesting.
MAX_SANITIZED_TAGS = 2000

#: Largest HTML output that also carries a sanitized static copy of itself.
MAX_STATIC_COPY_CHARS = 1024 * 1024

#: Height in CSS pixels above which a framed output scrolls inside its frame.
FRAME_MAX_HEIGHT = 480

_IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
_FRAMED = ("text/html", "image/svg+xml")
_TEXT = ("text/plain", "text/markdown", "text/latex")
_ALLOWED = (*_TEXT, "application/json", *_FRAMED, *_IMAGE_MAGIC)

# The frame's own policy: inline and CDN scripts and styles may run (plotly,
# bokeh, vega load that way), but nothing may be fetched, posted or framed
# from inside, and the frame may not navigate its parent or open windows (the
# sandbox attribute already forbids both; the policy is a second lock).
_FRAME_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' https: data: blob:; "
    "style-src 'unsafe-inline' https: data:; img-src https: data: blob:; "
    "font-src https: data:; media-src https: data: blob:; connect-src 'none'; "
    "frame-src 'none'; child-src 'none'; worker-src blob:; form-action 'none'; base-uri 'none'"
)
_FRAME_HEAD = (
    f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{_FRAME_CSP}">'
    '<meta name="referrer" content="no-referrer">'
    # The notebook's styles do not reach into the frame: tables get
    # a look close to JupyterLab's, on a background of their own so
    # text stays readable under a dark theme too.
    "<style>html,body{margin:0;padding:0;background:#fff;color:#212121;"
    'font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:13px;line-height:1.4}'
    "body{padding:2px 4px}table{border-collapse:collapse;border:none;font-size:12px;margin:2px 0}"
    "th,td{padding:4px 8px;text-align:right;vertical-align:middle;border:none}"
    "thead{border-bottom:1px solid #000}tbody tr:nth-child(odd){background:#f5f5f5}"
    "tbody tr:hover{background:#e3f2fd}pre{white-space:pre-wrap}</style>"
)

# ----------------------------------------------------------------- terminal text

# ESC [ params intermediates final, and its 8-bit form; an unfinished one at
# the end of the text is matched too so a chunk boundary never leaves half a
# sequence behind.
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*(?:[\x40-\x7e]|\Z)"
# OSC (titles, OSC 52 clipboard, OSC 8 links), DCS, SOS, PM and APC run to a
# string terminator (ST, or BEL for OSC); unterminated ones run to the end.
_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|\Z)"
# Any other escape: ESC, intermediates, final (charset switch, reset, save).
_OTHER_ESC = r"\x1b[\x20-\x2f]*[\x30-\x7e]?"
# C0 controls other than \t \n \r, DEL and the C1 range.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]"
_TERMINAL = re.compile(f"{_CSI}|{_STRING}|{_OTHER_ESC}|{_CONTROL}")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def clean_terminal(text: str) -> str:
    """``text`` with every terminal control sequence removed except SGR colours.

    Kept: ``ESC[...m`` (colours, bold, underline), ``\\t``, ``\\n`` and ``\\r``.
    A lone ``\\r`` stays because progress bars (pip, tqdm) redraw their line
    with it; it can only rewrite the current line, which the user sees.
    Removed: window titles and OSC 52 clipboard writes, OSC 8 hyperlinks,
    DCS/APC/PM strings, cursor moves, screen and line erases, alternate
    screen, charset switches, backspace and all other C0/C1 controls.
    """
    if not text:
        return text

    def keep(match: re.Match[str]) -> str:
        seq = match.group(0)
        return seq if _SGR.fullmatch(seq) else ""

    return _TERMINAL.sub(keep, text)


# The same sequences, complete: a match of _TERMINAL at the very end of a
# chunk that is not one of these was cut by the chunk boundary.
_COMPLETE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c)"
    # ESC [, ESC ], P, X, ^ and _ open the longer forms above.
    r"|\x1b[\x20-\x2f]*[\x30-\x4f\x51-\x57\x59\x5a\x5c\x60-\x7e]"
    # C1 controls other than the introducers of those forms.
    r"|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x8f\x91-\x97\x99\x9a\x9c]"
)


class TerminalStream:
    """``clean_terminal`` for text that arrives in chunks (a command's stdout).

    A sequence cut by a chunk boundary is held back until the next chunk
    completes it, so colours survive and no fragment of a removed sequence
    shows as text. At most ``limit`` characters are held: a longer unfinished
    sequence is removed like any other.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._held = ""

    def feed(self, text: str) -> str:
        """The cleaned text that can be shown now."""
        text, self._held = self._held + text, ""
        last = None
        for last in _TERMINAL.finditer(text):  # noqa: B007 -- the loop only finds the last match
            pass
        if (
            last is not None
            and last.end() == len(text)
            and len(last.group(0)) <= self.limit
            and not _COMPLETE.fullmatch(last.group(0))
        ):
            self._held, text = last.group(0), text[: last.start()]
        return clean_terminal(text)

    def flush(self) -> str:
        """What was held back, cleaned (at the end of the stream)."""
        held, self._held = self._held, ""
        return clean_terminal(held)


def plain_text(text: str) -> str:
    """``text`` with every terminal control sequence removed, colours too."""
    return _SGR.sub("", clean_terminal(text)) if text else text


_BREAKS = re.compile(r"[\t\n\r\u2028\u2029\x85]+")


def one_line(text: Any) -> str:
    """Sandbox text for one line or one table cell: no escapes, and no line break that could forge the next line."""
    return _BREAKS.sub(" ", plain_text(str(text)))


def escape_html(text: Any) -> str:
    """Sandbox text for an HTML context (element content or a quoted attribute).

    Terminal escapes are removed too: HTML shows no colours from them, only
    stray characters.
    """
    return html.escape(plain_text(str(text)), quote=True)


# ----------------------------------------------------------------- html & svg

_TALL = re.compile(r"<(?:svg|canvas|img|video|iframe|script|object|embed)\b", re.I)
_LINES = re.compile(r"<(?:tr|br|p|li|h[1-6]|dt|dd|hr|pre)\b", re.I)


def _frame_height(markup: str) -> int:
    """A height that fits short tables and text and caps plots; more scrolls.

    The frame cannot tell the page its height without a script of ours in
    the page, so it is estimated from the rows and lines the markup holds.
    """
    if _TALL.search(markup):
        return FRAME_MAX_HEIGHT
    if "<" not in markup or "<pre" in markup.lower():  # noqa: SIM108 -- each branch keeps its comment
        lines = markup.count("\n") + 1  # text whose line breaks show
    else:
        lines = len(_LINES.findall(markup)) + 1
    return max(32, min(FRAME_MAX_HEIGHT, 12 + 24 * lines))


def frame_html(markup: str, *, height: int | None = None) -> str:
    """``markup`` as a sandboxed iframe: its scripts run, but in an opaque origin.

    Without ``allow-same-origin`` the frame cannot read the notebook page, its
    cookies or storage, and requests it makes carry no Jupyter credentials;
    without ``allow-top-navigation``/``allow-popups``/``allow-forms`` it can
    neither move the page nor open windows nor submit forms. Everything is in
    the ``srcdoc`` attribute, escaped, so the markup cannot end the attribute.
    """
    doc = f"<!DOCTYPE html><html><head>{_FRAME_HEAD}</head><body>{markup}</body></html>"
    h = height if height is not None else _frame_height(markup)
    return (
        f'<iframe sandbox="allow-scripts" referrerpolicy="no-referrer" loading="lazy" '
        f'title="Output from the sandbox" class="oc-untrusted-frame" '
        f'style="width:100%;height:{int(h)}px;border:0;display:block;overflow:auto;resize:vertical" '
        f'srcdoc="{html.escape(doc, quote=True)}">{_static_copy(markup)}</iframe>'
    )


_FRAME_END = re.compile(r"(?i)</(iframe)")


def _static_copy(markup: str) -> str:
    """A sanitized, script-free copy of ``markup`` for the inside of its frame.

    A browser never shows an iframe's content (it is raw text to the HTML
    parser), but a sanitizer that drops the iframe, as JupyterLab's does for
    a notebook that is not trusted, keeps it: the reopened notebook shows the
    table or text instead of nothing. ``</iframe`` can only remain inside an
    attribute value, where it would end the frame early, so it is escaped.
    """
    if len(markup) > MAX_STATIC_COPY_CHARS or len(_TAG_LIKE.findall(markup)) > MAX_SANITIZED_TAGS:
        return ""
    clean = nh3.clean(
        markup,
        tags=set(_SAFE_TAGS),
        url_schemes=set(_SAFE_SCHEMES),
        attribute_filter=_safe_attribute,
        strip_comments=True,
    )
    return _FRAME_END.sub(r"&lt;/\1", clean)


# ----------------------------------------------------------------- markdown & latex

# Schemes that run code when a link is followed; data: except images can
# carry a whole HTML page.
_BAD_SCHEME = re.compile(
    r"(?i)\b((?:java|vb|live)\s*script|data(?!\s*\\?:\s*image/(?:png|jpe?g|gif|webp)[;,]))(\s*\\?:)"
)
_FENCE_OPEN = re.compile(r"(`{3,})(?!.*`).*|(~{3,}).*")


def _break_schemes(text: str) -> str:
    # A zero-width space inside the scheme makes the URL relative (harmless)
    # while the text still reads the same.
    return _BAD_SCHEME.sub(lambda m: f"{m.group(1)}\u200b{m.group(2)}", text)


# Tags kept in markdown: nh3's defaults (formatting, lists, tables, details,
# images, links) without image maps, whose areas are links of their own.
_SAFE_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"area", "map"}
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "data"})
_DATA_IMAGE = re.compile(r"(?i)data:image/(?:png|jpe?g|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z")
# Something that may be an HTML tag; any other "<" is plain text and is
# escaped before sanitizing, so that ``a<b`` in prose or a code span is not
# taken for the start of a tag that swallows the text after it.
_TAG_LIKE = re.compile(r"<(?=/?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|\Z))")
# After sanitizing: "&" and "<" that cannot start an entity, a tag or an
# autolink are shown as written (readable in code spans, where markdown does
# not decode entities); ">" never starts anything.
_SPARE_AMP = re.compile(r"&amp;(?![#A-Za-z0-9])")
_SPARE_LT = re.compile(r"&lt;(?![A-Za-z/!?])")


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute in ("href", "src") and value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and _DATA_IMAGE.match(value.strip()) else None
    return value


def _sanitise_markdown_text(text: str) -> str:
    text = text.replace("\x00", "\ufffd")  # as CommonMark does; NUL marks tags just below
    if len(_TAG_LIKE.findall(text)) > MAX_SANITIZED_TAGS:
        # The HTML parser's time grows with the square of the nesting depth,
        # so past this many tags every one is shown as text instead; entities
        # are decoded first so that none is decoded into a scheme later.
        text = html.unescape(text).replace("&", "&amp;").replace("<", "&lt;")
        return _safe_latex(_SPARE_LT.sub("<", _SPARE_AMP.sub("&", text)))
    if "<" in text:
        text = _TAG_LIKE.sub("\x00", text).replace("<", "&lt;").replace("\x00", "<")
    if "<" in text or "&" in text:
        # nh3 decodes every entity and re-escapes "&", "<" and ">", so no
        # entity survives to be decoded into a scheme by the renderer.
        text = nh3.clean(
            text,
            tags=set(_SAFE_TAGS),
            url_schemes=set(_SAFE_SCHEMES),
            attribute_filter=_safe_attribute,
            strip_comments=True,
        )
        text = _SPARE_LT.sub("<", _SPARE_AMP.sub("&", text.replace("&gt;", ">")))
    return _safe_latex(text)  # math in markdown goes to MathJax too


def safe_markdown(source: str) -> str:
    """Markdown from a sandbox, its embedded HTML sanitized with nh3.

    Harmless HTML (formatting, tables, ``<details>``, http(s) images and
    links) stays; scripts, event handlers, frames, forms, styles and
    script-running link schemes go, in HTML and in markdown links alike.
    Fenced code blocks that start in the first column are kept verbatim (the
    renderer shows them as text); a blank line is put before each so that no
    HTML block above can swallow it. Elsewhere a code span that contains a
    ``<`` followed by a letter shows ``&lt;``: the price of not guessing
    where a span ends differently from the renderer.
    """
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    plain: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m:
                text = _sanitise_markdown_text("".join(plain))
                plain = []
                if text and not text.endswith("\n"):
                    text += "\n"
                out.append(text)
                if "".join(out).strip() and not "".join(out).endswith("\n\n"):
                    out.append("\n")
                fence = m.group(1) or m.group(2)
                out.append(line)
            else:
                plain.append(line)
        else:
            out.append(line)
            # Close at least as early as any renderer would (marked also
            # accepts trailing backticks or tildes after the fence).
            stripped = line.strip(" \t\r\n")
            if len(line) - len(line.lstrip(" ")) <= 3 and stripped.startswith(fence) and set(stripped) <= {"`", "~"}:
                fence = None
    out.append(_sanitise_markdown_text("".join(plain)))
    return "".join(out)


_LATEX_COMMANDS = re.compile(r"\\(?:href|url|html[A-Za-z]*|require|class|style|cssId)\b")


def _safe_latex(source: str) -> str:
    # MathJax's \href/\url make links and \class/\style/\cssId/\html* reach
    # the page's DOM; \require loads extensions. Their backslash is doubled
    # so they show as text.
    return _break_schemes(_LATEX_COMMANDS.sub(lambda m: "\\" + m.group(0), source))


# ----------------------------------------------------------------- bundles


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)  # nbformat's multi-line string form
    return None


def _real_image(mime: str, value: Any) -> str | None:
    text = _as_text(value)
    if text is None:
        return None
    compact = "".join(text.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_IMAGE_MAGIC[mime]):
        return None
    return compact


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return sum(map(len, value))
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return 0  # not JSON: the check of its type says so


def _image_metadata(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        return {}
    kept: dict[str, Any] = {}
    for key in ("width", "height"):
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 100_000:
            kept[key] = value
    return kept


def safe_bundle(  # noqa: C901
    data: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """What may be shown of a display bundle from a sandbox, and notes of what was dropped.

    Returns ``(data, metadata, notes)``: a bundle safe to publish as trusted
    output, metadata reduced to image sizes, and one sentence per MIME type
    that was dropped or rewritten in a way the user should know about.

    One branch per MIME type, read as a table.
    """
    out: dict[str, Any] = {}
    meta_out: dict[str, Any] = {}
    notes: list[str] = []
    if not isinstance(data, Mapping):
        return out, meta_out, [f"Dropped output from the sandbox that was not a MIME bundle ({type(data).__name__})."]
    metadata = metadata if isinstance(metadata, Mapping) else {}
    dropped: list[str] = []

    for mime, value in data.items():
        mime_name = str(mime)
        key = mime_name.strip().lower()
        if key not in _ALLOWED:
            dropped.append(mime_name)
            continue
        if _size(value) > MAX_VALUE_CHARS:
            notes.append(
                f"Dropped {key} from the sandbox's output: it is larger than {MAX_VALUE_CHARS // (1024 * 1024)} MiB."
            )
            continue
        if key in _IMAGE_MAGIC:
            image = _real_image(key, value)
            if image is None:
                notes.append(
                    f"Dropped {key} from the sandbox's output: its data is not a {key.split('/')[1].upper()} image."
                )
                continue
            out[key] = image
            size = _image_metadata(metadata.get(mime))
            if size:
                meta_out[key] = size
            continue
        if key == "application/json":
            try:
                out[key] = json.loads(json.dumps(value, allow_nan=False))
            except (TypeError, ValueError, RecursionError):
                notes.append("Dropped application/json from the sandbox's output: it is not valid JSON.")
            continue
        text = _as_text(value)
        if text is None:
            notes.append(f"Dropped {key} from the sandbox's output: it is not text.")
            continue
        if key == "text/plain":
            out[key] = clean_terminal(text)
        elif key == "text/markdown":
            out[key] = safe_markdown(text)
        elif key == "text/latex":
            out[key] = _safe_latex(text)
        elif key == "text/html":
            out[key] = frame_html(text)
        elif key == "image/svg+xml" and "text/html" not in data:
            # Shown as framed HTML: an inline <svg> in the page could run
            # its own scripts and event handlers.
            out["text/html"] = frame_html(text)

    if dropped:
        listed = ", ".join(sorted(set(dropped)))
        notes.append(
            f"Not shown from the sandbox's output: {listed} (content that would run in the "
            "notebook page or that it cannot check is never displayed from a sandbox)."
        )
    return out, meta_out, notes
