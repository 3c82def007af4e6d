"""Executes the shipped notebooks once per test session in a real kernel.

Each notebook runs end to end with nbclient, in the virtual environment's
Python kernel, against the session's local server, with the notebook's own
folder as the kernel's working directory (as Jupyter runs it). The executed
copy is saved under tests/artifacts/notebooks/ (ignored by git) for a person
to open after the run; the tests read its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def listed_sandboxes(local_server) -> set[str]:
    response = httpx.get(f"{local_server.url}/api/sandboxes", headers={"X-API-Key": local_server.key}, timeout=30)
    response.raise_for_status()
    # A killed sandbox leaves the list, so whatever is listed still exists.
    return {s["sandboxID"] for s in response.json()}


@dataclass
class Executed:
    nb: nbformat.NotebookNode
    path: Path  # the saved, executed copy
    left_running: set  # sandboxes the run started that still run after its kernel shut down

    def cells(self):
        return [c for c in self.nb.cells if c.cell_type == "code"]

    def cell(self, needle: str):
        """The first code cell whose source contains ``needle``."""
        for c in self.cells():
            if needle in c.source:
                return c
        raise AssertionError(f"no code cell contains {needle!r}")

    @staticmethod
    def text(cell) -> str:
        """Everything a cell showed as text: streams, results, errors."""
        parts = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.output_type == "error":
                parts.append("\n".join(out.traceback))
        return "\n".join(parts)

    def all_text(self) -> str:
        return "\n".join(self.text(c) for c in self.cells())


def execute(name: str, local_server, out_dir: Path) -> Executed:
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    env = dict(local_server.env)
    # Jupyter tells a kernel which notebook it serves this way; the SDK reads it
    # to resolve `copy` sources against the notebook's folder.
    env["JPY_SESSION_NAME"] = str(path)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        allow_errors=False,
    )
    saved = out_dir / name
    before = listed_sandboxes(local_server)
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, saved)
    return Executed(nb, saved, listed_sandboxes(local_server) - before)


@pytest.fixture(scope="session")
def notebook_dir() -> Path:
    folder = NOTEBOOKS.parent / "tests" / "artifacts" / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def quickstart(local_server, notebook_dir) -> Executed:
    return execute("quickstart.ipynb", local_server, notebook_dir)


@pytest.fixture(scope="session")
def data_science(local_server, notebook_dir) -> Executed:
    return execute("data-science.ipynb", local_server, notebook_dir)


@pytest.fixture(scope="session")
def teaching(local_server, notebook_dir) -> Executed:
    return execute("teaching.ipynb", local_server, notebook_dir)
