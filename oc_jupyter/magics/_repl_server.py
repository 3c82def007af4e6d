"""A persistent Python interpreter that runs inside a sandbox for ``%%oc_run``.

This file is sent as source to ``python3 -u -c`` in the sandbox, after the
source of ``values.py`` (whose ``encode`` it uses for ``--pull``), so it uses
the standard library only and must run on any Python 3.8+.

Protocol. Requests arrive on stdin, one JSON object per line:
``{"op": "exec", "id", "code", "filename", "push": {name: base64 pickle},
"pull": [names], "pickle": [names that may fall back to pickle], "arrow": bool}``,
``{"op": "interrupt"}``, ``{"op": "ack", "n"}``; shell commands come as
``{"op": "shell", "id", "cmd", "env", "cwd"}`` and ``{"op": "shell_kill", "id"}``.

Replies travel on a private descriptor: a duplicate of the original stdout,
closed on exec so no child inherits it. Descriptors 1 and 2 become pipes that
reader threads forward as ``stream`` frames, so nothing the cell or its
subprocesses print can be taken for a reply. A frame is ``<length> <json>\n``
with ASCII-only JSON: ``ready``, ``stream`` (name, text), ``display`` (a
MIME bundle), ``error`` (remote traceback), ``push_error``, ``pull``,
``pull_error`` and finally ``done``; for shell commands ``sh_out`` (fd, text),
``sh_err`` and ``sh_exit`` (code). Every reply names the request's ``id``.

Flow control: output frames wait while more than ``WINDOW`` bytes are
unacknowledged (the kernel acks what it has consumed), so a cell that prints
without end blocks in its own ``write`` instead of filling the kernel's memory
or any buffer on the way.

Shell commands run here, one message each way over the already open session,
because a new exec session per command costs two more round trips; each gets
its own process group so a kill reaches everything it started.

Interrupt: a reader thread takes requests while the main thread executes, and
answers ``interrupt`` with SIGINT to this process group (the code and any
subprocesses it started), which raises ``KeyboardInterrupt`` in the cell and
leaves the interpreter alive.
"""

import ast
import base64
import codecs
import io
import json
import linecache
import os
import pickle
import pprint
import queue
import select
import signal
import subprocess
import sys
import threading
import traceback

PICKLE_PROTOCOL = 4
WINDOW = 4 << 20
CHUNK = 65536

os.environ.setdefault("MPLBACKEND", "Agg")

_proto_fd = 1
_lock = threading.Lock()
_flow = threading.Condition()
_sent = 0
_acked = 0
_current = None
_pumps = []  # type: list[Pump]
_sigint = {"writing": False}
_busy = threading.Event()
_requests = queue.Queue()  # type: queue.Queue[dict | None]
_ns = {"__name__": "__main__", "__builtins__": __builtins__}
# Shell commands get the sandbox's environment and folder as they were at start,
# not whatever Python cells later did to os.environ or the cwd.
_START_ENV = dict(os.environ)
_START_CWD = os.getcwd()
_shells = {}  # type: dict[object, subprocess.Popen]


def send(kind, flow=False, **fields):
    """Write one reply frame; ``flow`` frames (output) wait for the kernel to keep up."""
    global _sent
    fields["t"] = kind
    payload = json.dumps(fields, ensure_ascii=True)
    data = f"{len(payload)} {payload}\n".encode("ascii")
    if flow:
        with _flow:
            while _sent - _acked > WINDOW:
                _flow.wait()
    main = threading.current_thread() is threading.main_thread()
    if main:
        _sigint["writing"] = True
    try:
        with _lock:
            view = memoryview(data)
            while view:
                n = os.write(_proto_fd, view)
                view = view[n:]
            _sent += len(data)
    finally:
        if main:
            _sigint["writing"] = False
            if _sigint.pop("pending", False):
                raise KeyboardInterrupt


def on_sigint(signum, frame):
    # An interrupt must not cut a frame in half: it is raised once the frame is out.
    if _sigint["writing"]:
        _sigint["pending"] = True
        return
    raise KeyboardInterrupt


def acked(n):
    global _acked
    with _flow:
        if n > _acked:
            _acked = n
            _flow.notify_all()


