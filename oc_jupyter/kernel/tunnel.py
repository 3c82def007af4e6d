"""The host end of a kernel tunnel: the process Jupyter starts for an OpenComputer kernel.

Jupyter writes a connection file (ports, key) and starts this process as if
it were the kernel. It makes the sandbox (or connects to one), starts
:mod:`oc_jupyter.kernel.relay` in it through an exec session, and listens on
the connection file's five ports on the host's loopback: each connection
Jupyter opens is carried to the same port inside the sandbox, where ipykernel
listens with the same key. Nothing is decoded on the way, so message
signatures are checked end to end as with a local kernel.

Signals Jupyter sends this process (an interrupt) go on to the kernel; when
the kernel exits, the tunnel ends and removes the sandbox it made. A sandbox
that dies ends the tunnel with the reason on stderr, which Jupyter shows as a
dead kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import signal
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..sdk import Image, Sandbox
from ..sdk.errors import OCError

REMOTE_DIR = "/tmp/oc-kernel"
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
KERNEL_PACKAGES = ("ipykernel",)


class TunnelError(Exception):
    """The kernel cannot start; the message is the one sentence Jupyter shows."""


@dataclass
class Target:
    """What the kernel's sandbox is made from (one of the fields is set)."""

    snapshot: str | None = None
    template: str | None = None
    sandbox: str | None = None
    packages: tuple[str, ...] = KERNEL_PACKAGES

    def describe(self) -> str:
        if self.sandbox:
            return f"sandbox {self.sandbox}"
        if self.snapshot:
            return f"snapshot {self.snapshot!r}"
        if self.template:
            return f"template {self.template!r}"
        return "the base image with " + ", ".join(self.packages)


async def open_sandbox(target: Target, memory_mb: int | None = None) -> tuple[Sandbox, bool]:
    """The sandbox to run the kernel in, and whether the tunnel owns (and so removes) it."""
    if target.sandbox:
        return await Sandbox.connect(target.sandbox), False
    extra: dict[str, Any] = {"memory_mb": memory_mb} if memory_mb else {}
    if target.snapshot:
        return await Sandbox.create(snapshot=target.snapshot, timeout=0, **extra), True
    if target.template:
        return await Sandbox.create(template=target.template, timeout=0, **extra), True
    image = Image.base().pip_install(list(target.packages)).workdir("/workspace")
    return await Sandbox.create(image=image, timeout=0, **extra), True


async def check_ipykernel(sandbox: Sandbox, target: Target) -> None:
    probe = await sandbox.commands.run("python3 -c 'import ipykernel'", timeout=60)
    if probe.exit_code != 0:
        raise TunnelError(
            f"The {target.describe()} has no ipykernel, which an OpenComputer kernel needs: add the recipe line "
            '`pip ipykernel` to its %%oc_image recipe (or `.pip_install(["ipykernel"])` to its Image) and '
            "create it again."
        )


