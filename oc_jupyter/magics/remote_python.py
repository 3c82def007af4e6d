"""The kernel side of ``%%oc_run``'s remote Python: one persistent interpreter per sandbox.

The interpreter (``_repl_server.py``) is started once per sandbox through an
SDK exec session, so names defined in one cell are there in the next. Its
stdout carries both the cell's own output and framed replies; a
:class:`FrameSplitter` separates them as chunks arrive, holding back only
what could be the start of a frame marker, so output still streams live.
"""

from __future__ import annotations

import base64
import itertools
import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from . import bridge
from .errors import CommandTimedOut, RemotePythonError
from .output import OutputWriter

__all__ = ["FRAME", "SOURCE", "ExecOutcome", "FrameSplitter", "RemotePython", "RemotePythonGone"]

FRAME = "\x1eOCJ\x1f"
SOURCE = (Path(__file__).with_name("_repl_server.py")).read_text(encoding="utf-8")
PICKLE_PROTOCOL = 4
START_TIMEOUT = 60.0
INTERRUPT_GRACE = 2.0


class RemotePythonGone(Exception):
    """The sandbox's interpreter ended; names defined in it are lost."""


class FrameSplitter:
    """Splits a stdout text stream into plain output and JSON frames."""

    def __init__(self) -> None:
        self._buf = ""

    def feed(self, text: str) -> list[tuple[str, Any]]:
        self._buf += text
        out: list[tuple[str, Any]] = []
        while self._buf:
            start = self._buf.find(FRAME)
            if start == -1:
                keep = _partial_marker(self._buf)
                if len(self._buf) > keep:
                    out.append(("stdout", self._buf[: len(self._buf) - keep]))
                    self._buf = self._buf[len(self._buf) - keep:]
                break
            if start:
                out.append(("stdout", self._buf[:start]))
                self._buf = self._buf[start:]
            end = self._buf.find("\n")
            if end == -1:
                break
            payload = self._buf[len(FRAME):end]
            self._buf = self._buf[end + 1:]
            try:
                out.append(("frame", json.loads(payload)))
            except ValueError:
                out.append(("stdout", FRAME + payload + "\n"))
        return out

    def flush(self) -> list[tuple[str, Any]]:
        rest, self._buf = self._buf, ""
        return [("stdout", rest)] if rest else []


def _partial_marker(buf: str) -> int:
    """Length of the longest suffix of ``buf`` that starts the frame marker."""
    for n in range(min(len(FRAME) - 1, len(buf)), 0, -1):
        if FRAME.startswith(buf[-n:]):
            return n
    return 0


@dataclass
class ExecOutcome:
    ok: bool
    error: RemotePythonError | None = None
    pulled: dict[str, Any] = field(default_factory=dict)


