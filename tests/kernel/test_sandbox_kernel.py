"""A whole notebook in a sandbox: the OpenComputer kernel, started by Jupyter's own machinery.

Real parts throughout: jupyter_client's KernelManager loads our provisioner
from its entry point, the tunnel makes a sandbox on the session's local
server (real podman), ipykernel runs inside it, and nbclient or a blocking
client talks to it over the five channels with the kernel's signing key.
"""

from __future__ import annotations

import base64
import subprocess
import time

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from .conftest import sandboxes


def wait_until(predicate, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def kernel(kernel_name, kernel_log):
    km = KernelManager(kernel_name=kernel_name)
    log = kernel_log.open("w")  # open for the fixture's life: a restart launches with the same stderr
    km.start_kernel(stderr=log)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=600)
    yield km, kc
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=False)
    log.close()


def run(kc, code: str, timeout: float = 120, **kwargs) -> tuple[dict, list[dict]]:
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=outputs.append, **kwargs)
    return reply["content"], outputs


def texts(outputs: list[dict]) -> str:
    parts = []
    for msg in outputs:
        content = msg["content"]
        parts.append(content.get("text", "") + content.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_a_notebook_runs_in_the_sandbox_with_rich_output(kernel_name, local_server, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import socket, os\nprint(socket.gethostname(), os.getcwd())"),
        nbformat.v4.new_code_cell("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})"),
        nbformat.v4.new_code_cell(
            "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()"
        ),
        nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.IntSlider(value=7)"),
    ]
    before = sandboxes(local_server)
    client = NotebookClient(nb, timeout=600, kernel_name=kernel_name, startup_timeout=600)
    client.execute()
    hostname, cwd = nb.cells[0].outputs[0]["text"].split()
    assert hostname.startswith("sb-") and hostname not in before
    assert cwd == "/workspace"
    frame = nb.cells[1].outputs[0]["data"]
    assert "<table" in frame["text/html"] and "<td>x</td>" in frame["text/html"]
    png = next(o for o in nb.cells[2].outputs if "image/png" in o.get("data", {}))["data"]["image/png"]
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    slider = nb.cells[3].outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in slider
    assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"], "the comm opened no widget"
    # The kernel shut down with the notebook, and its sandbox went with it.
    wait_until(lambda: hostname not in sandboxes(local_server))


def test_input_is_answered_through_the_stdin_channel(kernel):
    km, kc = kernel

    def answer(msg):
        kc.input("Ada")

    content, outputs = run(kc, "name = input('Your name? ')\nprint('hello', name)", allow_stdin=True, stdin_hook=answer)
    assert content["status"] == "ok"
    assert "hello Ada" in texts(outputs)


def test_an_interrupt_stops_the_cell_and_the_kernel_goes_on(kernel):
    km, kc = kernel
    msg_id = kc.execute("import time\ntime.sleep(60)\nprint('not interrupted')")
    wait_until(lambda: _status_seen(kc, msg_id, "busy"))
    km.interrupt_kernel()
    reply = _reply_to(kc, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    content, outputs = run(kc, "print('after', 6 * 7)")
    assert content["status"] == "ok" and "after 42" in texts(outputs)


def _reply_to(kc, msg_id: str) -> dict:
    """The shell reply to ``msg_id``, skipping replies to earlier requests."""
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def _status_seen(kc, msg_id: str, state: str) -> bool:
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except Exception:
            return False
        if msg["parent_header"].get("msg_id") == msg_id and msg["content"].get("execution_state") == state:
            return True


def test_completion_knows_names_defined_in_the_sandbox(kernel):
    km, kc = kernel
    run(kc, "sandbox_answer_value = 42")
    reply = _reply_to(kc, kc.complete("sandbox_answer_v", 16))
    assert "sandbox_answer_value" in reply["content"]["matches"]


def test_a_restart_gives_a_fresh_interpreter(kernel, local_server):
    km, kc = kernel
    run(kc, "remembered = 1")
    content, outputs = run(kc, "import socket; print(socket.gethostname())")
    first = texts(outputs).strip()
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=600)
    content, outputs = run(kc, "remembered")
    assert content["status"] == "error" and content["ename"] == "NameError"
    content, outputs = run(kc, "import socket; print(socket.gethostname())")
    second = texts(outputs).strip()
    assert second != first, "a restart runs the new interpreter in a new sandbox"
    wait_until(lambda: first not in sandboxes(local_server))


def test_shutdown_removes_the_sandbox(kernel_name, local_server):
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=600)
    content, outputs = run(kc, "import socket; print(socket.gethostname())")
    sandbox_id = texts(outputs).strip()
    assert sandbox_id in sandboxes(local_server)
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    wait_until(lambda: sandbox_id not in sandboxes(local_server))


def test_a_sandbox_that_dies_is_a_dead_kernel_with_the_reason(kernel, kernel_log, local_server):
    km, kc = kernel
    content, outputs = run(kc, "import socket; print(socket.gethostname())")
    sandbox_id = texts(outputs).strip()
    engine = local_server.env.get("OC_JUPYTER_ENGINE") or "podman"
    subprocess.run([engine, "rm", "-f", "-t", "0", f"oc-jupyter-{sandbox_id}"], capture_output=True, check=True)
    wait_until(lambda: not km.is_alive(), timeout=60)
    log = kernel_log.read_text()
    assert f"The kernel's sandbox {sandbox_id} stopped answering" in log, log
