"""One script, run through OpenComputer's own SDK and through ours against the local server: the same results.

The script only ever touches ``sdk.Sandbox``, so the two runs differ in the
import alone, which is the promise made to users moving code between them.
"""

from __future__ import annotations

import asyncio
from types import ModuleType

import opencomputer
import pytest

import oc_jupyter.sdk


async def _wait_for(event: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), 60)
    except asyncio.TimeoutError:
        raise AssertionError(f"never saw {what}") from None


async def script(sdk: ModuleType, api_key: str, api_url: str) -> list[tuple]:
    """What a user would write; returns what it observed, in order."""
    seen: list[tuple] = []
    sandbox = await sdk.Sandbox.create(api_key=api_key, api_url=api_url)
    try:
        seen.append(("running", await sandbox.is_running(), sandbox.id == sandbox.sandbox_id))

        result = await sandbox.exec.run("echo out; echo err >&2; exit 3")
        seen.append(("run", result.exit_code, result.stdout, result.stderr))
        result = await sandbox.commands.run("echo $GREETING from $(pwd)", env={"GREETING": "héllo"}, cwd="/tmp")
        seen.append(("run env cwd", result.exit_code, result.stdout))

        await sandbox.files.make_dir("/tmp/same/sub")
        await sandbox.files.write("/tmp/same/text.txt", "héllo\n")
        await sandbox.files.write("/tmp/same/blob.bin", bytes(range(256)))
        seen.append(("read", await sandbox.files.read("/tmp/same/text.txt")))
        seen.append(("read_bytes", await sandbox.files.read_bytes("/tmp/same/blob.bin") == bytes(range(256))))
        entries = await sandbox.files.list("/tmp/same")
        seen.append(("list", sorted((e.name, e.is_dir, e.path, e.size if not e.is_dir else 0) for e in entries)))
        seen.append(
            (
                "exists",
                await sandbox.files.exists("/tmp/same/text.txt"),
                await sandbox.files.exists("/tmp/same/nothing"),
            )
        )
        await sandbox.files.remove("/tmp/same/text.txt")
        seen.append(("removed", await sandbox.files.exists("/tmp/same/text.txt")))

        out: list[bytes] = []
        err: list[bytes] = []
        exits: list[int] = []
        session = await sandbox.exec.start(
            "sh",
            args=["-c", "echo one; echo two >&2; exit 5"],
            on_stdout=out.append,
            on_stderr=err.append,
            on_exit=exits.append,
        )
        seen.append(("start", await session.done, b"".join(out), b"".join(err), exits))

        early = asyncio.Event()
        first = await sandbox.exec.background(
            "sh",
            args=["-c", "echo early; read reply; echo late $reply; exit 4"],
            on_stdout=lambda chunk: early.set() if b"early" in chunk else None,
        )
        await _wait_for(early, "the background command's first line")
        await first.close()  # detach; the command goes on
        replayed: list[bytes] = []
        live: list[bytes] = []
        at_end = asyncio.Event()

        def sort(chunk: bytes) -> None:
            (live if at_end.is_set() else replayed).append(chunk)

        again = await sandbox.exec.attach(first.session_id, on_stdout=sort, on_scrollback_end=at_end.set)
        await _wait_for(at_end, "the end of the scrollback")
        listed = [s for s in await sandbox.exec.list() if s.session_id == first.session_id]
        seen.append(("listed", [(s.command, s.args, s.running) for s in listed]))
        await again.send_stdin("now\n")
        seen.append(("attach", await again.done, b"".join(replayed), b"".join(live)))

        shell = await sandbox.exec.shell()
        await shell.run("cd /usr && export KEPT=yes")
        result = await shell.run("pwd; echo $KEPT; echo warn >&2; false")
        seen.append(("shell", result.exit_code, result.stdout, result.stderr))
        await shell.close()

        sleeper = await sandbox.exec.start("sleep", args=["300"])
        await sandbox.exec.kill(sleeper.session_id)
        seen.append(("killed", await sleeper.done))
    finally:
        await sandbox.kill()
        seen.append(("after kill", await sandbox.is_running()))
        await sandbox.close()
    return seen


@pytest.fixture
def upstream_env(monkeypatch):
    # OpenComputer's SDK reads nothing else; keep a developer's real cloud settings out of the run.
    monkeypatch.delenv("OPENCOMPUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENCOMPUTER_API_URL", raising=False)


async def test_the_same_script_gives_the_same_results_through_both_sdks(local_server, upstream_env):
    theirs = await script(opencomputer, local_server.key, local_server.url)
    ours = await script(oc_jupyter.sdk, local_server.key, local_server.url)
    assert ours == theirs
    # And the results are the expected ones, not merely equal.
    facts = {entry[0]: entry[1:] for entry in ours}
    assert facts["run"] == (3, "out\n", "err\n")
    assert facts["read"] == ("héllo\n",)
    assert facts["list"] == (
        [
            ("blob.bin", False, "/tmp/same/blob.bin", 256),
            ("sub", True, "/tmp/same/sub", 0),
            ("text.txt", False, "/tmp/same/text.txt", 7),
        ],
    )
    assert facts["start"] == (5, b"one\n", b"two\n", [5])
    assert facts["attach"] == (4, b"early\n", b"late now\n")
    assert facts["shell"] == (1, "/usr\nyes\n", "warn\n")
    assert facts["killed"][0] != 0
    assert facts["after kill"] == (False,)
