"""The kernel side of ``%%oc_run``'s remote Python: one persistent interpreter per sandbox.

The interpreter (``_repl_server.py``) is started once per sandbox through an
SDK exec session, so names defined in one cell are there in the next. Its
stdout carries only length-prefixed JSON frames (the cell's own output comes
as ``stream`` frames, see the server's docstring), which a
:class:`FrameReader` cuts apart as chunks arrive.

The sandbox is untrusted, so the kernel acts only on replies to the request
it is waiting for: values it asked to pull, read with the safe decoders of
:mod:`.values` (pickle only for names the user opted in); anything else (an
unrequested pull, an unknown frame, a second ``done``, a frame for another
request) is dropped and noted in one line under the cell.

The interpreter waits for requests, so it does not by itself keep its
sandbox awake (``IDLE_SESSION_ENV``): between cells the sandbox hibernates
after its idle timeout with every name kept, and while a cell runs the kernel
marks the sandbox active every ``keep_awake_every`` seconds so a long silent
cell is never frozen.
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..untrusted import clean_terminal, safe_bundle
from . import bridge, values
from .errors import CommandTimedOut, RemotePythonError
from .output import OutputWriter

if TYPE_CHECKING:  # the SDK is imported when first used, not when the extension loads
    from ..sdk.exec import ExecSession

__all__ = ["SOURCE", "ExecOutcome", "FrameReader", "RemotePython", "RemotePythonGone"]

# values.py goes first: its encoder is what the interpreter pulls values with.
SOURCE = (
    Path(__file__).with_name("values.py").read_text(encoding="utf-8")
    + "\n\n"
    + Path(__file__).with_name("_repl_server.py").read_text(encoding="utf-8")
)
PICKLE_PROTOCOL = 4
START_TIMEOUT = 60.0
INTERRUPT_GRACE = 2.0
# Acknowledge consumed output in steps well inside the interpreter's 4 MiB window.
ACK_EVERY = 1 << 20
# A frame longer than this is not one the interpreter would send.
MAX_FRAME = 1 << 31
KNOWN = {
    "ready",
    "stream",
    "display",
    "error",
    "push_error",
    "pull",
    "pull_error",
    "done",
    "sh_out",
    "sh_err",
    "sh_exit",
}
# Tells the server this session waits for input: only its I/O counts as activity.
IDLE_SESSION_ENV = "OC_JUPYTER_IDLE_SESSION"


class RemotePythonGone(Exception):
    """The sandbox's interpreter ended; names defined in it are lost."""


class FrameReader:
    """Cuts the interpreter's stdout into frames: ``<length> <ascii json>\\n`` each.

    Chunks are kept in a list until a frame is complete, so a large frame (a
    pulled table) costs one join, not one copy per chunk. Text that is not a
    well-formed frame is reported as a breach and skipped up to the next
    newline (JSON frames contain none).
    """

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._size = 0
        self._need: int | None = None

    def feed(self, text: str) -> list[tuple[str, Any]]:
        """``("frame", dict)`` and ``("breach", reason)`` items for what is complete so far."""
        out: list[tuple[str, Any]] = []
        if text:
            self._chunks.append(text)
            self._size += len(text)
        while self._size:
            if self._need is None:
                head = self._peek(24)
                space = head.find(" ")
                if space == -1:
                    if len(head) >= 24 or "\n" in head:
                        out.append(("breach", "text outside a frame"))
                        self._skip_line()
                        continue
                    break
                if not head[:space].isdigit() or int(head[:space]) > MAX_FRAME:
                    out.append(("breach", "text outside a frame"))
                    self._skip_line()
                    continue
                self._take(space + 1)
                self._need = int(head[:space]) + 1
            if self._size < self._need:
                break
            body = self._take(self._need)
            self._need = None
            if not body.endswith("\n"):
                out.append(("breach", "a frame of the wrong length"))
                self._chunks.insert(0, body)
                self._size += len(body)
                self._skip_line()
                continue
            try:
                frame = json.loads(body)
            except (ValueError, RecursionError):
                out.append(("breach", "a frame that is not JSON"))
                continue
            if type(frame) is not dict or not isinstance(frame.get("t"), str):
                out.append(("breach", "a frame that is not a JSON object"))
                continue
            out.append(("frame", frame))
        return out

    def _peek(self, n: int) -> str:
        while len(self._chunks) > 1 and len(self._chunks[0]) < n:
            self._chunks[0:2] = [self._chunks[0] + self._chunks[1]]
        return self._chunks[0][:n] if self._chunks else ""

    def _take(self, n: int) -> str:
        parts, got = [], 0
        while got < n:
            chunk = self._chunks[0]
            if len(chunk) <= n - got:
                parts.append(chunk)
                got += len(chunk)
                self._chunks.pop(0)
            else:
                parts.append(chunk[: n - got])
                self._chunks[0] = chunk[n - got :]
                got = n
        self._size -= n
        return "".join(parts)

    def _skip_line(self) -> None:
        while self._chunks:
            chunk = self._chunks[0]
            end = chunk.find("\n")
            if end != -1:
                self._chunks[0] = chunk[end + 1 :]
                self._size -= end + 1
                if not self._chunks[0]:
                    self._chunks.pop(0)
                return
            self._chunks.pop(0)
            self._size -= len(chunk)


