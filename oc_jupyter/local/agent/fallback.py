"""Commands and files for images without ``python3``: one engine ``exec`` per request.

Slower (an exec costs ~150 ms) but needs nothing in the image beyond a POSIX
``sh`` and the usual file tools. Each command runs as
``sh -c 'echo $$; exec "$@"'`` so its first stdout line is its pid: the engine
starts exec'd processes as session leaders, so that pid names the process
group to signal, which is how timeouts and kills reach a command's children.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal as signals
from collections.abc import AsyncIterator
from typing import Any

from ..engine import Engine
from .client import RemoteError

__all__ = ["ExecFallback", "FallbackProcess"]

_PID_PREFIX = ["sh", "-c", 'echo "$$"; exec "$@"', "sh"]
# Exit codes the file scripts below use to say what went wrong.
_KINDS = {44: "notfound", 21: "isdir", 20: "notdir", 17: "exists", 22: "special"}
_READ = 'test -e "$1" || exit 44; test -d "$1" && exit 21; test -f "$1" || exit 22; wc -c < "$1" && exec cat -- "$1"'
_WRITE = (
    'test -d "$1" && exit 21; test -e "$1" && ! test -f "$1" && exit 22; d=$(dirname -- "$1"); '
    'test -e "$d" && ! test -d "$d" && exit 20; mkdir -p -- "$d" && exec cat > "$1"'
)
_LIST = (
    'test -e "$1" || exit 44; test -d "$1" || exit 20; cd -- "$1" || exit 1; '
    'for f in * .[!.]* ..?*; do test -e "$f" || test -L "$f" || continue; '
    'if test -d "$f"; then printf "1/0/%s\\0" "$f"; '
    'else printf "0/%s/%s\\0" "$(wc -c < "$f" 2>/dev/null || echo 0)" "$f"; fi; done'
)
_MKDIR = 'test -e "$1" && ! test -d "$1" && exit 17; exec mkdir -p -- "$1"'
_REMOVE = 'test -e "$1" || test -L "$1" || exit 44; exec rm -rf -- "$1"'


class ExecFallback:
    """The same operations as :class:`~.client.AgentConnection`, done through ``engine exec``."""

    alive = True

    def __init__(self, engine: Engine, container: str) -> None:
        self.engine = engine
        self.container = container

    def _exec_args(
        self, *, env: dict[str, str] | None = None, cwd: str | None = None, stdin: bool = False
    ) -> list[str]:
        args = ["exec"]
        if stdin:
            args.append("-i")
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        if cwd:
            args += ["-w", cwd]
        return [*args, self.container]

    async def _exec(self, args: list[str], *, stdin: bool) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            self.engine.binary,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.engine.env,
        )

    async def spawn(
        self, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, timeout: float | None, stdin: bool
    ) -> FallbackProcess | dict[str, Any]:
        proc = await self._exec([*self._exec_args(env=env, cwd=cwd, stdin=stdin), *_PID_PREFIX, *argv], stdin=stdin)
        assert proc.stdout is not None
        first = await proc.stdout.readline()
        if not first:
            # The engine could not start it: a missing cwd or command.
            err = (await proc.stderr.read()).decode(errors="replace").strip() if proc.stderr else ""
            await proc.wait()
            if "chdir" in err:
                return {
                    "t": "err",
                    "kind": "notfound",
                    "message": f"working directory {cwd!r} does not exist in the sandbox",
                }
            return {"t": "err", "kind": "other", "message": err or "the command could not start"}
        return FallbackProcess(self, proc, int(first.strip()), timeout)

    async def kill_group(self, pid: int, sig: int) -> None:
        script = f"kill -s {int(sig)} -- -{int(pid)} 2>/dev/null || kill -s {int(sig)} {int(pid)} 2>/dev/null; true"
        proc = await self._exec([*self._exec_args(), "sh", "-c", script], stdin=False)
        await proc.communicate()

    async def _script(self, script: str, path: str, *, data: AsyncIterator[bytes] | None = None) -> bytes:
        proc = await self._exec(
            [*self._exec_args(stdin=data is not None), "sh", "-c", script, "sh", path], stdin=data is not None
        )
        if data is not None:
            assert proc.stdin is not None
            with contextlib.suppress(ConnectionError):
                async for chunk in data:
                    proc.stdin.write(chunk)
                    await proc.stdin.drain()
                proc.stdin.close()
        out, err = await proc.communicate()
        _raise_for(proc.returncode or 0, err, path)
        return out

    async def open_read(self, path: str) -> tuple[int, AsyncIterator[bytes]]:
        proc = await self._exec([*self._exec_args(), "sh", "-c", _READ, "sh", path], stdin=False)
        assert proc.stdout is not None and proc.stderr is not None
        first = await proc.stdout.readline()
        if not first:
            err = await proc.stderr.read()
            _raise_for(await proc.wait(), err, path)
        size = int(first.strip() or 0)

        async def chunks() -> AsyncIterator[bytes]:
            assert proc.stdout is not None
            try:
                while chunk := await proc.stdout.read(256 * 1024):
                    yield chunk
                await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()

        return size, chunks()

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        await self._script(_WRITE, path, data=chunks)

    async def list(self, path: str) -> list[dict[str, Any]]:
        out = await self._script(_LIST, path)
        entries = []
        for item in out.split(b"\0"):
            if not item:
                continue
            is_dir, size, name = item.decode(errors="surrogateescape").split("/", 2)
            entries.append(
                {
                    "name": name,
                    "isDir": is_dir == "1",
                    "size": int(size.strip() or 0),
                    "path": path.rstrip("/") + "/" + name,
                }
            )
        return sorted(entries, key=lambda e: e["name"])

    async def mkdir(self, path: str) -> None:
        await self._script(_MKDIR, path)

    async def remove(self, path: str) -> None:
        await self._script(_REMOVE, path)

    async def close(self) -> None:
        pass


def _raise_for(code: int, err: bytes, path: str) -> None:
    if code == 0:
        return
    kind = _KINDS.get(code, "other")
    message = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {code}"]
    raise RemoteError(kind, message[0] if kind == "other" else kind)


class FallbackProcess:
    """One ``engine exec`` command, with the same face as :class:`~.client.RemoteProcess`."""

    def __init__(self, owner: ExecFallback, proc: asyncio.subprocess.Process, pid: int, timeout: float | None) -> None:
        self.owner = owner
        self.proc = proc
        self.pid = pid
        self.timeout = timeout
        self.timed_out = False

    async def events(self) -> AsyncIterator[tuple]:
        queue: asyncio.Queue = asyncio.Queue()

        async def pump(stream: asyncio.StreamReader, fd: int) -> None:
            while chunk := await stream.read(256 * 1024):
                queue.put_nowait(("out", fd, chunk))

        async def expire() -> None:
            await asyncio.sleep(self.timeout or 0)
            self.timed_out = True
            await self.owner.kill_group(self.pid, signals.SIGKILL)

        assert self.proc.stdout is not None and self.proc.stderr is not None  # both are pipes
        pumps = [asyncio.create_task(pump(self.proc.stdout, 1)), asyncio.create_task(pump(self.proc.stderr, 2))]
        timer = asyncio.create_task(expire()) if self.timeout else None
        done = asyncio.gather(*pumps)
        done.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (item := await queue.get()) is not None:
                yield item
            code = await self.proc.wait()
            yield ("exit", -1 if self.timed_out else code, self.timed_out)
        finally:
            if timer is not None:
                timer.cancel()
            for task in pumps:
                task.cancel()

    async def write_stdin(self, data: bytes) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    async def signal(self, sig: int) -> None:
        await self.owner.kill_group(self.pid, sig)
