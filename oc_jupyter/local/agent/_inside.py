"""The process that runs inside a sandbox and does its commands and file work.

It is started once per sandbox with ``python3 -u -c <this source>`` through the
engine's ``exec -i`` and talks to the host over its own stdin/stdout, so
nothing is mounted into or written to the sandbox. It must run on any
``python3 >= 3.7`` with the standard library alone: images bring their own
Python.

Wire format, both directions: a frame is ``>II`` (header length, payload
length), a UTF-8 JSON header, then the raw payload bytes. Requests carry an
integer ``id`` chosen by the host; every reply names the id it answers, so
many requests share the one pipe.

Host to agent (``op``): ``spawn`` {argv, env, cwd, timeout, stdin}; ``stdin``
(payload); ``stdin_close``; ``signal`` {sig}; ``read``; ``write_open``;
``write_data`` (payload); ``write_close``; ``list``; ``mkdir``; ``remove``
(all with {path}); ``cancel`` (stop a read).

Agent to host (``t``): ``hello`` once at start {pid, cwd, python};
``started`` {pid}; ``out`` {fd} + payload; ``exit`` {code, timedOut};
``data`` + payload (a file chunk); ``ok`` {...result}; ``err`` {kind, message}.
"""

import collections
import errno
import fcntl
import json
import os
import selectors
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time

HEAD = struct.Struct(">II")
CHUNK = 256 * 1024
# A command killed by a signal reports 128 + the signal, as shells and the
# engine's own exec do.
SIGNAL_BASE = 128


def _nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


class SpecialFile(OSError):
    """A path that exists but is neither a regular file nor a folder."""


def _error_kind(exc):
    if isinstance(exc, SpecialFile):
        return "special"
    if isinstance(exc, FileNotFoundError):
        return "notfound"
    if isinstance(exc, IsADirectoryError):
        return "isdir"
    if isinstance(exc, NotADirectoryError):
        return "notdir"
    if isinstance(exc, FileExistsError):
        return "exists"
    if isinstance(exc, PermissionError):
        return "permission"
    return "other"


class Proc:
    """One spawned command: its pipes, pending stdin and deadline."""

    def __init__(self, rid, popen, deadline):
        self.rid = rid
        self.popen = popen
        self.pid = popen.pid
        self.deadline = deadline
        self.timed_out = False
        self.pending_stdin: collections.deque[bytes] = collections.deque()
        self.close_stdin = False
        self.open_fds = {}  # fd -> stream number (1 stdout, 2 stderr)
        self.files = {}  # fd -> the pipe's file object, closed through it so
        # the descriptor number is never closed twice