class Pump:
    """Forwards what is written to one of this process's output descriptors as stream frames."""

    def __init__(self, fd, name):
        read_end, write_end = os.pipe()
        try:
            import fcntl
            # A bigger pipe means fewer, larger frames when a cell prints a lot.
            fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except Exception:
            pass
        os.dup2(write_end, fd)
        os.close(write_end)
        os.set_blocking(read_end, False)
        self.fd = read_end
        self.name = name
        self.lock = threading.Lock()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        threading.Thread(target=self.run, name="pump-" + name, daemon=True).start()

    def run(self):
        while True:
            try:
                select.select([self.fd], [], [])
            except (OSError, ValueError):
                return
            with self.lock:
                try:
                    data = os.read(self.fd, CHUNK)
                except BlockingIOError:
                    continue
                self.emit(data)

    def emit(self, data):
        text = self.decoder.decode(data)
        if text:
            send("stream", flow=True, id=_current, name=self.name, text=text)

    def drain(self):
        """Forward what was written before now (not what a background child keeps writing)."""
        import array
        import fcntl
        import termios

        with self.lock:
            pending = array.array("i", [0])
            try:
                fcntl.ioctl(self.fd, termios.FIONREAD, pending, True)
            except OSError:
                return
            left = pending[0]
            while left > 0:
                try:
                    data = os.read(self.fd, min(left, CHUNK))
                except BlockingIOError:
                    return
                if not data:
                    return
                left -= len(data)
                self.emit(data)


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    for pump in _pumps:
        pump.drain()


def reader(stdin):
    for raw in stdin:
        try:
            request = json.loads(raw)
        except ValueError:
            continue
        op = request.get("op")
        if op == "interrupt":
            if _busy.is_set():
                interrupt()
            continue
        if op == "ack":
            try:
                acked(int(request.get("n") or 0))
            except (TypeError, ValueError):
                pass
            continue
        if op == "shell":
            threading.Thread(target=run_shell, args=(request,), daemon=True).start()
            continue
        if op == "shell_kill":
            proc = _shells.get(request.get("id"))
            if proc is not None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            continue
        _requests.put(request)
    _requests.put(None)


def run_shell(request):
    """Run one shell command in its own process group, streaming its output as frames."""
    rid = request.get("id")
    env = dict(_START_ENV)
    env.update(request.get("env") or {})
    try:
        shell = "bash" if any(os.access(os.path.join(d, "bash"), os.X_OK)
                              for d in env.get("PATH", "/bin").split(os.pathsep)) else "/bin/sh"
        proc = subprocess.Popen([shell, "-c", request["cmd"]],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=request.get("cwd") or _START_CWD, env=env, start_new_session=True)
    except OSError as exc:
        send("sh_err", id=rid, error=f"{type(exc).__name__}: {exc}")
        return
    _shells[rid] = proc

    def pump(pipe, fd):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            data = os.read(pipe.fileno(), 65536)
            if not data:
                rest = decoder.decode(b"", final=True)
                if rest:
                    send("sh_out", flow=True, id=rid, fd=fd, d=rest)
                return
            text = decoder.decode(data)
            if text:
                send("sh_out", flow=True, id=rid, fd=fd, d=text)

    readers = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True)]
    for reader_thread in readers:
        reader_thread.start()
    code = proc.wait()
    for reader_thread in readers:
        # A background child may keep the pipes open; the command itself is over.
        reader_thread.join(0.5)
    _shells.pop(rid, None)
    send("sh_exit", id=rid, code=code if code >= 0 else 128 - code)


def interrupt():
    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGINT)
            return
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGINT)


def bundle(value):
    data = {}
    try:
        data["text/plain"] = pprint.pformat(value)
    except Exception:
        data["text/plain"] = object.__repr__(value)
    for method, mime, binary in (
        ("_repr_html_", "text/html", False),
        ("_repr_markdown_", "text/markdown", False),
        ("_repr_svg_", "image/svg+xml", False),
        ("_repr_png_", "image/png", True),
        ("_repr_latex_", "text/latex", False),
    ):
        fn = getattr(value, method, None)
        if fn is None or isinstance(value, type):
            continue
        try:
            out = fn()
        except Exception:
            continue
        if out is None:
            continue
        if binary:
            if isinstance(out, bytes):
                data[mime] = base64.b64encode(out).decode("ascii")
        elif isinstance(out, str):
            data[mime] = out
    return data


def reply(kind, **fields):
    """A reply to the running request, after the output the cell wrote before it."""
    flush_output()
    send(kind, id=_current, **fields)


