"""The container engine (podman or docker), driven through its command line.

The engine is found on ``PATH`` (podman first, then docker) unless
``OC_JUPYTER_ENGINE`` names one, either as ``podman``/``docker`` or as a path
to the binary. Every call is an asyncio subprocess so the server never blocks.

Podman reads ``CONTAINERS_CONF``; unless the user set it, the settings shipped
beside this module are used (runc as runtime, ulimits within the usual hard
limits), because podman's defaults fail on many hosts.

Commands that should finish quickly (everything but build steps and pulls)
run under a deadline: a wedged engine (a stuck storage lock, a hung
runtime) then gives a clear 503 naming the command instead of a request
that never returns. ``OC_JUPYTER_ENGINE_TIMEOUT`` (seconds) changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError, EngineNotFound, EngineTimeout
from .settings import env_number

__all__ = ["Engine", "Result", "SUPPORTED_ENGINES", "detect_engine", "env_file_args"]

SUPPORTED_ENGINES = ("podman", "docker")
SHIPPED_CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
# The longest output line read whole; a longer one is cut (its rest still streams).
_LINE_LIMIT = 1 << 20

#: Deadline for one engine command; generous, since a loaded machine can make
#: ``run -d`` take several seconds, but far below "forever".
DEFAULT_TIMEOUT = env_number("OC_JUPYTER_ENGINE_TIMEOUT", 120.0)
#: Committing a layer copies its files, which for big layers legitimately takes minutes.
SLOW_TIMEOUT = max(DEFAULT_TIMEOUT, 1800.0)

LineCallback = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True)
class Result:
    """What a finished engine command returned."""

    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def _install_hint() -> str:
    return (
        "install podman (for example `apt-get install podman`) or docker, or set OC_JUPYTER_ENGINE to the path of one"
    )


def detect_engine(environ: dict | None = None) -> Engine:
    """Find the engine to use, or raise :class:`EngineNotFound` saying how to install one."""
    env = os.environ if environ is None else environ
    wanted = env.get("OC_JUPYTER_ENGINE", "").strip()
    if wanted:
        path = shutil.which(wanted)
        if path is None:
            raise EngineNotFound(
                f"Container engine {wanted!r} (from OC_JUPYTER_ENGINE) was not found; "
                f"supported engines are {', '.join(SUPPORTED_ENGINES)}: {_install_hint()}."
            )
        return Engine(path)
    for name in SUPPORTED_ENGINES:
        path = shutil.which(name)
        if path is not None:
            return Engine(path)
    raise EngineNotFound(
        f"No container engine was found on PATH; supported engines are "
        f"{', '.join(SUPPORTED_ENGINES)}: {_install_hint()}."
    )


class Engine:
    """One container engine binary, with async helpers that run its subcommands."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        base = Path(binary).name
        self.name = "docker" if "docker" in base else "podman"
        self.env = dict(os.environ)
        if self.name == "podman":
            self.env.setdefault("CONTAINERS_CONF", str(SHIPPED_CONTAINERS_CONF))

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, {self.binary!r})"

    async def _spawn(self, args: Sequence[str], *, stdin: bool, merge: bool) -> asyncio.subprocess.Process:
        """Start ``engine args…`` with piped output (for commands that do not detach)."""
        try:
            return await asyncio.create_subprocess_exec(
                self.binary,
                *args,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE,
                env=self.env,
                limit=_LINE_LIMIT,
            )
        except FileNotFoundError as exc:
            raise EngineNotFound(f"Container engine {self.binary!r} disappeared; {_install_hint()}.") from exc

    async def run(
        self, *args: str, input: bytes | None = None, check: bool = True, timeout: float | None = None
    ) -> Result:
        """Run ``engine args…`` to completion; raise :class:`EngineError` on failure if ``check``.

        Raises :class:`EngineTimeout` (after killing the command) when it takes
        longer than ``timeout`` seconds (default :data:`DEFAULT_TIMEOUT`).

        Output goes to temporary files, not pipes: ``run -d`` leaves conmon
        holding the inherited descriptors, so a pipe would never reach EOF.
        """
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self.binary,
                    *args,
                    stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=self.env,
                )
            except FileNotFoundError as exc:
                raise EngineNotFound(f"Container engine {self.binary!r} disappeared; {_install_hint()}.") from exc
            limit = DEFAULT_TIMEOUT if timeout is None else timeout
            try:
                await asyncio.wait_for(proc.communicate(input), limit)
            except asyncio.TimeoutError:
                _kill(proc)
                await proc.wait()
                raise EngineTimeout(self.command_line(args), limit) from None
            except asyncio.CancelledError:
                _kill(proc)
                raise
            out.seek(0)
            err.seek(0)
            result = Result(
                proc.returncode or 0, out.read().decode(errors="replace"), err.read().decode(errors="replace")
            )
        if check and not result.ok:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise EngineError(f"{self.name} {args[0]} failed with exit code {result.code}: {detail[0]}")
        return result

    def command_line(self, args: Sequence[str]) -> str:
        """``podman run -d …``: the engine command, short enough for an error message."""
        shown = [a if len(a) <= 40 else a[:37] + "..." for a in args[:4]]
        return " ".join([self.name, *shown, *(["..."] if len(args) > 4 else [])])

    async def stream(self, *args: str, on_line: LineCallback, input: bytes | None = None) -> int:
        """Run ``engine args…`` passing each line of merged stdout/stderr to ``on_line``; return the exit code.

        Cancelling the caller kills the engine process, so an abandoned command stops.
        """
        proc = await self._spawn(args, stdin=input is not None, merge=True)
        try:
            if input is not None:
                assert proc.stdin is not None
                proc.stdin.write(input)
                await proc.stdin.drain()
                proc.stdin.close()
            assert proc.stdout is not None
            while True:
                try:
                    raw = await proc.stdout.readline()
                except ValueError:
                    raw = await proc.stdout.read(_LINE_LIMIT)
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\r\n")
                # Progress bars redraw with carriage returns: keep the last state only.
                line = line.rsplit("\r", 1)[-1]
                outcome = on_line(line)
                if outcome is not None:
                    await outcome
            return await proc.wait()
        except BaseException:
            _kill(proc)
            raise

    async def image_exists(self, ref: str) -> bool:
        return (await self.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)).ok

    async def existing_images(self, refs: Sequence[str]) -> set[str]:
        """Which of ``refs`` exist, in one ``image inspect`` call.

        Listing a repository's tags (``images``) reads every image in the
        store, seconds once there are hundreds; inspecting named references
        costs the same for one or fifty. Missing ones only make the command
        fail after it printed the others.
        """
        if not refs:
            return set()
        result = await self.run(
            "image", "inspect", "--format", "{{range .RepoTags}}{{println .}}{{end}}", *refs, check=False
        )
        found = {line.strip() for line in result.stdout.splitlines()}
        return {ref for ref in refs if ref in found}

    async def image_tags(self, repository: str) -> set[str]:
        """Tags present in the engine for ``repository`` (one call, for the layer cache's listing)."""
        result = await self.run("images", "--format", "{{.Repository}}:{{.Tag}}", repository, check=False)
        return {
            line.strip().rsplit(":", 1)[1]
            for line in result.stdout.splitlines()
            if line.strip().startswith(repository + ":")
        }

    async def containers(self, *labels: str, all: bool = True) -> list[dict]:
        """Containers carrying every ``key=value`` label: their id, name and labels."""
        args = ["ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.State}}"]
        if all:
            args.insert(1, "-a")
        for label in labels:
            args += ["--filter", f"label={label}"]
        result = await self.run(*args)
        rows = []
        for line in result.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                state = parts[2].lower()
                # podman 4.3 renders {{.State}} as its status text ("Up 3 minutes ago"), docker as "running".
                if state.startswith("up"):
                    state = "running"
                rows.append({"id": parts[0], "name": parts[1], "state": state})
        return rows

    async def remove_containers(self, ids: Sequence[str]) -> None:
        if ids:
            await self.run("rm", "-f", *(["-t", "0"] if self.name == "podman" else []), *ids, check=False)

    async def container_running(self, ref: str) -> bool | None:
        """True if running, False if it exists but stopped, None if it does not exist."""
        result = await self.run("inspect", "--type", "container", "--format", "{{.State.Running}}", ref, check=False)
        if not result.ok:
            return None
        return result.stdout.strip().lower() == "true"

    # -- a sandbox's lifecycle: pause keeps memory and processes, commit keeps only the disk --
    async def container_state(self, ref: str) -> str | None:
        """``running``, ``paused``, ``exited``, … as the engine says, or None if the container does not exist."""
        result = await self.run("inspect", "--type", "container", "--format", "{{.State.Status}}", ref, check=False)
        return result.stdout.strip().lower() if result.ok else None

    async def pause(self, ref: str) -> None:
        await self.run("pause", ref)

    async def unpause(self, ref: str) -> None:
        await self.run("unpause", ref)

    async def restart(self, ref: str, *, grace: int) -> None:
        """Stop the container (SIGTERM, SIGKILL after ``grace`` seconds) and start it again on the same disk."""
        await self.run("restart", "-t", str(grace), ref)

    async def commit(self, ref: str, image: str) -> None:
        """Save the container's file system as ``image`` (memory is not saved)."""
        # docker's commit has no -q (it prints only the id anyway).
        quiet = ["-q"] if self.name == "podman" else []
        await self.run("commit", *quiet, ref, image, timeout=SLOW_TIMEOUT)

    async def image_size(self, image: str) -> int:
        result = await self.run("image", "inspect", "--format", "{{.Size}}", image, check=False)
        try:
            return int(result.stdout.strip())
        except ValueError:
            return 0

    async def remove_image(self, image: str) -> bool:
        """Remove ``image`` unless a container still uses it; whether it is gone."""
        result = await self.run("rmi", image, check=False)
        return result.ok or not await self.image_exists(image)


@contextlib.contextmanager
def env_file_args(envs: Mapping[str, str]) -> Iterator[list[str]]:
    """``["--env-file", path]`` for ``envs``, the file readable by this user only and removed afterwards.

    Values given as ``-e NAME=value`` would sit on the engine's command line,
    which every local user can read in ``ps``. An env file holds one line per
    variable, so a value with a line break cannot go there; such a variable
    is left out (the in-sandbox agent still adds it to every command).
    """
    lines = [f"{name}={value}\n" for name, value in envs.items() if "\n" not in value and "\r" not in value]
    if not lines:
        yield []
        return
    # mkdtemp makes a 0700 folder; the file inside is 0600 as well.
    folder = tempfile.mkdtemp(prefix="oc-env-")
    path = os.path.join(folder, "env")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        yield ["--env-file", path]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
