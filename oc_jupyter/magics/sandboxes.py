"""``%oc_sandboxes`` and ``%oc_sandbox use|kill|info|hibernate|wake|terminal``: the running sandboxes."""

from __future__ import annotations

import time

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from ..widgets import render

__all__ = ["TERMINAL_MIME", "SandboxDetails", "SandboxList", "SandboxMagics", "TerminalRequest", "limits_text"]

#: Rendered by the JupyterLab extension, which opens (or offers) a terminal tab into the sandbox.
TERMINAL_MIME = "application/vnd.oc-jupyter.terminal+json"
#: A saved notebook reopened later only offers the terminal; a fresh request opens it.
_FRESH_SECONDS = 60


def limits_text(info) -> str:
    """``512 MB · 1 CPU · no network``: the limits a sandbox runs under, as far as the backend tells them."""
    memory, cpus, network = info.get("memoryMB"), info.get("cpuCount"), info.get("networkEnabled")
    parts = [
        f"{memory} MB" if memory is not None else "",
        f"{cpus} CPU{'s' if cpus != 1 else ''}" if cpus is not None else "",
        "no network" if network is False else "",
    ]
    return " · ".join(p for p in parts if p)


class SandboxList:
    """The running sandboxes, marking those this notebook uses."""

    def __init__(self, infos, marks: dict[str, str]) -> None:
        self.infos, self.marks = infos, marks

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        headers = [*render.SANDBOX_HEADERS[:4], "limits", *render.SANDBOX_HEADERS[4:]]
        rows = []
        for info in self.infos:
            row = render.sandbox_row(info, self.marks)
            rows.append([*row[:4], limits_text(info), *row[4:]])
        return headers, rows

    def _repr_html_(self) -> str:
        if not self.infos:
            return render.sandboxes_html(self.infos, self.marks)
        return f'<div style="{render._BOX}">{render.table(*self._rows())}</div>'

    def __repr__(self) -> str:
        if not self.infos:
            return render.sandboxes_text(self.infos, self.marks)
        return render._text_table(*self._rows())


class SandboxDetails:
    """One sandbox for ``%oc_sandbox info``: what it runs, and the limits and disk use it has."""

    def __init__(self, info) -> None:
        self.info = info

    def _rows(self) -> list[list[str]]:
        info = self.info
        row = render.sandbox_row(info)
        network = info.get("networkEnabled")
        disk = info.get("diskUsedMB")
        fields = [
            ("id", row[0]),
            ("status", row[1]),
            ("from", row[2]),
            ("created", row[3]),
            ("memory", f"{info.get('memoryMB')} MB" if info.get("memoryMB") is not None else ""),
            ("cpus", str(info.get("cpuCount")) if info.get("cpuCount") is not None else ""),
            ("network", "" if network is None else ("on" if network else "off")),
            ("disk used", f"{disk} MB" if disk is not None else ""),
        ]
        return [[name, value] for name, value in fields if value]

    def _repr_html_(self) -> str:
        return f'<div style="{render._BOX}">{render.table(["field", "value"], self._rows())}</div>'

    def __repr__(self) -> str:
        return "\n".join(f"{name + ':':<11}{value}" for name, value in self._rows())


