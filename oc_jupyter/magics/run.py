"""``%oc_run`` and ``%%oc_run``: shell commands and Python cells in a sandbox, streamed live."""

from __future__ import annotations

import asyncio
import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import bridge
from .args import parse_env, parse_names, split_command
from .errors import CommandFailed, CommandTimedOut
from .output import OutputWriter
from .remote_python import RemotePythonGone
from .state import MIN_MEMORY_MB, Limits, Target

__all__ = ["RunMagics"]


@magics_class
class RunMagics(Magics):
    """Run code in sandboxes."""

    def __init__(self, shell, state) -> None:
        super().__init__(shell)
        self.state = state
        self._cells = 0

    @line_cell_magic
    @magic_arguments()
    @argument("--image", metavar="NAME", help="Run in a sandbox made from the Image bound to NAME (see %%oc_image).")
    @argument("--snapshot", metavar="SNAP", help="Run in a sandbox made from the named snapshot.")
    @argument("--sandbox", metavar="ID", help="Run in the existing sandbox ID.")
    @argument("--shell", action="store_true", help="Run the cell as a bash script instead of Python.")
    @argument("--keep", action="store_true", help="Keep a sandbox this cell creates when the kernel shuts down.")
    @argument("--memory", type=int, metavar="MB", help="Memory limit of the sandbox this cell creates, in MB.")
    @argument("--cpus", type=int, metavar="N", help="CPU cores the sandbox this cell creates may use.")
    @argument(
        "--no-network", dest="network", action="store_false", help="Create the sandbox without any network access."
    )
    @argument(
        "--no-raise-error",
        dest="raise_error",
        action="store_false",
        help="Do not fail the cell when the command exits non-zero or the Python code raises.",
    )
    @argument("--timeout", type=float, metavar="SECONDS", help="Stop the command after this many seconds.")
    @argument("--env", action="append", metavar="K=V", default=[], help="Set an environment variable (repeatable).")
    @argument("--cwd", metavar="DIR", help="Working directory in the sandbox.")
    @argument("--push", metavar="a,b", help="Send these local variables into the sandbox's Python first (pickled).")
    @argument(
        "--pull",
        metavar="x,y",
        help="Bring these variables back from the sandbox's Python afterwards, "
        "in forms that cannot carry code (JSON values, bytes, numpy, pandas).",
    )
    @argument(
        "--pull-pickle",
        dest="pull_pickle",
        metavar="x,y",
        help="Bring these variables back pickled if they have no safe form; unpickling lets the sandbox "
        "run code in this kernel.",
    )
    def oc_run(self, line, cell=None):
        """Run a shell command, a shell script or Python code in a sandbox, streaming its output.

        Line form, a shell command::

            %oc_run pip list | grep pandas

        Cell form: Python by default, run by a persistent interpreter in the
        sandbox (names stay defined between cells, the last expression is
        displayed, matplotlib figures come back as images); ``--shell`` runs
        the cell with bash::

            %%oc_run --image env --push df --pull summary
            summary = df.describe()

        The sandbox is the one for ``--image``/``--snapshot``/``--sandbox``,
        else the current one (``%oc_sandbox use ID``), else one made from the
        base image; later cells with the same target reuse it. ``--memory``,
        ``--cpus`` and ``--no-network`` set the limits of the sandbox the cell
        creates (cells asking for other limits get their own). Stdout and
        stderr stream as they are produced; a non-zero exit or a Python
        exception fails the cell (so Run All stops) unless
        ``--no-raise-error``. The stop button stops the remote work and keeps
        the sandbox usable.

        ``--pull`` brings values back only in forms that cannot carry code
        (JSON values, bytes, numpy arrays, pandas DataFrames and Series, and
        containers of these); ``--pull-pickle`` (or ``%config
        OCJupyter.allow_pickle = True``) also accepts pickles, which lets the
        sandbox run code in this kernel. Output beyond
        ``OCJupyter.output_head`` characters is cut: the cell shows its start
        and its last ``OCJupyter.output_tail`` characters, and a note gives
        the private file that holds all of it.
        """
        parser = self.oc_run.parser  # type: ignore[union-attr]  # set by IPython's magic_arguments decorators
        tokens, command = split_command(line, parser)
        args = parser.parse_args(tokens)
        if cell is None and not command:
            raise UsageError(
                "%oc_run needs a command, e.g. %oc_run ls -la; use %%oc_run for a cell of Python or shell."
            )
        if cell is not None and command:
            raise UsageError(f"%%oc_run takes options only on its first line, not {command!r}; put code in the cell.")
        python = cell is not None and not args.shell
        if not python and (args.push or args.pull or args.pull_pickle):
            raise UsageError("--push, --pull and --pull-pickle work with Python cells only (%%oc_run without --shell).")
        env = parse_env(args.env)
        timeout = args.timeout if args.timeout is not None else (self.state.settings.command_timeout or None)
        if timeout is not None and timeout <= 0:
            timeout = None
        target = self._target(args)
        out = OutputWriter.from_settings(self.state.settings)
        try:
            for attempt in (1, 2):
                sandbox = self._sandbox(target, args.keep)
                try:
                    if python:
                        return self._python(sandbox, cell, args, env, timeout, out)
                    return self._shell(sandbox, command if cell is None else cell, args, env, timeout, out)
                except _SandboxGone as gone:
                    self.state.forget(sandbox.id)
                    if target.kind == "sandbox" or self.state.current is sandbox or attempt == 2:
                        raise UsageError(
                            f"Sandbox {sandbox.id} is gone ({gone}); %oc_sandboxes lists the running ones."
                        ) from None
                    out.note(f"Sandbox {sandbox.id} is gone; starting a new one for {target.label}.")
        finally:
            # Shows the end of an output that was cut, and where the whole of it is.
            out.close()
        return None

    # ---------------------------------------------------------------- targets

    def _target(self, args) -> Target:
        chosen = [o for o in ("image", "snapshot", "sandbox") if getattr(args, o)]
        if len(chosen) > 1:
            raise UsageError(f"Give one of --image, --snapshot, --sandbox, not {', '.join('--' + c for c in chosen)}.")
        if args.memory is not None and args.memory < MIN_MEMORY_MB:
            raise UsageError(
                f"--memory {args.memory} is too small; give at least {MIN_MEMORY_MB} (MB), e.g. --memory 512."
            )
        if args.cpus is not None and args.cpus < 1:
            raise UsageError(f"--cpus {args.cpus} is too small; give at least 1, e.g. --cpus 2.")
        limits = Limits(args.memory, args.cpus, args.network)
        target = self._plain_target(args, limits)
        return target.with_limits(limits)

    def _plain_target(self, args, limits: Limits) -> Target:
        if limits.custom and args.sandbox:
            raise UsageError(
                f"{limits.flags()} set up a new sandbox, but --sandbox {args.sandbox} names an existing "
                "one; drop them, or drop --sandbox to get a sandbox with these limits."
            )
        if limits.custom and self.state.current is not None and not (args.image or args.snapshot):
            raise UsageError(
                f"{limits.flags()} set up a new sandbox, but this cell runs in the current sandbox "
                f"{self.state.current.id}; drop them, or run %oc_sandbox use none first."
            )
        if args.image:
            from ..sdk import Image

            assert self.shell is not None  # Magics loaded by the extension always have one
            image = self.shell.user_ns.get(args.image)
            if not isinstance(image, Image):
                raise UsageError(
                    f"--image {args.image!r} names no Image in this notebook; define it with %%oc_image {args.image}."
                )
            return self.state.target_for_image(args.image, image)
        if args.snapshot:
            return Target("snapshot", args.snapshot, f"snapshot {args.snapshot}")
        if args.sandbox:
            return Target("sandbox", args.sandbox, f"sandbox {args.sandbox}")
        if self.state.current is not None:
            return Target("sandbox", self.state.current.id, f"sandbox {self.state.current.id}")
        base = self.state.settings.default_base
        return Target("base", base, "the base image" if base == "base" else f"base {base}")

    def _sandbox(self, target: Target, keep: bool):
        sandbox = self.state.sandbox_for(target, keep=keep)
        if keep:
            self.state.keep(sandbox.id)
        return sandbox

    # ---------------------------------------------------------------- shell

    def _shell(self, sandbox, script: str, args, env, timeout, out: OutputWriter):
        from ..sdk import errors

        runner = self.state.runner_for(sandbox, out)
        if runner is not None:
            try:
                code = runner.shell(script, out, env=env, cwd=args.cwd, timeout=timeout)
            except RemotePythonGone:
                self.state.repls.pop(sandbox.id, None)
                raise UsageError(f"The command runner in sandbox {sandbox.id} stopped; run the cell again.") from None
            except errors.SandboxNotFound as exc:
                raise _SandboxGone(str(exc)) from None
            if code != 0 and args.raise_error:
                raise CommandFailed(code, script, sandbox.id, self.state.oom_note(sandbox, code, "The command"))
            return None
        return self._shell_session(sandbox, script, args, env, timeout, out)

    def _shell_session(self, sandbox, script: str, args, env, timeout, out: OutputWriter):
        """Run through a new exec session: for images without python3."""
        from ..sdk import errors

        events = bridge.EventQueue()

        async def run():
            session = await sandbox.exec.start(
                "bash",
                args=["-c", script],
                env=env or None,
                cwd=args.cwd,
                on_stdout=events.text_callback("stdout"),
                on_stderr=events.text_callback("stderr"),
            )
            return await session.wait(timeout)

        def handle(event):
            out.write(event[0], event[1])

        try:
            code = bridge.run(run(), events, handle)
        except (asyncio.TimeoutError, TimeoutError):
            out.flush()
            raise CommandTimedOut(
                f"The command ran longer than {timeout:g}s in sandbox {sandbox.id} and was stopped."
            ) from None
        except errors.SandboxNotFound as exc:
            raise _SandboxGone(str(exc)) from None
        except errors.OCError as exc:
            out.flush()
            raise UsageError(f"Running in sandbox {sandbox.id} failed: {exc}") from None
        finally:
            out.flush()
        if code != 0 and args.raise_error:
            raise CommandFailed(code, script, sandbox.id, self.state.oom_note(sandbox, code, "The command"))

    # ---------------------------------------------------------------- python

    def _python(self, sandbox, code: str, args, env, timeout, out: OutputWriter):  # noqa: C901
        """Run ``code`` in the sandbox's Python, moving the ``--push`` and ``--pull`` names.

        The branches follow the options in order.
        """
        from ..sdk import errors

        push_names = parse_names(args.push, "--push")
        pull_names = parse_names(args.pull, "--pull")
        pickle_names = parse_names(args.pull_pickle, "--pull-pickle")
        pull_names += [name for name in pickle_names if name not in pull_names]
        if self.state.settings.allow_pickle:
            pickle_names = list(pull_names)
        assert self.shell is not None  # Magics loaded by the extension always have one
        push = {}
        for name in push_names:
            if name not in self.shell.user_ns:
                raise UsageError(f"--push {name!r}: no such variable in this notebook.")
            push[name] = self.shell.user_ns[name]
        prelude = ""
        if env or args.cwd:
            # Applied in the interpreter before the cell, and kept, as os.environ / os.chdir would be.
            prelude = "import os as _oc_os\n"
            if env:
                prelude += f"_oc_os.environ.update({env!r})\n"
            if args.cwd:
                prelude += f"_oc_os.chdir({args.cwd!r})\n"
            prelude += "del _oc_os\n"
        self._cells += 1
        try:
            repl = self.state.repl_for(sandbox, out)
            if prelude:
                setup = repl.execute(prelude, out, filename="<oc_run setup>")
                if setup.error is not None:
                    raise UsageError(f"--env/--cwd could not be applied: {setup.error}")
            outcome = repl.execute(
                code,
                out,
                push=push,
                pull=pull_names,
                pickle_names=set(pickle_names),
                timeout=timeout,
                filename=f"<oc_run cell {self._cells}>",
            )
        except RemotePythonGone as exc:
            self.state.repls.pop(sandbox.id, None)
            oom = self.state.oom_note(sandbox, None, "The Python interpreter")
            raise UsageError(f"{oom} Names defined in it are lost." if oom else str(exc)) from None
        except errors.SandboxNotFound as exc:
            raise _SandboxGone(str(exc)) from None
        if outcome.error is not None:
            if isinstance(outcome.error, UsageError) or args.raise_error:
                raise outcome.error
            sys.stderr.write("\n".join(outcome.error._render_traceback_()) + "\n")
            sys.stderr.flush()
        self.shell.user_ns.update(outcome.pulled)


class _SandboxGone(Exception):
    pass
