"""The API key appears nowhere a user or a log reader could see it.

Checked places: reprs and strs of every SDK object, error messages with
their whole exception chains (tracebacks included, where a library error
could carry a URL with ``?api_key=``), the CLI's status output, a notebook
executed by a real kernel with the magics and widgets and then saved (outputs
and widget state both), the kernel's environment, and the server's log after
all of it.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import traceback

import nbformat
import pytest
from nbclient import NotebookClient
from ownserver import CLI, remove_layers

from oc_jupyter.sdk import Config, Image, Sandbox, Snapshots, errors
from oc_jupyter.sdk.exec import ExecSession
from oc_jupyter.sdk.models import BuildLog


def _everything(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + str(exc)


async def test_sdk_reprs_never_show_the_key(sdk_config, local_server):
    key = local_server.key
    sandbox = await Sandbox.create(config=sdk_config, timeout=0)
    try:
        result = await sandbox.commands.run("echo hi")
        session = await sandbox.exec.start("true")
        await session.wait()
        snaps = Snapshots(config=sdk_config)
        objects = [
            sdk_config,
            sandbox,
            await sandbox.info(),
            result,
            session,
            snaps,
            Snapshots(),
            await Sandbox.list(config=sdk_config),
            await snaps.list(),
            sandbox.exec,
            sandbox.files,
            BuildLog({"step": 1, "type": "run", "message": "Step 1/1: run x"}),
            Image.base().run_commands("x"),
        ]
        for obj in objects:
            for text in (repr(obj), str(obj), getattr(obj, "_repr_html_", lambda: "")() or ""):
                assert key not in text, f"the key is in {type(obj).__name__}'s repr"
    finally:
        await sandbox.kill()


async def test_error_messages_and_their_chains_never_show_the_key(sdk_config, local_server, nonce):
    key = local_server.key
    wrong = Config(local_server.url, "wrong-" + secrets.token_hex(16), "local")
    gone = Config("http://127.0.0.1:9", key, "local")  # nothing listens on the discard port
    image = Image.base().run_commands(f"echo {nonce}; echo failing >&2; exit 3")
    failures = {
        "wrong key": lambda: Snapshots(config=wrong).list(),
        "unknown sandbox": lambda: Sandbox.connect("sb-0000000000000000", config=sdk_config),
        "unknown snapshot": lambda: Snapshots(config=sdk_config).get("no-such-snapshot"),
        "run in an unknown sandbox": lambda: Sandbox("sb-0000000000000000", sdk_config).commands.run("true"),
        "server unreachable": lambda: Sandbox.list(config=gone),
        "websocket attach refused": lambda: ExecSession(Sandbox("sb-0000000000000000", sdk_config), "x")._attach(),
        "build failed": lambda: Sandbox.create(image=image, config=sdk_config, timeout=0),
        "bad request": lambda: Sandbox.create(config=sdk_config, timeout=-1),
    }
    for name, call in failures.items():
        with pytest.raises(errors.OCError) as caught:
            await asyncio.wait_for(call(), 120)
        text = _everything(caught.value)
        assert key not in text, f"{name}: the key is in the error or its chain"
        assert wrong.api_key not in text, f"{name}: the (wrong) key is in the error or its chain"
    remove_layers(image)


def test_cli_status_shows_everything_but_the_key(local_server):
    done = subprocess.run([CLI, "server", "status"], env=local_server.env, capture_output=True, text=True)
    assert done.returncode == 0
    assert local_server.url in done.stdout
    assert local_server.key not in done.stdout + done.stderr


NOTEBOOK_CELLS = [
    "%load_ext oc_jupyter",
    "%%oc_image leak_img_{nonce} --build\nrun echo leak-check-{nonce}\nenv LEAK_CHECK=1",
    "%oc_run --image leak_img_{nonce} echo ran-{nonce}",
    "%%oc_run --image leak_img_{nonce}\nx = 41\nx + 1",
    "%oc_run --image leak_img_{nonce} --no-raise-error exit 3",
    "%oc_run --image leak_img_{nonce} exit 4",
    "%oc_snapshots",
    "%oc_sandboxes",
    "%oc_sandbox info sb-0000000000000000",
    "from oc_jupyter.sdk import Config, Sandbox, Snapshots, sync\nconfig = Config.resolve()\nconfig",
    "Snapshots()",
    "sync.run(Sandbox.list())",
    "import json, os\n"
    "_k = json.load(open(os.path.join(os.environ['OC_JUPYTER_HOME'], 'server.json')))['key']\n"
    "print('key-in-kernel-env', any(_k in v for v in os.environ.values()))\n"
    "del _k",
]


def test_an_executed_saved_notebook_and_its_widget_state_never_hold_the_key(local_server, tmp_path, nonce):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell.format(nonce=nonce)) for cell in NOTEBOOK_CELLS]
    path = tmp_path / "leak-check.ipynb"
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
        store_widget_state=True,
    )
    with _env(local_server.env):
        client.execute()
    nbformat.write(nb, path)
    saved = path.read_text()
    assert f"ran-{nonce}" in saved, "the notebook did not run its commands"
    assert "key-in-kernel-env False" in saved
    assert local_server.key not in saved
    errors_shown = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors_shown, "the failing cells should have shown errors"
    _kill_sandboxes_made_by(local_server, nonce)


def test_the_server_log_never_holds_the_key(local_server):
    # Runs after the tests above have sent WebSocket URLs with ?api_key=, failed auth, and errors.
    log = (local_server.home / "server.log").read_text(errors="replace")
    assert "api_key=***" in log or "/exec/" in log
    assert local_server.key not in log
    sqlite = (local_server.home / "state.sqlite").read_bytes()
    assert local_server.key.encode() not in sqlite


class _env:
    """Run a block with os.environ set to a server's environment (the kernel inherits it)."""

    def __init__(self, env: dict) -> None:
        self.env = env

    def __enter__(self):
        import os

        self.saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)

    def __exit__(self, *exc) -> None:
        import os

        os.environ.clear()
        os.environ.update(self.saved)


def _kill_sandboxes_made_by(local_server, nonce: str) -> None:
    import httpx

    from oc_jupyter.magics.recipe import build_image

    image = build_image(NOTEBOOK_CELLS[1].format(nonce=nonce).split("\n", 1)[1])
    with httpx.Client(
        base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}, trust_env=False, timeout=60
    ) as api:
        for info in api.get("/sandboxes").json():
            if info.get("contentHash") == image.cache_key():
                api.delete(f"/sandboxes/{info['sandboxID']}")
    remove_layers(image)


@pytest.fixture
def nonce() -> str:
    return secrets.token_hex(6)