class Tunnel:
    def __init__(self, sandbox: Sandbox, connection: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.connection = connection
        self.session: Any = None
        self.writers: dict[int, asyncio.StreamWriter] = {}
        self.next_id = 0
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffer = b""
        self.finished: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.kernel_log = ""

    # -- to the relay
    def send(self, **message: Any) -> None:
        self.outbox.put_nowait(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def write_out(self) -> None:
        try:
            while True:
                line = await self.outbox.get()
                await self.session.send_stdin(line)
        except OCError:
            pass  # the session ended; run() reports why

    # -- from the relay
    def on_stdout(self, chunk: str | bytes) -> None:
        self.buffer += chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                self.on_message(message)

    def on_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        writer = self.writers.get(message.get("id", -1))
        if op == "data" and writer is not None:
            writer.write(base64.b64decode(message.get("b", "")))
        elif op == "close" and writer is not None:
            self.writers.pop(message["id"], None)
            writer.close()
        elif op == "exit" and not self.finished.done():
            self.kernel_log = str(message.get("log", ""))
            self.finished.set_result(int(message.get("code", 1)))

    def on_stderr(self, chunk: str | bytes) -> None:
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        sys.stderr.write(text)

    # -- from Jupyter
    async def accept(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = self.next_id
        self.next_id += 1
        self.writers[conn_id] = writer
        self.send(op="open", id=conn_id, port=port)
        try:
            while data := await reader.read(65536):
                self.send(op="data", id=conn_id, b=base64.b64encode(data).decode())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if self.writers.pop(conn_id, None) is not None:
                self.send(op="close", id=conn_id)
            writer.close()

    async def start(self, cwd: str) -> None:
        remote_connection = {**self.connection, "ip": "127.0.0.1", "transport": "tcp"}
        relay = resources.files(__package__).joinpath("relay.py").read_text()
        await self.sandbox.commands.run(f"mkdir -p -m 0700 {REMOTE_DIR}", timeout=30)
        await self.sandbox.files.write(f"{REMOTE_DIR}/relay.py", relay)
        await self.sandbox.files.write(f"{REMOTE_DIR}/kernel.json", json.dumps(remote_connection))
        await self.sandbox.commands.run(f"chmod 0600 {REMOTE_DIR}/kernel.json", timeout=30)
        self.session = await self.sandbox.exec.start(
            "python3",
            [f"{REMOTE_DIR}/relay.py", f"{REMOTE_DIR}/kernel.json", f"{REMOTE_DIR}/kernel.log"],
            env={"OC_KERNEL_CWD": cwd},
            on_stdout=self.on_stdout,
            on_stderr=self.on_stderr,
        )
        self.writer_task = asyncio.create_task(self.write_out())
        self.servers = []
        host = self.connection.get("ip", "127.0.0.1")
        for name in PORTS:
            port = int(self.connection[name])
            server = await asyncio.start_server(functools.partial(self.accept, port), host=host, port=port)
            self.servers.append(server)

    async def run(self) -> int:
        """Wait for the kernel to exit (its code) or for the sandbox to go (raises TunnelError)."""
        ended: asyncio.Future[Any] = asyncio.ensure_future(_session_end(self.session))
        done, _ = await asyncio.wait({self.finished, ended}, return_when=asyncio.FIRST_COMPLETED)
        if self.finished.done():
            ended.cancel()
            return self.finished.result()
        raise TunnelError(await self.why_gone())

    async def why_gone(self) -> str:
        try:
            info = await self.sandbox.info()
            state = f"its status is {info.status!r}"
        except OCError as exc:
            state = str(exc)
        return (
            f"The kernel's sandbox {self.sandbox.id} stopped answering ({state}); restart the kernel to get a new one."
        )

    def signal(self, signum: int) -> None:
        self.send(op="signal", signal=int(signum))

    async def close(self) -> None:
        if getattr(self, "writer_task", None) is not None:
            self.writer_task.cancel()
        for server in getattr(self, "servers", []):
            server.close()
        for writer in list(self.writers.values()):
            writer.close()
        if self.session is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.session.kill(), 5)


async def _session_end(session: Any) -> None:
    waiter = session.wait() if callable(getattr(session, "wait", None)) else session.done
    with contextlib.suppress(Exception):
        await waiter


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m oc_jupyter.kernel.tunnel", description=__doc__.split("\n")[0])
    parser.add_argument("-f", "--connection-file", required=True)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--snapshot")
    what.add_argument("--template")
    what.add_argument("--sandbox")
    parser.add_argument("--packages", default=",".join(KERNEL_PACKAGES), help="pip packages added to the base image")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox when the kernel ends")
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--cwd", default="/workspace")
    parser.add_argument("--state-file", help="where to record the sandbox id, for the provisioner's clean-up")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    connection = json.loads(Path(args.connection_file).read_text())
    packages = tuple(p for p in args.packages.split(",") if p) or KERNEL_PACKAGES
    target = Target(args.snapshot, args.template, args.sandbox, packages)
    print(f"oc_jupyter: starting a kernel in a sandbox from {target.describe()}", file=sys.stderr, flush=True)
    sandbox, owned = await open_sandbox(target, args.memory_mb)
    keep = args.keep or not owned
    if args.state_file:
        Path(args.state_file).write_text(json.dumps({"sandbox_id": sandbox.id, "keep": keep}))
    tunnel = None
    try:
        await check_ipykernel(sandbox, target)
        tunnel = Tunnel(sandbox, connection)
        await tunnel.start(args.cwd)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
            loop.add_signal_handler(signum, tunnel.signal, signum)
        stop = loop.create_future()

        def on_sigterm() -> None:
            if not stop.done():
                stop.set_result(None)

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        print(f"oc_jupyter: kernel running in sandbox {sandbox.id}", file=sys.stderr, flush=True)
        running = asyncio.ensure_future(tunnel.run())
        await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            return running.result()
        tunnel.signal(signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError, TunnelError):
            return await asyncio.wait_for(running, 5)
        return 0
    finally:
        if tunnel is not None:
            await tunnel.close()
        if not keep:
            with contextlib.suppress(Exception):
                await sandbox.kill()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return asyncio.run(serve(args))
    except (TunnelError, OCError) as exc:
        print(f"oc_jupyter: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
