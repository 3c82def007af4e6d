"""The sandbox end of a kernel tunnel: starts ipykernel and relays its sockets over stdin/stdout.

This file is copied into the sandbox and run there with the sandbox's own
``python3``, so it uses the standard library only. The host end
(:mod:`oc_jupyter.kernel.tunnel`) carries every TCP connection Jupyter opens
to the kernel's five ports as JSON lines on this process's stdin and stdout,
which is all an exec session of either backend offers. ZeroMQ's framing and
the kernel's message signatures travel inside the relayed bytes untouched.

Lines in (host → relay): ``{"op": "open", "id": N, "port": P}``,
``{"op": "data", "id": N, "b": base64}``, ``{"op": "close", "id": N}``,
``{"op": "signal", "signal": S}``. Lines out: ``{"op": "ready", "pid": …}``,
``data`` and ``close`` as above, and ``{"op": "exit", "code": C, "log": …}``
when the kernel ends.
"""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

CHUNK = 65536
_out = sys.stdout.buffer
_out_lock = threading.Lock()
_conns = {}  # type: dict[object, socket.socket]
_conns_lock = threading.Lock()


def send(**message):
    line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with _out_lock:
        _out.write(line)
        _out.flush()


def pump(conn_id, sock):
    """Copy what the kernel sends on one connection to the host."""
    try:
        while True:
            data = sock.recv(CHUNK)
            if not data:
                break
            send(op="data", id=conn_id, b=base64.b64encode(data).decode())
    except OSError:
        pass
    finally:
        with _conns_lock:
            known = _conns.pop(conn_id, None)
        if known is not None:
            send(op="close", id=conn_id)
        sock.close()


def connect(port, deadline):
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def handle(message, kernel):
    op = message.get("op")
    conn_id = message.get("id")
    if op == "open":
        try:
            sock = connect(int(message["port"]), time.monotonic() + 30)
        except OSError:
            send(op="close", id=conn_id)
            return
        sock.settimeout(None)
        with _conns_lock:
            _conns[conn_id] = sock
        threading.Thread(target=pump, args=(conn_id, sock), daemon=True).start()
    elif op == "data":
        with _conns_lock:
            sock = _conns.get(conn_id)
        if sock is not None:
            try:
                sock.sendall(base64.b64decode(message["b"]))
            except OSError:
                pass
    elif op == "close":
        with _conns_lock:
            sock = _conns.pop(conn_id, None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    elif op == "signal":
        try:
            os.kill(kernel.pid, int(message["signal"]))
        except (OSError, ValueError):
            pass


def main():
    connection_file, log_path = sys.argv[1], sys.argv[2]
    with open(log_path, "ab") as log:
        kernel = subprocess.Popen(
            [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=os.environ.get("OC_KERNEL_CWD") or None,
        )
    send(op="ready", pid=kernel.pid)

    def watch():
        code = kernel.wait()
        with open(log_path, "rb") as log:
            tail = log.read()[-4000:].decode("utf-8", "replace")
        send(op="exit", code=code, log=tail)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    # The host signals the kernel through us; our own SIGINT must not end the relay.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for raw in sys.stdin.buffer:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict):
            handle(message, kernel)
    # The host went away: take the kernel with us.
    kernel.terminate()
    try:
        kernel.wait(5)
    except subprocess.TimeoutExpired:
        kernel.kill()


if __name__ == "__main__":
    main()
