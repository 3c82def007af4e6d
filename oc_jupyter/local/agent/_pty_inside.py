"""The in-sandbox process that serves terminals and carries bytes to ports on the sandbox's loopback.

Started like the command agent (``python3 -u -c <this source>`` through the
engine's ``exec -i``, standard library only, any ``python3 >= 3.7``) and
speaking the same frames: ``>II`` (header length, payload length), a UTF-8
JSON header, the raw payload. It is a process of its own so that a terminal
spewing output or a stalled tunnel never holds up commands and file work.

Host to agent (``op``): ``pty_open`` {argv, env, cwd, cols, rows};
``pty_in`` (payload); ``pty_resize`` {cols, rows}; ``pty_close``;
``tcp_open`` {port}; ``tcp_data`` (payload); ``tcp_ack`` {n} (bytes consumed);
``tcp_eof``; ``tcp_close``.

Agent to host (``t``): ``hello`` once; ``ok`` {...}; ``err`` {kind, message};
``out`` + payload (terminal output); ``exit`` {code}; ``data`` + payload
(bytes from a port); ``eof`` (the port closed its side).
"""

import collections
import errno
import fcntl
import json
import os
import pty
import selectors
import signal
import socket
import struct
import termios

HEAD = struct.Struct(">II")
CHUNK = 64 * 1024
# A tunnel stops reading its port once this much is on the way to a host that
# has not consumed it (``tcp_ack``), so a slow client never fills the host's memory.
WINDOW = 1024 * 1024
SIGNAL_BASE = 128


def _nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


def _winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """One shell on a pseudo-terminal."""

    def __init__(self, rid, pid, master):
        self.rid = rid
        self.pid = pid
        self.master = master
        self.pending: collections.deque[bytes] = collections.deque()
        self.code = None
        self.eof = False


class Tunnel:
    """One TCP connection to a port on 127.0.0.1 inside the sandbox."""

    def __init__(self, rid, sock):
        self.rid = rid
        self.sock = sock
        self.pending: collections.deque[bytes] = collections.deque()
        self.connected = False
        self.shut_write = False
        self.unacked = 0  # bytes sent to the host that it has not yet said it consumed