class TerminalRequest:
    """Asks JupyterLab to open a terminal tab; elsewhere its text says where to find one."""

    def __init__(self, sandbox_id: str) -> None:
        self.sandbox_id = sandbox_id
        self.requested = time.time()

    def __repr__(self) -> str:
        return (
            f"A terminal into sandbox {self.sandbox_id} opens in JupyterLab: run this cell there, or use the "
            f"Open terminal button on the sandbox's row in JupyterLab's OpenComputer panel."
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {
            TERMINAL_MIME: {"sandbox": self.sandbox_id, "requested": self.requested, "freshFor": _FRESH_SECONDS},
            "text/plain": repr(self),
        }


@magics_class
class SandboxMagics(Magics):
    """List sandboxes, choose the current one, kill or inspect one."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state
        self._actions = {
            "use": self._use,
            "kill": self._kill,
            "info": self._info,
            "hibernate": self._hibernate,
            "wake": self._wake,
            "terminal": self._terminal,
        }

    @line_magic
    def oc_sandboxes(self, line):
        """List the backend's sandboxes; the notebook column marks the current one and those this kernel made."""
        if line.strip():
            raise UsageError(f"%oc_sandboxes takes no arguments, got {line.strip()!r}.")
        from ..sdk import Sandbox, errors, sync

        try:
            infos = sync.run(Sandbox.list(config=self.state.config))
        except errors.OCError as exc:
            raise UsageError(f"Could not list sandboxes: {exc}") from None
        marks = {sid: "made here" for sid in self.state.implicit}
        for sandbox in self.state.sandboxes.values():
            marks.setdefault(sandbox.id, "used here")
        if self.state.current is not None:
            marks[self.state.current.id] = "current"
        display(SandboxList(infos, marks))

    @line_magic
    @magic_arguments()
    @argument("action", choices=["use", "kill", "info", "hibernate", "wake", "terminal"], help="What to do.")
    @argument(
        "id", nargs="?", help="Sandbox id (for use: 'none' stops using one; terminal: the current one if left out)."
    )
    def oc_sandbox(self, line):
        """Use, kill, inspect, hibernate or wake one sandbox.

        ::

            %oc_sandbox use ID     # %oc_run/%%oc_run without a target run there (use none: back to the default)
            %oc_sandbox info ID    # status, what it runs, memory/CPU limits, network, disk used
            %oc_sandbox kill ID    # stop it and remove it
            %oc_sandbox hibernate ID  # pause it with its memory (no CPU); the next cell using it wakes it
            %oc_sandbox wake ID    # resume a hibernated sandbox now
            %oc_sandbox terminal [ID]  # open a terminal tab into it in JupyterLab (the current sandbox if no ID)
        """
        args = parse_argstring(self.oc_sandbox, line)
        if args.id is None and args.action != "terminal":
            raise UsageError(
                f"%oc_sandbox {args.action} needs a sandbox id; %oc_sandboxes lists them, "
                f"for example %oc_sandbox {args.action} ID."
            )
        return self._actions[args.action](args.id)

    def _terminal(self, sandbox_id: str | None):
        from ..sdk import errors, sync

        if sandbox_id is None:
            if self.state.current is None:
                raise UsageError(
                    "No current sandbox to open a terminal into; give its id, for example "
                    "%oc_sandbox terminal ID (%oc_sandboxes lists them)."
                )
            sandbox_id = self.state.current.id
        sandbox = self.state.connect(sandbox_id)
        try:
            sync.run(sandbox.info())
        except errors.NotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox_id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not reach sandbox {sandbox_id!r}: {exc}") from None
        display(TerminalRequest(sandbox.id))

    def _use(self, sandbox_id: str):
        if sandbox_id.lower() == "none":
            self.state.current = None
            print("%oc_run without a target uses a sandbox made from the base image again.")
            return
        sandbox = self.state.connect(sandbox_id)
        self.state.current = sandbox
        print(f"Using sandbox {sandbox.id} for %oc_run and %%oc_run without a target.")
        return

    def _kill(self, sandbox_id: str):
        from ..sdk import errors, sync

        sandbox = self.state.connect(sandbox_id)
        try:
            sync.run(sandbox.kill())
        except errors.NotFound:
            pass
        except errors.OCError as exc:
            raise UsageError(f"Could not kill sandbox {sandbox_id!r}: {exc}") from None
        self.state.forget(sandbox.id)
        print(f"Killed sandbox {sandbox.id}.")

    def _info(self, sandbox_id: str):
        from ..sdk import errors

        sandbox = self.state.connect(sandbox_id)
        try:
            info = self.state.usage_info(sandbox)
        except errors.NotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox_id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not read sandbox {sandbox_id!r}: {exc}") from None
        display(SandboxDetails(info))

    def _hibernate(self, sandbox_id: str):
        from ..sdk import errors, sync

        sandbox = self.state.connect(sandbox_id)
        try:
            sync.run(sandbox.hibernate())
        except errors.NotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox_id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not hibernate sandbox {sandbox_id!r}: {exc}") from None
        self.state.hibernated.add(sandbox.id)
        print(
            f"Hibernated sandbox {sandbox.id}; the next cell that uses it (or %oc_sandbox wake {sandbox.id}) wakes it."
        )

    def _wake(self, sandbox_id: str):
        from ..sdk import errors, sync

        sandbox = self.state.connect(sandbox_id)
        try:
            if sync.run(sandbox.info()).status != "hibernated":
                self.state.hibernated.discard(sandbox.id)
                print(f"Sandbox {sandbox.id} is not hibernated ({sandbox.status}); nothing to wake.")
                return
            started = time.perf_counter()
            sync.run(sandbox.wake())
        except errors.NotFound:
            self.state.forget(sandbox.id)
            raise UsageError(f"Sandbox {sandbox_id!r} is gone; %oc_sandboxes lists the running ones.") from None
        except errors.OCError as exc:
            raise UsageError(f"Could not wake sandbox {sandbox_id!r}: {exc}") from None
        self.state.hibernated.discard(sandbox.id)
        print(f"woke sandbox {sandbox.id} in {(time.perf_counter() - started) * 1000:.0f} ms")
