"""Kernel faults: the stop button during a build and during ``%%oc_run``, and a kernel restart.

A real IPython kernel (jupyter_client) runs the magics against the session's
local server; the test interrupts it exactly as the notebook's stop button
does (``interrupt_kernel``) and then looks inside the sandbox's container with
the engine's own ``exec`` to see which processes are left.
"""

from __future__ import annotations

import asyncio
import queue
import time

import pytest
from jupyter_client.manager import KernelManager
from ownserver import LAYER_REPOSITORY, container_of, containers_with, image_exists, processes_in, record_figures

from oc_jupyter.sdk import Image, Sandbox, Snapshots

FIGURES: dict[str, float] = {}


class Kernel:
    """A started kernel and its client; ``run`` executes a cell and returns its outputs and reply."""

    def __init__(self, env: dict[str, str]) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def submit(self, code: str) -> str:
        return self.kc.execute(code)

    def collect(self, msg_id: str, timeout: float = 300, until=None) -> tuple[list[dict], dict | None]:
        """Outputs of ``msg_id`` until its reply (or until ``until(outputs)`` holds); the reply or None."""
        outputs: list[dict] = []
        deadline = time.monotonic() + timeout
        reply = None
        idle = False
        while time.monotonic() < deadline and not (reply is not None and idle):
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                msg = None
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                kind = msg["msg_type"]
                if kind in ("stream", "error", "execute_result", "display_data", "update_display_data"):
                    outputs.append({"type": kind, **msg["content"]})
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            if until is not None and until(outputs):
                return outputs, None
            if reply is None:
                try:
                    shell = self.kc.get_shell_msg(timeout=0.01)
                    if shell["parent_header"].get("msg_id") == msg_id:
                        reply = shell["content"]
                except queue.Empty:
                    pass
        if reply is None:
            raise AssertionError(f"no reply within {timeout}s; outputs so far: {outputs}")
        return outputs, reply

    def run(self, code: str, timeout: float = 300) -> tuple[str, dict]:
        outputs, reply = self.collect(self.submit(code), timeout)
        return text_of(outputs), reply

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def text_of(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out["type"] == "stream":
            parts.append(out["text"])
        elif out["type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
        else:
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.fixture
def kernel(local_server):
    kernels = []

    def start() -> Kernel:
        k = Kernel(dict(local_server.env))
        kernels.append(k)
        return k

    yield start
    for k in kernels:
        k.close()


def _gone_within(ctr: str, marker: str, limit: float) -> float:
    """Seconds until no process in ``ctr`` mentions ``marker`` (polled; fails after ``limit`` as a hang guard)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if not any(marker in p for p in processes_in(ctr)):
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} still runs in {ctr[:12]} {limit}s after the interrupt: {processes_in(ctr)}")


@pytest.mark.parametrize("form", ["shell", "python"])
async def test_interrupt_during_oc_run_stops_the_remote_process_and_keeps_the_sandbox(kernel, sdk_config, form, nonce):
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        ctr = await asyncio.to_thread(container_of, sandbox.id)
        k = await asyncio.to_thread(kernel)
        text, reply = await asyncio.to_thread(k.run, "%load_ext oc_jupyter")
        assert reply["status"] == "ok", text
        seconds = 300 + int(nonce[:4], 16) % 300
        if form == "shell":
            cell = f"%%oc_run --sandbox {sandbox.id} --shell\necho started-{nonce}\nsleep {seconds}\necho never-{nonce}"
            marker = f"sleep {seconds}"
        else:
            cell = (
                f"%%oc_run --sandbox {sandbox.id}\nimport subprocess, time\nprint('started-{nonce}', flush=True)\n"
                f"subprocess.run(['sleep', '{seconds}'])\nprint('never-{nonce}')"
            )
            marker = f"sleep {seconds}"
        msg_id = k.submit(cell)
        await asyncio.to_thread(k.collect, msg_id, 120, lambda outs: f"started-{nonce}" in text_of(outs))
        assert any(marker in p for p in await asyncio.to_thread(processes_in, ctr))

        interrupted = time.monotonic()
        k.km.interrupt_kernel()
        outputs, reply = await asyncio.to_thread(k.collect, msg_id, 60)
        gone = await asyncio.to_thread(_gone_within, ctr, marker, 10)
        FIGURES[f"oc_run_{form}_interrupt_to_remote_gone_s"] = round(time.monotonic() - interrupted, 3)
        FIGURES[f"oc_run_{form}_remote_gone_after_reply_s"] = round(gone, 3)
        assert reply["status"] == "error", text_of(outputs)
        assert f"never-{nonce}" not in text_of(outputs)

        # The sandbox (and, for Python cells, the remote interpreter) is still usable.
        text, reply = await asyncio.to_thread(k.run, f"%oc_run --sandbox {sandbox.id} echo usable-{nonce}", 120)
        assert reply["status"] == "ok" and f"usable-{nonce}" in text, text
        if form == "python":
            text, reply = await asyncio.to_thread(
                k.run, f"%%oc_run --sandbox {sandbox.id}\nprint('python-usable-{nonce}')", 120
            )
            assert reply["status"] == "ok" and f"python-usable-{nonce}" in text, text
        result = await sandbox.commands.run("echo ok")
        assert result.stdout == "ok\n"
    finally:
        await sandbox.kill()
        record_figures("reliability-interrupt", FIGURES)


async def test_interrupt_during_a_build_stops_the_cell_and_the_build_still_completes(kernel, unique_images, nonce):
    command = f"echo begin-{nonce}; sleep 4; echo end-{nonce}"
    image = unique_images(Image.base().run_commands(command))
    k = await asyncio.to_thread(kernel)
    text, reply = await asyncio.to_thread(k.run, "%load_ext oc_jupyter")
    assert reply["status"] == "ok", text
    msg_id = k.submit(f"%%oc_image img_{nonce} --build\nrun {command}")

    def build_running() -> bool:
        return bool(containers_with(f"oc-jupyter.build={image.cache_key()}", all_=False))

    deadline = time.monotonic() + 120
    while not await asyncio.to_thread(build_running):
        assert time.monotonic() < deadline, "the build never started"
        await asyncio.sleep(0.1)
    k.km.interrupt_kernel()
    outputs, reply = await asyncio.to_thread(k.collect, msg_id, 60)
    assert reply["status"] == "error", text_of(outputs)
    assert "KeyboardInterrupt" in text_of(outputs) or reply.get("ename") == "KeyboardInterrupt", text_of(outputs)

    text, reply = await asyncio.to_thread(k.run, "print(40 + 2)")
    assert reply["status"] == "ok" and "42" in text
    # Builds are shared server-side work: a client leaving does not waste them.
    layer = f"{LAYER_REPOSITORY}:{image.cache_key()}"
    deadline = time.monotonic() + 120
    while not await asyncio.to_thread(image_exists, layer):
        assert time.monotonic() < deadline, "the interrupted build never completed"
        await asyncio.sleep(0.5)
    # The step's container goes right after its commit.
    while await asyncio.to_thread(containers_with, f"oc-jupyter.build={image.cache_key()}"):
        assert time.monotonic() < deadline, "the finished build left its container behind"
        await asyncio.sleep(0.2)


async def test_kernel_restart_keeps_sandboxes_and_snapshots_and_reconnects_by_id(
    kernel, sdk_config, unique_images, nonce
):
    snaps = Snapshots(config=sdk_config)
    name = f"rel-restart-{nonce}"
    await snaps.create(name, unique_images(Image.base().add_file("/rel/marker", nonce)))
    k = await asyncio.to_thread(kernel)
    made, reply = await asyncio.to_thread(
        k.run,
        (
            "from oc_jupyter.sdk import Sandbox, sync\n"
            f"sb = sync.run(Sandbox.create(snapshot={name!r}, timeout=0))\n"
            f"sync.run(sb.commands.run('echo before-{nonce} > /tmp/state'))\n"
            "print(sb.id)"
        ),
        180,
    )
    assert reply["status"] == "ok", made
    sandbox_id = made.strip().splitlines()[-1]
    try:
        await asyncio.to_thread(k.km.restart_kernel, now=True)
        k.kc.wait_for_ready(timeout=60)
        text, reply = await asyncio.to_thread(
            k.run,
            (
                "from oc_jupyter.sdk import Sandbox, Snapshots, sync\n"
                "print(sorted(s.sandbox_id for s in sync.run(Sandbox.list())))\n"
                "print(sorted(s.name for s in sync.run(Snapshots().list())))\n"
                f"sb = sync.run(Sandbox.connect({sandbox_id!r}))\n"
                "print(sync.run(sb.commands.run('cat /tmp/state /rel/marker')).stdout)"
            ),
            120,
        )
        assert reply["status"] == "ok", text
        assert sandbox_id in text
        assert name in text
        assert f"before-{nonce}" in text and nonce in text
        text, reply = await asyncio.to_thread(
            k.run, f"%load_ext oc_jupyter\n%oc_run --sandbox {sandbox_id} cat /tmp/state", 120
        )
        assert reply["status"] == "ok" and f"before-{nonce}" in text, text
    finally:
        await Sandbox(sandbox_id, sdk_config).kill()
        await snaps.delete(name)
