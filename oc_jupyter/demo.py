"""``oc-jupyter demo``: run the quick-start notebook headless and show what it built.

The notebook runs in a real Jupyter kernel (nbclient), in its own folder, on
whichever backend the environment selects: the embedded local server unless
``OPENCOMPUTER_API_KEY`` is set. The quick start ships inside the package (an
installed wheel has no ``notebooks/`` folder); in a checkout without it, the
repository's ``notebooks/`` is used. Each cell's output is printed as it finishes;
the executed copy is saved under the state folder, never over the shipped
notebook, and the last lines say how to open the notebooks in JupyterLab.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from importlib import resources
from pathlib import Path

__all__ = ["add_parser", "main", "run"]

_REPO_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_QUICKSTART = "quickstart.ipynb"
_MAX_LINES = 12
_SUMMARY_TAG = "oc-jupyter-demo-summary"
# Run in the notebook's kernel after its last cell: the images it defined, by cache key.
_SUMMARY_CODE = """
from oc_jupyter import Image as _Image
_built = {}
for _name, _value in list(globals().items()):
    if isinstance(_value, _Image) and not _name.startswith("_"):
        _built.setdefault(_value.cache_key(), []).append(_name)
for _key, _names in _built.items():
    print(f"{' = '.join(_names)}: cache key {_key[:12]}")
"""


def _outputs(cell) -> list[str]:
    lines: list[str] = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            lines += out.text.splitlines()
        elif out.output_type in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:
                lines += data["text/plain"].splitlines()
            elif "image/png" in data:
                lines.append("<a figure>")
        elif out.output_type == "error":
            lines.append(f"{out.ename}: {out.evalue}")
    return [line.rstrip() for line in lines if line.strip()]


def _shorten(lines: list[str]) -> list[str]:
    """Long outputs (build logs, mostly) keep their step headers and their end."""
    if len(lines) <= _MAX_LINES:
        return lines
    steps = [line for line in lines[:-4] if "Step " in line][:8]
    hidden = len(lines) - len(steps) - 4
    return steps + [f"… {hidden} more lines …"] + lines[-4:]


def _print_cell(cell) -> None:
    if cell.cell_type != "code" or _SUMMARY_TAG in cell.metadata.get("tags", []):
        return
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    print(f"\n[{cell.get('execution_count') or ' '}] {first}", flush=True)
    for line in _shorten(_outputs(cell)):
        print(f"    {line}", flush=True)


def _lab_command(folder: Path) -> str:
    jupyter = Path(sys.executable).with_name("jupyter")
    exe = os.path.relpath(jupyter) if jupyter.exists() else "jupyter"
    if not exe.startswith(("/", ".")):
        exe = "./" + exe
    root = " --allow-root" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return f"{shlex.quote(exe)} lab{root} {shlex.quote(os.path.relpath(folder))}"


def shipped_quickstart() -> tuple[Path, bool] | None:
    """The quick start to run and whether it is the package's copy (read-only, outside any checkout)."""
    packaged = resources.files("oc_jupyter") / "notebooks" / _QUICKSTART
    if packaged.is_file():
        return Path(str(packaged)), True
    in_repo = _REPO_NOTEBOOKS / _QUICKSTART
    return (in_repo, False) if in_repo.is_file() else None


def run(notebook: Path | None = None, timeout: int = 1800) -> int:
    """Execute ``notebook`` (the shipped quick start by default); 0 when every cell ran."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import (
            CellControlSignal,
            CellExecutionError,
            CellTimeoutError,
            DeadKernelError,
        )
    except ImportError as exc:
        print(
            f"The demo needs nbclient and nbformat ({exc}); install them with `pip install nbclient nbformat`.",
            file=sys.stderr,
        )
        return 1

    packaged = False
    if notebook is None:
        found = shipped_quickstart()
        if found is None:
            print(
                "The quick-start notebook is not installed with this package (oc_jupyter/notebooks/) nor in a "
                "checkout's notebooks/; reinstall oc_jupyter or pass --notebook PATH.",
                file=sys.stderr,
            )
            return 1
        path, packaged = found[0].resolve(), found[1]
    else:
        path = notebook.resolve()
    if not path.is_file():
        print(f"Notebook {str(path)!r} not found; pass --notebook PATH to an existing .ipynb file.", file=sys.stderr)
        return 1

    from .sdk import Config

    config = Config.resolve()
    where = "the local backend" if config.backend == "local" else "OpenComputer"
    shown = path.name if packaged else os.path.relpath(path)
    print(f"Running {shown} on {where} at {config.api_url}", flush=True)

    nb = nbformat.read(path, as_version=4)
    summary = nbformat.v4.new_code_cell(_SUMMARY_CODE, metadata={"tags": [_SUMMARY_TAG]})
    nb.cells.append(summary)
    from .local.daemon import home_dir

    out_dir = home_dir() / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / path.name
    # The package's copy lives among installed files: the kernel works beside the executed copy instead.
    work_dir = out_dir if packaged else path.parent
    env = dict(os.environ)
    env["JPY_SESSION_NAME"] = str(saved if packaged else path)  # how Jupyter tells a kernel which notebook it serves
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(work_dir)}},
        on_cell_executed=lambda cell, **_: _print_cell(cell),
    )
    kernel_log = out_dir / "kernel.log"
    started = time.monotonic()
    failed = None
    try:
        # The kernel's own warnings go to a log file, not between the cell outputs.
        with kernel_log.open("w") as log:
            client.execute(env=env, stderr=log)
    except (CellExecutionError, CellTimeoutError, DeadKernelError, CellControlSignal) as exc:
        failed = exc
    finally:
        nb.cells.remove(summary)
        nbformat.write(nb, saved)

    elapsed = time.monotonic() - started
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    print()
    if failed is not None:
        reason = str(failed).strip().splitlines()[0] if str(failed).strip() else type(failed).__name__
        print(
            f"The notebook stopped after {elapsed:.0f} s ({reason}); the executed copy is {saved} "
            f"and the kernel's log {kernel_log}.",
            file=sys.stderr,
        )
        return 1
    built = _outputs(summary)
    if built:
        print("Images the notebook defined (built, or found in the cache):")
        for line in built:
            print(f"    {line}")
        print()
    print(f"All {code_cells} code cells ran in {elapsed:.0f} s. Executed copy: {saved}")
    print("\nOpen the notebooks in JupyterLab:")
    print(f"    {_lab_command(work_dir)}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``demo`` on the ``oc-jupyter`` command line."""
    parser = subparsers.add_parser("demo", help="run the quick-start notebook headless and show what it built")
    parser.add_argument("--notebook", type=Path, default=None, help="another notebook to run instead")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a single cell may take (default 1800)")
    parser.set_defaults(run=lambda args: run(args.notebook, args.timeout))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="oc-jupyter")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
