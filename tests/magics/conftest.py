"""Notebooks executed by a real kernel (nbclient) against the session's local server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


class Executed:
    """An executed notebook and helpers to read its outputs."""

    def __init__(self, nb, error: CellExecutionError | None) -> None:
        self.nb = nb
        self.error = error

    def cell(self, i):
        return self.nb.cells[i]

    def outputs(self, i):
        return self.nb.cells[i].get("outputs", [])

    def text(self, i, name=None) -> str:
        """Stream text of cell ``i`` (``name``: 'stdout'/'stderr'), plus text/plain of displays."""
        parts = []
        for out in self.outputs(i):
            if out["output_type"] == "stream" and (name is None or out["name"] == name):
                parts.append(out["text"])
            elif name is None and out["output_type"] in ("display_data", "execute_result"):
                parts.append(out["data"].get("text/plain", ""))
        return "".join(parts)

    def html(self, i) -> str:
        return "".join(out.get("data", {}).get("text/html", "") for out in self.outputs(i))

    def errors(self, i):
        """Error outputs of cell ``i``; IPython prints a ``UsageError`` as one stderr line instead."""
        found = [out for out in self.outputs(i) if out["output_type"] == "error"]
        for out in self.outputs(i):
            if out["output_type"] == "stream" and out["name"] == "stderr":
                for line in out["text"].splitlines():
                    if line.startswith("UsageError: "):
                        found.append({"ename": "UsageError", "evalue": line[len("UsageError: ") :], "traceback": []})
        return found


@pytest.fixture(scope="session")
def kernel_env(local_server):
    env = dict(local_server.env)
    env["OC_JUPYTER_HOME"] = str(local_server.home)
    env.pop("OPENCOMPUTER_API_KEY", None)
    env.pop("OPENCOMPUTER_API_URL", None)
    env.pop("OC_JUPYTER_WIDGETS", None)
    return env


@pytest.fixture
def notebook(kernel_env, tmp_path, local_server):
    """``notebook(cells, folder=None, allow_errors=False, actions=None)`` → :class:`Executed`.

    ``actions`` maps a cell index to ``async fn(client)`` run while that cell
    executes (for example an interrupt).
    """

    def run(
        cells, folder: Path | None = None, allow_errors: bool = False, actions=None, env_extra=None, timeout: int = 900
    ) -> Executed:
        folder = folder or tmp_path
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
        env = dict(kernel_env)
        env["JPY_SESSION_NAME"] = str(folder / "test.ipynb")
        env.update(env_extra or {})
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=timeout,
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(folder)}},
            store_widget_state=True,
        )
        error = asyncio.run(_execute(client, nb, env, actions or {}))
        text = json.dumps(nb)
        assert local_server.key not in text, "the API key leaked into the notebook"
        return Executed(nb, error)

    return run


async def _execute(client: NotebookClient, nb, env, actions):
    error = None
    async with client.async_setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            action = actions.get(index)
            task = asyncio.ensure_future(action(client)) if action else None
            try:
                await client.async_execute_cell(cell, index)
            except CellExecutionError as exc:
                error = exc
                break
            finally:
                if task is not None:
                    await task
    return error


async def interrupt_after_output(client: NotebookClient, index: int, marker: str, limit: float = 120.0):
    """Interrupt the kernel once cell ``index`` shows ``marker`` in its output."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        cell = client.nb.cells[index]
        if any(marker in out.get("text", "") for out in cell.get("outputs", [])):
            await asyncio.sleep(0.3)
            await client.km.interrupt_kernel()
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"cell {index} never printed {marker!r}")


@pytest.fixture
def interrupt_when():
    return lambda index, marker: lambda client: interrupt_after_output(client, index, marker)