class Agent:
    """The select loop: reads requests, runs them, writes replies."""

    def __init__(self):
        # Keep the protocol pipes on private descriptors and point 0/1 at
        # /dev/null, so nothing a library prints can corrupt the frame stream.
        self.rfd = os.dup(0)
        self.wfd = os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        _nonblocking(self.rfd)
        self.inbuf = bytearray()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.rfd, selectors.EVENT_READ, ("in", None))
        # SIGCHLD wakes the select through a pipe, so exits are seen at once
        # without polling.
        self.sig_r, self.sig_w = os.pipe()
        _nonblocking(self.sig_r)
        _nonblocking(self.sig_w)
        signal.set_wakeup_fd(self.sig_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.sel.register(self.sig_r, selectors.EVENT_READ, ("sig", None))
        self.procs = {}  # request id -> Proc
        self.writers = {}  # request id -> open file or (exception,)
        self.readers = collections.OrderedDict()  # request id -> open file
        self.base_cwd = os.getcwd()

    # -- output ---------------------------------------------------------
    def send(self, header, payload=b""):
        head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        data = HEAD.pack(len(head), len(payload)) + head + payload
        view = memoryview(data)
        # The host always reads, so a blocking write only waits for it.
        while view:
            try:
                n = os.write(self.wfd, view)
            except InterruptedError:
                continue
            view = view[n:]

    def error(self, rid, exc, message=None):
        self.send({"t": "err", "id": rid, "kind": _error_kind(exc), "message": message or str(exc)})

    # -- requests -------------------------------------------------------
    def handle(self, header, payload):
        op = header.get("op")
        rid = header.get("id")
        fn = getattr(self, "op_" + str(op), None)
        if fn is None:
            self.send({"t": "err", "id": rid, "kind": "other", "message": f"unknown op {op!r}"})
            return
        try:
            fn(rid, header, payload)
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the agent
            self.error(rid, exc)

    def op_spawn(self, rid, header, payload):
        argv = header["argv"]
        env = dict(os.environ)
        env.update(header.get("env") or {})
        cwd = header.get("cwd") or self.base_cwd
        if not os.path.isdir(cwd):
            self.send({"t": "err", "id": rid, "kind": "notfound",
                       "message": f"working directory {cwd!r} does not exist in the sandbox"})
            return
        try:
            popen = subprocess.Popen(
                argv, env=env, cwd=cwd,
                stdin=subprocess.PIPE if header.get("stdin") else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, close_fds=True,
            )
        except FileNotFoundError:
            self.send({"t": "err", "id": rid, "kind": "nocommand",
                       "message": f"{argv[0]}: command not found"})
            return
        except PermissionError:
            self.send({"t": "err", "id": rid, "kind": "noexec",
                       "message": f"{argv[0]}: permission denied"})
            return
        timeout = header.get("timeout")
        proc = Proc(rid, popen, time.monotonic() + timeout if timeout else None)
        assert popen.stdout is not None and popen.stderr is not None  # both are pipes
        for fd, stream in ((popen.stdout.fileno(), 1), (popen.stderr.fileno(), 2)):
            _nonblocking(fd)
            proc.open_fds[fd] = stream
            proc.files[fd] = popen.stdout if stream == 1 else popen.stderr
            self.sel.register(fd, selectors.EVENT_READ, ("out", proc))
        if popen.stdin is not None:
            _nonblocking(popen.stdin.fileno())
        self.procs[rid] = proc
        self.send({"t": "started", "id": rid, "pid": popen.pid})

    def op_stdin(self, rid, header, payload):
        proc = self.procs.get(rid)
        if proc is None or proc.popen.stdin is None or proc.close_stdin:
            return
        if payload:
            proc.pending_stdin.append(bytes(payload))
            self.flush_stdin(proc)

    def op_stdin_close(self, rid, header, payload):
        proc = self.procs.get(rid)
        if proc is None or proc.popen.stdin is None:
            return
        proc.close_stdin = True
        self.flush_stdin(proc)

    def op_signal(self, rid, header, payload):
        proc = self.procs.get(rid)
        if proc is not None:
            self.kill_group(proc, int(header.get("sig") or signal.SIGKILL))
        self.send({"t": "ok", "id": rid, "found": proc is not None})

    def op_read(self, rid, header, payload):
        path = header["path"]
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        self.refuse_special(rid, path)
        f = open(path, "rb")  # noqa: SIM115 - read a chunk per loop turn, closed at the end
        self.send({"t": "ok", "id": rid, "size": os.fstat(f.fileno()).st_size})
        self.readers[rid] = f

    def refuse_special(self, rid, path):
        # A FIFO or device would block this single-threaded loop (or never end,
        # like /dev/zero), stalling every other request of the sandbox.
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISREG(mode):
            raise SpecialFile(errno.EINVAL, "not a regular file", path)

    def op_cancel(self, rid, header, payload):
        f = self.readers.pop(rid, None)
        if f is not None:
            f.close()

    def op_write_open(self, rid, header, payload):
        path = header["path"]
        parent = os.path.dirname(path)
        try:
            self.refuse_special(rid, path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self.writers[rid] = open(path, "wb")  # noqa: SIM115 - closed by write_close
        except OSError as exc:
            # Remembered and reported at write_close, the one reply a write gets.
            self.writers[rid] = (exc,)

    def op_write_data(self, rid, header, payload):
        f = self.writers.get(rid)
        if f is None or isinstance(f, tuple):
            return
        try:
            f.write(payload)
        except OSError as exc:
            f.close()
            self.writers[rid] = (exc,)

    def op_write_close(self, rid, header, payload):
        f = self.writers.pop(rid, None)
        if f is None:
            self.send({"t": "err", "id": rid, "kind": "other", "message": "no write in progress"})
        elif isinstance(f, tuple):
            self.error(rid, f[0])
        else:
            size = f.tell()
            f.close()
            self.send({"t": "ok", "id": rid, "size": size})

    def op_list(self, rid, header, payload):
        path = header["path"]
        entries = []
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            try:
                is_dir = entry.is_dir()
                size = entry.stat().st_size if not is_dir else 0
            except OSError:
                # A dangling symlink still shows up, as ls shows it.
                is_dir, size = False, 0
            entries.append({"name": entry.name, "isDir": is_dir, "size": size,
                            "path": os.path.join(path, entry.name)})
        self.send({"t": "ok", "id": rid, "entries": entries})

    def op_mkdir(self, rid, header, payload):
        os.makedirs(header["path"], exist_ok=True)
        self.send({"t": "ok", "id": rid})

    def op_remove(self, rid, header, payload):
        path = header["path"]
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        self.send({"t": "ok", "id": rid})

    # -- processes ------------------------------------------------------
    def kill_group(self, proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            # The leader is gone: signal it alone if it still exists.
            try:
                os.kill(proc.pid, sig)
            except OSError:
                pass

    def flush_stdin(self, proc):
        stdin = proc.popen.stdin
        fd = stdin.fileno()
        while proc.pending_stdin:
            chunk = proc.pending_stdin[0]
            try:
                n = os.write(fd, chunk)
            except BlockingIOError:
                break
            except OSError:
                # The command closed its stdin: what it did not read is dropped.
                proc.pending_stdin.clear()
                break
            if n == len(chunk):
                proc.pending_stdin.popleft()
            else:
                proc.pending_stdin[0] = chunk[n:]
        want_write = bool(proc.pending_stdin)
        try:
            key = self.sel.get_key(fd)
        except KeyError:
            key = None
        if want_write and key is None:
            self.sel.register(fd, selectors.EVENT_WRITE, ("stdin", proc))
        elif not want_write and key is not None:
            self.sel.unregister(fd)
        if not want_write and proc.close_stdin and not stdin.closed:
            stdin.close()

    def drain(self, proc, fd, final=False):
        """Forward what a command wrote; after its exit, only what is buffered."""
        while True:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                if final:
                    # A background child still holds the pipe: the command is over.
                    self.close_fd(proc, fd)
                return
            except OSError:
                data = b""
            if not data:
                self.close_fd(proc, fd)
                return
            self.send({"t": "out", "id": proc.rid, "fd": proc.open_fds[fd]}, data)
            if not final:
                return

    def close_fd(self, proc, fd):
        if fd in proc.open_fds:
            self.sel.unregister(fd)
            del proc.open_fds[fd]
            proc.files.pop(fd).close()

    def reap(self):
        for rid, proc in list(self.procs.items()):
            try:
                pid, status = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = proc.pid, 0
            if pid == 0:
                continue
            for fd in list(proc.open_fds):
                self.drain(proc, fd, final=True)
            code = SIGNAL_BASE + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            stdin = proc.popen.stdin
            if stdin is not None and not stdin.closed:
                try:
                    self.sel.unregister(stdin.fileno())
                except KeyError:
                    pass
                try:
                    stdin.close()
                except OSError:
                    pass
            # Popen must not try to wait for a pid that is already reaped.
            proc.popen.returncode = code
            del self.procs[rid]
            self.send({"t": "exit", "id": rid, "code": -1 if proc.timed_out else code,
                       "timedOut": proc.timed_out})

    def expire(self):
        now = time.monotonic()
        soonest = None
        for proc in self.procs.values():
            if proc.deadline is None or proc.timed_out:
                continue
            if proc.deadline <= now:
                proc.timed_out = True
                self.kill_group(proc, signal.SIGKILL)
            elif soonest is None or proc.deadline < soonest:
                soonest = proc.deadline
        return soonest

    # -- main loop ------------------------------------------------------
    def read_requests(self):
        while True:
            try:
                data = os.read(self.rfd, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                return False
            self.inbuf += data
        buf = self.inbuf
        pos = 0
        while len(buf) - pos >= HEAD.size:
            hlen, plen = HEAD.unpack_from(buf, pos)
            end = pos + HEAD.size + hlen + plen
            if len(buf) < end:
                break
            start = pos + HEAD.size
            header = json.loads(bytes(buf[start:start + hlen]).decode("utf-8"))
            payload = bytes(buf[start + hlen:end])
            pos = end
            self.handle(header, payload)
        del buf[:pos]
        return True

    def pump_reads(self):
        # One chunk per pending file read per turn, so a big download does not
        # hold up commands running beside it.
        for rid, f in list(self.readers.items()):
            try:
                data = f.read(CHUNK)
            except OSError as exc:
                f.close()
                del self.readers[rid]
                self.error(rid, exc)
                continue
            if data:
                self.send({"t": "data", "id": rid}, data)
            else:
                f.close()
                del self.readers[rid]
                self.send({"t": "ok", "id": rid, "eof": True})

    def run(self):
        self.send({"t": "hello", "pid": os.getpid(), "cwd": self.base_cwd,
                   "python": list(sys.version_info[:3])})
        while True:
            soonest = self.expire()
            if self.readers:
                timeout = 0
            elif soonest is not None:
                timeout = max(0.0, soonest - time.monotonic())
            else:
                timeout = None
            for key, _events in self.sel.select(timeout):
                kind, proc = key.data
                if kind == "in":
                    if not self.read_requests():
                        self.shutdown()
                        return
                elif kind == "sig":
                    try:
                        while os.read(self.sig_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                elif kind == "out":
                    if key.fd in proc.open_fds:
                        self.drain(proc, key.fd)
                elif kind == "stdin":
                    self.flush_stdin(proc)
            self.reap()
            if self.readers:
                self.pump_reads()

    def shutdown(self):
        # The host went away: nobody can see or stop these commands any more.
        for proc in self.procs.values():
            self.kill_group(proc, signal.SIGKILL)


if __name__ == "__main__":
    agent = Agent()
    try:
        agent.run()
    except BrokenPipeError:
        agent.shutdown()