class Notes:
    """What the kernel dropped from the sandbox during one command, said in one line at the end."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, reason: str) -> None:
        self.counts[reason] += 1

    def line(self) -> str | None:
        if not self.counts:
            return None
        total = sum(self.counts.values())
        what = ", ".join(f"{n} {reason}" if n > 1 else reason for reason, n in self.counts.most_common(5))
        return (
            f"oc_jupyter: ignored {total} message{'s' if total > 1 else ''} from the sandbox that this "
            f"cell did not ask for ({what})."
        )


@dataclass
class ExecOutcome:
    ok: bool
    error: Exception | None = None
    pulled: dict[str, Any] = field(default_factory=dict)


class RemotePython:
    """A persistent Python interpreter in one sandbox."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.events = bridge.EventQueue()
        self.session: ExecSession | None = None
        self.exit_code: int | None = None
        self._reader = FrameReader()
        self._ids = itertools.count(1)
        self._consumed = 0
        self._acked = 0
        # Requests whose wait ended without their 'done' (interrupted, timed out):
        # their late frames are expected, so only their output is shown.
        self._abandoned: set[int] = set()
        self._finished: set[int] = set()
        #: Seconds between "still busy" marks while a request runs (0: the sandbox never idles out).
        self.keep_awake_every = 0.0
        self._kept_awake_at = 0.0

    @property
    def alive(self) -> bool:
        return self.session is not None and self.exit_code is None

    # ---------------------------------------------------------------- lifecycle

    def start(self, out: OutputWriter) -> None:
        """Start the interpreter and wait until it says it is ready."""
        from ..sdk import errors as sdk_errors

        events = self.events

        async def _start():
            return await self.sandbox.exec.start(
                "python3",
                args=["-u", "-c", SOURCE],
                env={IDLE_SESSION_ENV: "1"},
                on_stdout=events.text_callback("stdout"),
                on_stderr=events.text_callback("stderr"),
                on_exit=events.callback("exit"),
            )

        try:
            self.session = bridge.run(_start())
        except sdk_errors.SandboxNotFound:
            raise
        except sdk_errors.OCError as exc:
            raise UsageError(
                f"Could not start Python in sandbox {self.sandbox.id} ({exc}); "
                "use %%oc_run --shell for images without python3."
            ) from None
        deadline = time.monotonic() + START_TIMEOUT
        notes = Notes()

        def handle(event):
            if event is None:
                if time.monotonic() > deadline:
                    raise UsageError(f"Python in sandbox {self.sandbox.id} did not start within {START_TIMEOUT:g}s.")
                return False
            for kind, value in self._split(event, out, notes):
                if kind == "exit":
                    raise UsageError(
                        f"Python could not start in sandbox {self.sandbox.id} (exit code {value}); "
                        "the image needs python3, or use %%oc_run --shell."
                    )
                if value.get("t") == "ready":
                    return True
                if value.get("t") == "stream" and value.get("id") is None:
                    out.write("stderr" if value.get("name") == "stderr" else "stdout", _text(value.get("text")))
                else:
                    notes.add(_frame_kind(value))
            return False

        try:
            bridge.wait(self.events, handle, tick=0.5, on_interrupt=self.kill_now)
        finally:
            _say(out, notes)

    def kill_now(self) -> None:
        """Stop the interpreter (its names are lost)."""
        session, self.session = self.session, None
        if session is not None:
            try:
                bridge.run(session.kill(9))
            except Exception:
                pass

    # ---------------------------------------------------------------- running code

    def execute(  # noqa: C901
        self,
        code: str,
        out: OutputWriter,
        *,
        push: dict[str, Any] | None = None,
        pull: list[str] | None = None,
        pickle_names: set[str] | frozenset[str] = frozenset(),
        timeout: float | None = None,
        filename: str = "<cell>",
    ) -> ExecOutcome:
        """Run ``code`` remotely, streaming its output into the cell; returns what came back.

        ``pull`` names come back in a safe form; those also in ``pickle_names``
        may come back pickled when they have none.

        One branch per kind of message the interpreter sends back, in the order of its protocol.
        """
        if not self.alive:
            raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} is not running.")
        rid = next(self._ids)
        wanted = list(dict.fromkeys(pull or []))
        may_pickle = {name for name in wanted if name in pickle_names}
        request = {
            "op": "exec",
            "id": rid,
            "code": code,
            "filename": filename,
            "push": _pickle_all(push or {}),
            "pull": wanted,
            "pickle": sorted(may_pickle),
            "arrow": values.arrow_ok() if wanted else False,
        }
        self._send(request)
        outcome = ExecOutcome(ok=False)
        notes = Notes()
        state: dict[str, Any] = {"done": False, "timed_out": False, "interrupted_at": None}
        deadline = time.monotonic() + timeout if timeout else None

        def fail(error: Exception) -> None:
            if outcome.error is None:
                outcome.error = error

        def on_frame(frame: dict) -> bool:
            t = frame["t"]
            if t == "display":
                data, metadata = _bundle(frame.get("data"), frame.get("metadata"), out)
                if data:
                    out.display(data, metadata)
            elif t == "error":
                fail(
                    RemotePythonError(
                        _clean(frame.get("ename"), 80) or "Error",
                        _clean(frame.get("evalue")),
                        [_clean(line) for line in _listed(frame.get("traceback"))],
                    )
                )
            elif t == "push_error":
                fail(_push_error(frame))
            elif t == "pull":
                name = frame.get("name")
                if name not in wanted:
                    notes.add(f"a value nobody asked for ({_shown(name)})")
                elif name in outcome.pulled:
                    notes.add(f"a second value for {_shown(name)}")
                else:
                    try:
                        outcome.pulled[name] = _pulled(name, frame, name in may_pickle)
                    except UsageError as exc:
                        fail(exc)
            elif t == "pull_error":
                name = frame.get("name")
                if name not in wanted:
                    notes.add(f"an error for a value nobody asked for ({_shown(name)})")
                else:
                    fail(_pull_error(name, frame))
            elif t == "done":
                state["done"] = True
                outcome.ok = bool(frame.get("ok"))
                return True
            else:
                notes.add(_frame_kind(frame))
            return False

        def handle(event):
            if event is None:
                self._keep_awake()
                if deadline is not None and not state["timed_out"] and time.monotonic() > deadline:
                    state["timed_out"] = True
                    self._interrupt()
                if state["timed_out"] and state["interrupted_at"] is None:
                    state["interrupted_at"] = time.monotonic()
                return (
                    state["interrupted_at"] is not None and time.monotonic() - state["interrupted_at"] > INTERRUPT_GRACE
                )
            for kind, frame in self._split(event, out, notes):
                if kind == "exit":
                    return True
                if self._route(frame, rid, out, notes) and on_frame(frame):
                    return True
            return False

        try:
            bridge.wait(self.events, handle, tick=0.2, on_interrupt=self._interrupt, grace=INTERRUPT_GRACE)
        except KeyboardInterrupt:
            out.flush()
            if not state["done"]:
                self._abandoned.add(rid)
                # The code ignored SIGINT (e.g. stuck in C): stop it the hard way.
                self.kill_now()
                out.note(
                    f"\nPython in sandbox {self.sandbox.id} did not stop within "
                    f"{INTERRUPT_GRACE:g}s and was restarted; names defined earlier are lost."
                )
            raise
        finally:
            out.flush()
            if state["done"]:
                self._finished.add(rid)
            else:
                self._abandoned.add(rid)
            _say(out, notes)
        if not state["done"]:
            if self.exit_code is not None or self.session is None:
                self.session = None
                raise RemotePythonGone(
                    f"Python in sandbox {self.sandbox.id} exited (code {self.exit_code}); "
                    "names defined earlier are lost and the next cell starts a new one."
                )
            if state["timed_out"]:
                self.kill_now()
                raise CommandTimedOut(
                    f"The cell ran longer than {timeout:g}s in sandbox {self.sandbox.id} and its Python was restarted."
                )
        if state["timed_out"]:
            raise CommandTimedOut(
                f"The cell ran longer than {timeout:g}s in sandbox {self.sandbox.id} and was interrupted."
            )
        return outcome

    # ---------------------------------------------------------------- shell commands

    def shell(  # noqa: C901
        self,
        cmd: str,
        out: OutputWriter,
        *,
        env: dict | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> int:
        """Run a shell command through the interpreter: one message each way instead of a new session.

        The command gets its own process group, so stopping it (interrupt,
        timeout) kills everything it started; the interpreter's names are untouched.

        One branch per kind of message the interpreter sends back, in the order of its protocol.
        """
        if not self.alive:
            raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} is not running.")
        rid = next(self._ids)
        self._send({"op": "shell", "id": rid, "cmd": cmd, "env": env or {}, "cwd": cwd})
        state: dict[str, Any] = {"code": None, "timed_out": False, "error": None}
        notes = Notes()
        deadline = time.monotonic() + timeout if timeout else None

        def on_frame(frame: dict) -> bool:
            t = frame["t"]
            if t == "sh_out":
                out.write("stderr" if frame.get("fd") == 2 else "stdout", _text(frame.get("d")))
            elif t == "sh_exit":
                code = frame.get("code")
                state["code"] = code if type(code) is int else -1
                return True
            elif t == "sh_err":
                state["error"] = UsageError(
                    f"Could not run the command in sandbox {self.sandbox.id}: {_clean(frame.get('error'), 200)}."
                )
                return True
            else:
                notes.add(_frame_kind(frame))
            return False

        def handle(event):
            if event is None:
                self._keep_awake()
                if deadline is not None and not state["timed_out"] and time.monotonic() > deadline:
                    state["timed_out"] = True
                    self._send({"op": "shell_kill", "id": rid})
                return False
            for kind, frame in self._split(event, out, notes):
                if kind == "exit":
                    return True
                if self._route(frame, rid, out, notes) and on_frame(frame):
                    return True
            return False

        done = False
        try:
            bridge.wait(
                self.events,
                handle,
                tick=0.2 if deadline or self.keep_awake_every else None,
                on_interrupt=lambda: self._send({"op": "shell_kill", "id": rid}),
                grace=INTERRUPT_GRACE,
            )
            done = state["code"] is not None or state["error"] is not None
        finally:
            out.flush()
            (self._finished if done else self._abandoned).add(rid)
            _say(out, notes)
        if state["error"] is not None:
            raise state["error"]
        if state["timed_out"]:
            raise CommandTimedOut(
                f"The command ran longer than {timeout:g}s in sandbox {self.sandbox.id} and was stopped."
            )
        if state["code"] is None:
            self.session = None
            raise RemotePythonGone(f"The command runner in sandbox {self.sandbox.id} exited (code {self.exit_code}).")
        return state["code"]

    # ---------------------------------------------------------------- internals

    def _split(self, event, out: OutputWriter, notes: Notes) -> list[tuple[str, Any]]:
        """Frames and exits from a queued session event; acknowledges consumed output."""
        kind, value = event
        items: list[tuple[str, Any]] = []
        if kind == "stdout":
            text = value or ""
            for item_kind, item in self._reader.feed(text):
                if item_kind == "breach":
                    notes.add(item)
                else:
                    items.append((item_kind, item))
            self._consumed += len(text)
            if self._consumed - self._acked >= ACK_EVERY:
                self._acked = self._consumed
                self._post({"op": "ack", "n": self._consumed})
        elif kind == "stderr":
            # Only the interpreter's own failures (before its output moved to pipes) come this way.
            out.write("stderr", value or "")
        elif kind == "exit":
            self.exit_code = value if isinstance(value, int) else -1
            items.append(("exit", self.exit_code))
        return items

    def _route(self, frame: dict, rid: int, out: OutputWriter, notes: Notes) -> bool:
        """Whether ``frame`` belongs to request ``rid``; late output of stopped work is dropped, the rest noted."""
        t = frame["t"]
        fid = frame.get("id")
        if t == "stream" and (fid == rid or fid is None):
            # fid None: output of a background process an earlier cell started.
            out.write("stderr" if frame.get("name") == "stderr" else "stdout", _text(frame.get("text")))
            return False
        if fid == rid:
            return True
        if fid in self._abandoned:
            # An interrupted or timed-out command's last output arrives late: it belongs to the cell
            # that was stopped, not to this one, so it is dropped (as a local kernel drops it).
            if t in ("done", "sh_exit", "sh_err"):
                self._abandoned.discard(fid)
                self._finished.add(fid)
            return False
        if t not in KNOWN:
            notes.add(_frame_kind(frame))
        elif fid in self._finished:
            notes.add(f"a {t!r} for a finished command" if t != "done" else "a second 'done'")
        else:
            notes.add(f"a {t!r} for another command")
        return False

    def _keep_awake(self) -> None:
        """While a request runs, mark the sandbox active now and then (a cheap request the server counts)."""
        now = time.monotonic()
        if self.keep_awake_every and now - self._kept_awake_at >= self.keep_awake_every:
            self._kept_awake_at = now
            bridge.submit(self.sandbox.exec.list())

    def _send(self, request: dict) -> None:
        from ..sdk import errors as sdk_errors

        self._kept_awake_at = time.monotonic()
        line = json.dumps(request) + "\n"
        if self.session is None:
            raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} is not running.")
        try:
            bridge.run(self.session.send_stdin(line))
        except sdk_errors.OCError as exc:
            self.session = None
            raise RemotePythonGone(str(exc)) from None

    def _post(self, request: dict) -> None:
        """Send without waiting (acks): a lost one is made good by the next, as counts are cumulative."""
        session = self.session
        if session is not None:
            bridge.submit(session.send_stdin(json.dumps(request) + "\n"))

    def _interrupt(self) -> None:
        try:
            self._send({"op": "interrupt"})
        except RemotePythonGone:
            pass