class PtyAgent:
    def __init__(self):
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
        self.sig_r, self.sig_w = os.pipe()
        _nonblocking(self.sig_r)
        _nonblocking(self.sig_w)
        signal.set_wakeup_fd(self.sig_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.sel.register(self.sig_r, selectors.EVENT_READ, ("sig", None))
        self.terminals = {}
        self.tunnels = {}

    def send(self, header, payload=b""):
        head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        view = memoryview(HEAD.pack(len(head), len(payload)) + head + payload)
        while view:
            try:
                n = os.write(self.wfd, view)
            except InterruptedError:
                continue
            view = view[n:]

    def handle(self, header, payload):
        rid = header.get("id")
        fn = getattr(self, "op_" + str(header.get("op")), None)
        if fn is None:
            self.send({"t": "err", "id": rid, "kind": "other", "message": "unknown op {!r}".format(header.get("op"))})
            return
        try:
            fn(rid, header, payload)
        except Exception as exc:  # noqa: BLE001 - a bad request must not stop the agent
            self.send({"t": "err", "id": rid, "kind": "other", "message": str(exc)})

    # -- terminals --------------------------------------------------------
    def op_pty_open(self, rid, header, payload):
        argv = header["argv"]
        env = dict(os.environ)
        env.update(header.get("env") or {})
        cwd = header.get("cwd") or "/"
        if not os.path.isdir(cwd):
            cwd = "/"
        try:
            runnable = os.access(argv[0], os.X_OK) and not os.path.isdir(argv[0])
        except (ValueError, UnicodeError):
            runnable = False  # a name no file can have
        if not runnable:
            self.send({"t": "err", "id": rid, "kind": "nocommand",
                       "message": f"shell {argv[0]!r} is not an executable in the sandbox"})
            return
        rows, cols = int(header.get("rows") or 24), int(header.get("cols") or 80)
        pid, master = pty.fork()
        if pid == 0:
            # The child: its stdio is the terminal, it leads a new session.
            try:
                _winsize(0, rows, cols)
                os.chdir(cwd)
                os.closerange(3, 65536)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        _nonblocking(master)
        term = Terminal(rid, pid, master)
        self.terminals[rid] = term
        self.sel.register(master, selectors.EVENT_READ, ("pty", term))
        self.send({"t": "ok", "id": rid, "pid": pid})

    def op_pty_in(self, rid, header, payload):
        term = self.terminals.get(rid)
        if term is not None and payload and not term.eof:
            term.pending.append(bytes(payload))
            self.flush(term.master, term.pending, ("pty", term))

    def op_pty_resize(self, rid, header, payload):
        term = self.terminals.get(rid)
        if term is not None and not term.eof:
            # The kernel sends SIGWINCH to the terminal's foreground group itself.
            _winsize(term.master, int(header["rows"]), int(header["cols"]))
        self.send({"t": "ok", "id": rid, "found": term is not None})

    def op_pty_close(self, rid, header, payload):
        term = self.terminals.get(rid)
        if term is not None and term.code is None:
            for sig in (signal.SIGHUP, signal.SIGCONT):
                try:
                    os.killpg(term.pid, sig)
                except OSError:
                    pass

    def read_pty(self, term):
        try:
            data = os.read(term.master, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            # EIO: every process holding the terminal's other end is gone.
            data = b""
        if data:
            self.send({"t": "out", "id": term.rid}, data)
            return
        self.end_pty(term)

    def end_pty(self, term):
        if not term.eof:
            term.eof = True
            self.sel.unregister(term.master)
            os.close(term.master)
        self.finish_pty(term)

    def finish_pty(self, term):
        if term.eof and term.code is not None and self.terminals.pop(term.rid, None) is not None:
            self.send({"t": "exit", "id": term.rid, "code": term.code})

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for term in list(self.terminals.values()):
                if term.pid == pid:
                    term.code = (SIGNAL_BASE + os.WTERMSIG(status)) if os.WIFSIGNALED(status) \
                        else os.WEXITSTATUS(status)
                    # The shell is gone: its orphans must not keep the terminal open.
                    try:
                        os.killpg(pid, signal.SIGHUP)
                    except OSError:
                        pass
                    self.finish_pty(term)

    # -- tunnels ----------------------------------------------------------
    def op_tcp_open(self, rid, header, payload):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        tunnel = Tunnel(rid, sock)
        self.tunnels[rid] = tunnel
        err = sock.connect_ex(("127.0.0.1", int(header["port"])))
        if err not in (0, errno.EINPROGRESS):
            self.drop(tunnel, os.strerror(err))
            return
        self.sel.register(sock, selectors.EVENT_WRITE, ("tcp", tunnel))

    def op_tcp_data(self, rid, header, payload):
        tunnel = self.tunnels.get(rid)
        if tunnel is not None and payload:
            tunnel.pending.append(bytes(payload))
            if tunnel.connected:
                self.pump_tunnel(tunnel)

    def op_tcp_eof(self, rid, header, payload):
        tunnel = self.tunnels.get(rid)
        if tunnel is not None:
            tunnel.shut_write = True
            if tunnel.connected:
                self.pump_tunnel(tunnel)

    def op_tcp_close(self, rid, header, payload):
        tunnel = self.tunnels.pop(rid, None)
        if tunnel is not None:
            self.forget(tunnel)

    def forget(self, tunnel):
        try:
            self.sel.unregister(tunnel.sock)
        except (KeyError, ValueError):
            pass
        tunnel.sock.close()

    def drop(self, tunnel, message):
        self.tunnels.pop(tunnel.rid, None)
        self.forget(tunnel)
        self.send({"t": "err", "id": tunnel.rid, "kind": "refused", "message": message})

    def on_tunnel(self, tunnel, events):
        if not tunnel.connected:
            err = tunnel.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.drop(tunnel, os.strerror(err))
                return
            tunnel.connected = True
            self.send({"t": "ok", "id": tunnel.rid})
            self.pump_tunnel(tunnel)
            return
        if events & selectors.EVENT_READ:
            try:
                data = tunnel.sock.recv(CHUNK)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data:
                self.send({"t": "data", "id": tunnel.rid}, data)
                tunnel.unacked += len(data)
                if tunnel.unacked >= WINDOW:
                    self.watch_tunnel(tunnel)
            elif data is not None:
                self.tunnels.pop(tunnel.rid, None)
                self.forget(tunnel)
                self.send({"t": "eof", "id": tunnel.rid})
                return
        if events & selectors.EVENT_WRITE:
            self.pump_tunnel(tunnel)

    def pump_tunnel(self, tunnel):
        while tunnel.pending:
            chunk = tunnel.pending[0]
            try:
                n = tunnel.sock.send(chunk)
            except BlockingIOError:
                break
            except OSError:
                tunnel.pending.clear()
                break
            if n == len(chunk):
                tunnel.pending.popleft()
            else:
                tunnel.pending[0] = chunk[n:]
        if not tunnel.pending and tunnel.shut_write:
            try:
                tunnel.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.watch_tunnel(tunnel)

    def watch_tunnel(self, tunnel):
        events = (selectors.EVENT_READ if tunnel.unacked < WINDOW else 0) | \
            (selectors.EVENT_WRITE if tunnel.pending else 0)
        try:
            registered = self.sel.get_key(tunnel.sock).events
        except KeyError:
            registered = 0
        if events == registered:
            return
        if not events:
            self.sel.unregister(tunnel.sock)
        elif registered:
            self.sel.modify(tunnel.sock, events, ("tcp", tunnel))
        else:
            self.sel.register(tunnel.sock, events, ("tcp", tunnel))

    def op_tcp_ack(self, rid, header, payload):
        tunnel = self.tunnels.get(rid)
        if tunnel is not None and tunnel.connected:
            tunnel.unacked = max(0, tunnel.unacked - int(header["n"]))
            self.watch_tunnel(tunnel)

    # -- shared -----------------------------------------------------------
    def flush(self, fd, pending, data):
        while pending:
            chunk = pending[0]
            try:
                n = os.write(fd, chunk)
            except BlockingIOError:
                break
            except OSError:
                pending.clear()
                break
            if n == len(chunk):
                pending.popleft()
            else:
                pending[0] = chunk[n:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
        self.sel.modify(fd, events, data)

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
            self.handle(header, bytes(buf[start + hlen:end]))
            pos = end
        del buf[:pos]
        return True

    def run(self):
        self.send({"t": "hello", "pid": os.getpid()})
        while True:
            for key, events in self.sel.select():
                kind, obj = key.data
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
                elif kind == "pty":
                    if obj.eof:
                        continue
                    if events & selectors.EVENT_WRITE:
                        self.flush(obj.master, obj.pending, key.data)
                    if events & selectors.EVENT_READ:
                        self.read_pty(obj)
                elif kind == "tcp" and obj.rid in self.tunnels:
                    self.on_tunnel(obj, events)
            self.reap()

    def shutdown(self):
        # The host went away: nobody can see or type into these terminals any more.
        for term in self.terminals.values():
            try:
                os.killpg(term.pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    agent = PtyAgent()
    try:
        agent.run()
    except BrokenPipeError:
        agent.shutdown()