def flush_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        numbers = plt.get_fignums()
    except Exception:
        return
    for number in numbers:
        try:
            figure = plt.figure(number)
            buf = io.BytesIO()
            figure.savefig(buf, format="png", bbox_inches="tight")
            reply("display", data={"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                                   "text/plain": f"<Figure {number}>"})
        except Exception as exc:
            reply("display", data={"text/plain": f"(figure {number} could not be drawn: {exc})"})
    try:
        plt.close("all")
    except Exception:
        pass


def user_traceback(etype, value, tb):
    # Drop this file's frames so the traceback starts at the cell.
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    if issubclass(etype, SyntaxError):
        return traceback.format_exception_only(etype, value)
    return traceback.format_exception(etype, value, tb)


def run_code(code, filename):
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), _ns)
    if last is not None:
        value = eval(compile(last, filename, "eval"), _ns)
        if value is not None:
            _ns["_"] = value
            reply("display", data=bundle(value))


def pull(name, may_pickle, arrow):
    """Send one pulled value: its safe form, or a pickle only where the kernel allowed one."""
    if name not in _ns:
        reply("pull_error", name=name, ename="NameError", evalue=f"name {name!r} is not defined")
        return
    value = _ns[name]
    try:
        reply("pull", name=name, fmt="safe", v=encode(value, arrow))  # type: ignore[name-defined]  # from values.py, prepended
        return
    except Unsupported as exc:  # type: ignore[name-defined]  # from values.py, prepended
        if not may_pickle:
            reply("pull_error", name=name, ename="Unsupported", evalue=str(exc), type=exc.type_name)
            return
    except BaseException as exc:
        reply("pull_error", name=name, ename=type(exc).__name__, evalue=str(exc))
        return
    try:
        blob = base64.b64encode(pickle.dumps(value, protocol=PICKLE_PROTOCOL)).decode("ascii")
    except BaseException as exc:
        reply("pull_error", name=name, ename=type(exc).__name__, evalue=str(exc))
        return
    reply("pull", name=name, fmt="pickle", data=blob)


def handle(request):
    global _current
    _current = request.get("id")
    ok = True
    for name, blob in (request.get("push") or {}).items():
        try:
            _ns[name] = pickle.loads(base64.b64decode(blob))
        except BaseException as exc:
            reply("push_error", name=name, ename=type(exc).__name__, evalue=str(exc),
                  module=getattr(exc, "name", None) if isinstance(exc, ImportError) else None)
            ok = False
    if ok:
        _busy.set()
        try:
            run_code(request.get("code", ""), request.get("filename") or "<cell>")
        except BaseException as exc:
            ok = False
            _busy.clear()
            if isinstance(exc, SystemExit) and exc.code in (None, 0):
                ok = True
            else:
                reply("error", ename=type(exc).__name__, evalue=str(exc),
                      traceback=user_traceback(type(exc), exc, exc.__traceback__))
        finally:
            _busy.clear()
        flush_figures()
    if ok:
        may_pickle = set(request.get("pickle") or [])
        for name in request.get("pull") or []:
            pull(name, name in may_pickle, bool(request.get("arrow")))
    request["_done"] = True
    reply("done", ok=ok)
    _current = None


def redirect_output():
    """Move replies to a private descriptor and turn descriptors 1 and 2 into forwarded pipes."""
    global _proto_fd
    # os.dup's copy is not inheritable, so subprocesses never see the reply channel.
    _proto_fd = os.dup(1)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        _pumps.append(Pump(fd, name))


def main():
    global _current
    # Requests come only through the reader thread; code that reads stdin gets EOF.
    real_stdin = sys.stdin.buffer
    sys.stdin = io.StringIO()
    redirect_output()
    signal.signal(signal.SIGINT, on_sigint)
    threading.Thread(target=reader, args=(real_stdin,), name="requests", daemon=True).start()
    send("ready", python=sys.version.split()[0], pid=os.getpid())
    request = None
    while True:
        try:
            request = _requests.get()
            if request is None:
                return
            handle(request)
        except KeyboardInterrupt:
            # An interrupt that lands after the cell ended must still let the client finish waiting.
            if request is not None and not request.get("_done"):
                request["_done"] = True
                send("done", id=request.get("id"), ok=False)
            _current = None


if __name__ == "__main__":
    main()