def _say(out: OutputWriter, notes: Notes) -> None:
    line = notes.line()
    if line:
        out.note(line)


def _frame_kind(frame: dict) -> str:
    t = frame.get("t")
    return f"a {t!r} message" if t in KNOWN else "an unknown message"


def _shown(name: Any) -> str:
    text = repr(name)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _clean(value: Any, limit: int | None = None) -> str:
    """Sandbox text for one of our messages: a string, without terminal controls, not too long."""
    text = clean_terminal(_text(value))
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else []


def _bundle(data: Any, metadata: Any, out: OutputWriter) -> tuple[dict, dict]:
    """A display bundle from the sandbox, reduced to what is safe to show; what was dropped is noted."""
    data, metadata, notes = safe_bundle(data, metadata)
    for line in notes:
        out.note(line, once=True)
    return data, metadata


def _pickle_all(values_: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, value in values_.items():
        try:
            data = pickle.dumps(value, protocol=PICKLE_PROTOCOL)
        except Exception as exc:
            raise UsageError(f"Cannot push {name!r}: it cannot be pickled ({type(exc).__name__}: {exc}).") from None
        out[name] = base64.b64encode(data).decode("ascii")
    return out


def _push_error(frame: dict) -> UsageError:
    name, module = frame.get("name"), frame.get("module")
    if isinstance(module, str) and module:
        top = _clean(module.split(".")[0], 60)
        return UsageError(
            f"Cannot push {_shown(name)}: the sandbox has no module {top!r} to rebuild it; "
            f"add `pip {top}` to the image recipe."
        )
    return UsageError(
        f"Cannot push {_shown(name)}: the sandbox could not unpickle it "
        f"({_clean(frame.get('ename'), 80)}: {_clean(frame.get('evalue'), 200)})."
    )


def _pull_error(name: str, frame: dict) -> UsageError:
    if frame.get("ename") == "Unsupported":
        kind = _clean(frame.get("type"), 80) or "?"
        return UsageError(
            f"Cannot pull {name!r}: a value of type {kind!r} has no safe form (pull supports {values.FORMATS}); "
            f"add --pull-pickle {name} to the %%oc_run line to pull it pickled, which lets the sandbox run code "
            "in this kernel, or convert it in the sandbox first."
        )
    return UsageError(
        f"Cannot pull {name!r} from the sandbox: {_clean(frame.get('ename'), 80)}: {_clean(frame.get('evalue'), 200)}."
    )


def _pulled(name: str, frame: dict, may_pickle: bool) -> Any:
    fmt = frame.get("fmt")
    if fmt == "safe":
        try:
            return values.decode(frame.get("v"))
        except values.BadValue as exc:
            raise UsageError(
                f"Cannot pull {name!r}: the sandbox sent a value this kernel cannot read safely "
                f"({clean_terminal(str(exc))[:200]})."
            ) from None
    if fmt == "pickle":
        if not may_pickle:
            raise UsageError(
                f"Cannot pull {name!r}: the sandbox sent a pickle, which this kernel only reads with "
                f"--pull-pickle {name} or %config OCJupyter.allow_pickle = True."
            )
        return _unpickle(name, _text(frame.get("data")))
    raise UsageError(f"Cannot pull {name!r}: the sandbox sent it in an unknown form.")


def _unpickle(name: str, blob: str) -> Any:
    try:
        return pickle.loads(base64.b64decode(blob))
    except ImportError as exc:
        module = (getattr(exc, "name", None) or "").split(".")[0] or "?"
        raise UsageError(
            f"Cannot pull {name!r}: this kernel has no module {module!r} to rebuild it; "
            f"install it here (pip install {module})."
        ) from None
    except Exception as exc:
        raise UsageError(
            f"Cannot pull {name!r}: it could not be unpickled here ({type(exc).__name__}: {exc})."
        ) from None
