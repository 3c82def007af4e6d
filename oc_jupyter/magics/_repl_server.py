"""A persistent Python interpreter that runs inside a sandbox for ``%%oc_run``.

This file is sent as source to ``python3 -u -c`` in the sandbox, so it uses the
standard library only and must run on any Python 3.8+.

Protocol. Requests arrive on stdin, one JSON object per line:
``{"op": "exec", "id", "code", "filename", "push": {name: base64 pickle}, "pull": [names]}``
or ``{"op": "interrupt"}``; shell commands come as ``{"op": "shell", "id",
"cmd", "env", "cwd"}`` and ``{"op": "shell_kill", "id"}``. The cell's own
output goes to the real stdout and stderr untouched (so subprocesses stream
too); replies are lines on stdout that start with ``FRAME`` and carry JSON:
``ready``, ``display`` (a MIME bundle), ``error`` (remote traceback),
``push_error``, ``pull``, ``pull_error`` and finally ``done``; for shell
commands ``sh_out`` (fd, text), ``sh_err`` and ``sh_exit`` (code).

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
import signal
import subprocess
import sys
import threading
import traceback

FRAME = "\x1eOCJ\x1f"
PICKLE_PROTOCOL = 4

os.environ.setdefault("MPLBACKEND", "Agg")

_out_fd = 1
_lock = threading.Lock()
_busy = threading.Event()
_requests = queue.Queue()
_ns = {"__name__": "__main__", "__builtins__": __builtins__}
# Shell commands get the sandbox's environment and folder as they were at start,
# not whatever Python cells later did to os.environ or the cwd.
_START_ENV = dict(os.environ)
_START_CWD = os.getcwd()
_shells = {}


def send(kind, **fields):
    fields["t"] = kind
    data = (FRAME + json.dumps(fields) + "\n").encode("utf-8")
    with _lock:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        view = memoryview(data)
        while view:
            n = os.write(_out_fd, view)
            view = view[n:]


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
        send("sh_err", id=rid, error="%s: %s" % (type(exc).__name__, exc))
        return
    _shells[rid] = proc

    def pump(pipe, fd):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            data = os.read(pipe.fileno(), 65536)
            if not data:
                rest = decoder.decode(b"", final=True)
                if rest:
                    send("sh_out", id=rid, fd=fd, d=rest)
                return
            text = decoder.decode(data)
            if text:
                send("sh_out", id=rid, fd=fd, d=text)

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
            send("display", data={"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                                  "text/plain": "<Figure %d>" % number})
        except Exception as exc:
            send("display", data={"text/plain": "(figure %d could not be drawn: %s)" % (number, exc)})
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
            send("display", data=bundle(value))


def handle(request):
    rid = request.get("id")
    ok = True
    for name, blob in (request.get("push") or {}).items():
        try:
            _ns[name] = pickle.loads(base64.b64decode(blob))
        except BaseException as exc:
            send("push_error", name=name, ename=type(exc).__name__, evalue=str(exc),
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
                send("error", ename=type(exc).__name__, evalue=str(exc),
                     traceback=user_traceback(type(exc), exc, exc.__traceback__))
        finally:
            _busy.clear()
        flush_figures()
    if ok:
        for name in request.get("pull") or []:
            if name not in _ns:
                send("pull_error", name=name, ename="NameError", evalue="name %r is not defined" % name)
                continue
            try:
                blob = base64.b64encode(pickle.dumps(_ns[name], protocol=PICKLE_PROTOCOL)).decode("ascii")
            except BaseException as exc:
                send("pull_error", name=name, ename=type(exc).__name__, evalue=str(exc))
                continue
            send("pull", name=name, data=blob)
    request["_done"] = True
    send("done", id=rid, ok=ok)


def main():
    # Requests come only through the reader thread; code that reads stdin gets EOF.
    real_stdin = sys.stdin.buffer
    sys.stdin = io.StringIO()
    signal.signal(signal.SIGINT, signal.default_int_handler)
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


if __name__ == "__main__":
    main()