class RemotePython:
    """A persistent Python interpreter in one sandbox."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.events = bridge.EventQueue()
        self.session = None
        self.exit_code: int | None = None
        self._splitter = FrameSplitter()
        self._ids = itertools.count(1)

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
                "python3", args=["-u", "-c", SOURCE],
                on_stdout=events.callback("stdout"), on_stderr=events.callback("stderr"),
                on_exit=events.callback("exit"),
            )

        try:
            self.session = bridge.run(_start())
        except sdk_errors.SandboxNotFound:
            raise
        except sdk_errors.OCError as exc:
            raise UsageError(f"Could not start Python in sandbox {self.sandbox.id} ({exc}); "
                             "use %%oc_run --shell for images without python3.") from None
        deadline = time.monotonic() + START_TIMEOUT

        def handle(event):
            if event is None:
                if time.monotonic() > deadline:
                    raise UsageError(f"Python in sandbox {self.sandbox.id} did not start within {START_TIMEOUT:g}s.")
                return False
            for kind, value in self._split(event, out):
                if kind == "exit":
                    raise UsageError(f"Python could not start in sandbox {self.sandbox.id} (exit code {value}); "
                                     "the image needs python3, or use %%oc_run --shell.")
                if kind == "frame" and value.get("t") == "ready":
                    return True
            return False

        bridge.wait(self.events, handle, tick=0.5, on_interrupt=self.kill_now)

    def kill_now(self) -> None:
        """Stop the interpreter (its names are lost)."""
        session, self.session = self.session, None
        if session is not None:
            try:
                bridge.run(session.kill(9))
            except Exception:
                pass

    # ---------------------------------------------------------------- running code

    def execute(self, code: str, out: OutputWriter, *, push: dict[str, Any] | None = None,
                pull: list[str] | None = None, timeout: float | None = None, filename: str = "<cell>") -> ExecOutcome:
        """Run ``code`` remotely, streaming its output into the cell; returns what came back."""
        if not self.alive:
            raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} is not running.")
        rid = next(self._ids)
        request = {"op": "exec", "id": rid, "code": code, "filename": filename,
                   "push": _pickle_all(push or {}), "pull": list(pull or [])}
        self._send(request)
        outcome = ExecOutcome(ok=False)
        state = {"done": False, "timed_out": False, "interrupted_at": None}
        deadline = time.monotonic() + timeout if timeout else None

        def handle(event):
            if event is None:
                if deadline is not None and not state["timed_out"] and time.monotonic() > deadline:
                    state["timed_out"] = True
                    self._interrupt()
                if state["timed_out"] and state["interrupted_at"] is None:
                    state["interrupted_at"] = time.monotonic()
                if state["interrupted_at"] is not None and time.monotonic() - state["interrupted_at"] > INTERRUPT_GRACE:
                    return True
                return False
            for kind, value in self._split(event, out):
                if kind == "exit":
                    return True
                if kind != "frame":
                    continue
                t = value.get("t")
                if t == "display":
                    out.display(value.get("data") or {})
                elif t == "error":
                    outcome.error = RemotePythonError(value.get("ename", "Error"), value.get("evalue", ""),
                                                      value.get("traceback") or [])
                elif t == "push_error":
                    outcome.error = _push_error(value)
                elif t == "pull":
                    outcome.pulled[value["name"]] = _unpickle(value["name"], value.get("data", ""))
                elif t == "pull_error":
                    raise UsageError(f"Cannot pull {value.get('name')!r} from the sandbox: "
                                     f"{value.get('ename')}: {value.get('evalue')}.")
                elif t == "done" and value.get("id") == rid:
                    state["done"] = True
                    outcome.ok = bool(value.get("ok"))
                    return True
            return False

        try:
            bridge.wait(self.events, handle, tick=0.2, on_interrupt=self._interrupt, grace=INTERRUPT_GRACE)
        except KeyboardInterrupt:
            out.flush()
            if not state["done"]:
                # The code ignored SIGINT (e.g. stuck in C): stop it the hard way.
                self.kill_now()
                out.write("stderr", f"\nPython in sandbox {self.sandbox.id} did not stop within "
                                    f"{INTERRUPT_GRACE:g}s and was restarted; names defined earlier are lost.\n")
            raise
        finally:
            out.flush()
        if not state["done"]:
            if self.exit_code is not None or self.session is None:
                self.session = None
                raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} exited (code {self.exit_code}); "
                                       "names defined earlier are lost and the next cell starts a new one.")
            if state["timed_out"]:
                self.kill_now()
                raise CommandTimedOut(f"The cell ran longer than {timeout:g}s in sandbox {self.sandbox.id} "
                                      "and its Python was restarted.")
        if state["timed_out"]:
            raise CommandTimedOut(f"The cell ran longer than {timeout:g}s in sandbox {self.sandbox.id} and was interrupted.")
        return outcome

    # ---------------------------------------------------------------- shell commands

    def shell(self, cmd: str, out: OutputWriter, *, env: dict | None = None, cwd: str | None = None,
              timeout: float | None = None) -> int:
        """Run a shell command through the interpreter: one message each way instead of a new session.

        The command gets its own process group, so stopping it (interrupt,
        timeout) kills everything it started; the interpreter's names are untouched.
        """
        if not self.alive:
            raise RemotePythonGone(f"Python in sandbox {self.sandbox.id} is not running.")
        rid = next(self._ids)
        self._send({"op": "shell", "id": rid, "cmd": cmd, "env": env or {}, "cwd": cwd})
        state = {"code": None, "timed_out": False}
        deadline = time.monotonic() + timeout if timeout else None

        def handle(event):
            if event is None:
                if deadline is not None and not state["timed_out"] and time.monotonic() > deadline:
                    state["timed_out"] = True
                    self._send({"op": "shell_kill", "id": rid})
                return False
            for kind, value in self._split(event, out):
                if kind == "exit":
                    return True
                if kind != "frame" or value.get("id") != rid:
                    continue
                t = value.get("t")
                if t == "sh_out":
                    out.write("stderr" if value.get("fd") == 2 else "stdout", value.get("d", ""))
                elif t == "sh_exit":
                    state["code"] = int(value.get("code", -1))
                    return True
                elif t == "sh_err":
                    raise UsageError(f"Could not run the command in sandbox {self.sandbox.id}: {value.get('error')}.")
            return False

        try:
            bridge.wait(self.events, handle, tick=0.2 if deadline else None,
                        on_interrupt=lambda: self._send({"op": "shell_kill", "id": rid}), grace=INTERRUPT_GRACE)
        finally:
            out.flush()
        if state["timed_out"]:
            raise CommandTimedOut(f"The command ran longer than {timeout:g}s in sandbox {self.sandbox.id} and was stopped.")
        if state["code"] is None:
            self.session = None
            raise RemotePythonGone(f"The command runner in sandbox {self.sandbox.id} exited (code {self.exit_code}).")
        return state["code"]

    # ---------------------------------------------------------------- internals

    def _split(self, event, out: OutputWriter):
        """Turn a queued session event into output written to the cell plus frames and exits."""
        kind, value = event
        if kind == "stdout":
            items = self._splitter.feed(value)
        elif kind == "stderr":
            items = [("stderr", value)]
        elif kind == "exit":
            self.exit_code = value if isinstance(value, int) else -1
            items = self._splitter.flush() + [("exit", self.exit_code)]
        else:
            items = []
        result = []
        for item_kind, item in items:
            if item_kind in ("stdout", "stderr"):
                out.write(item_kind, item)
            else:
                result.append((item_kind, item))
        return result

    def _send(self, request: dict) -> None:
        from ..sdk import errors as sdk_errors

        line = json.dumps(request) + "\n"
        try:
            bridge.run(self.session.send_stdin(line))
        except sdk_errors.OCError as exc:
            self.session = None
            raise RemotePythonGone(str(exc)) from None

    def _interrupt(self) -> None:
        try:
            self._send({"op": "interrupt"})
        except RemotePythonGone:
            pass


def _pickle_all(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        try:
            data = pickle.dumps(value, protocol=PICKLE_PROTOCOL)
        except Exception as exc:
            raise UsageError(f"Cannot push {name!r}: it cannot be pickled ({type(exc).__name__}: {exc}).") from None
        out[name] = base64.b64encode(data).decode("ascii")
    return out


def _push_error(frame: dict) -> UsageError:
    name, module = frame.get("name"), frame.get("module")
    if module:
        top = str(module).split(".")[0]
        return UsageError(f"Cannot push {name!r}: the sandbox has no module {top!r} to rebuild it; "
                          f"add `pip {top}` to the image recipe.")
    return UsageError(f"Cannot push {name!r}: the sandbox could not unpickle it ({frame.get('ename')}: {frame.get('evalue')}).")


def _unpickle(name: str, blob: str) -> Any:
    try:
        return pickle.loads(base64.b64decode(blob))
    except ImportError as exc:
        module = (getattr(exc, "name", None) or "").split(".")[0] or "?"
        raise UsageError(f"Cannot pull {name!r}: this kernel has no module {module!r} to rebuild it; "
                         f"install it here (pip install {module}).") from None
    except Exception as exc:
        raise UsageError(f"Cannot pull {name!r}: it could not be unpickled here ({type(exc).__name__}: {exc}).") from None
