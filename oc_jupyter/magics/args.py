"""Argument helpers shared by the magics.

``%oc_run`` takes options followed by a raw shell command. IPython's
``parse_argstring`` would shell-split the command and lose its pipes, quotes
and redirections, so :func:`split_command` reads only the leading options and
hands the rest of the line to the shell untouched.
"""

from __future__ import annotations

import re

from IPython.core.error import UsageError

from oc_jupyter.wire.validate import is_env_name

__all__ = ["parse_env", "parse_names", "split_command"]

_TOKEN = re.compile(r"""\s*((?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+)""", re.DOTALL)


def split_command(line: str, parser) -> tuple[list[str], str]:
    """Split ``line`` into leading option tokens (for ``parser``) and the raw command after them."""
    import shlex

    takes_value = {}
    for action in parser._actions:
        for flag in action.option_strings:
            takes_value[flag] = action.nargs != 0
    options: list[str] = []
    pos = 0
    expect_value = False
    while True:
        match = _TOKEN.match(line, pos)
        if not match:
            return options, ""
        raw = match.group(1)
        try:
            token = shlex.split(raw)[0] if raw else raw
        except (ValueError, IndexError):
            token = raw
        if expect_value:
            options.append(token)
            expect_value = False
        elif token == "--":
            return options, line[match.end() :].strip()
        elif token.startswith("-") and token != "-":
            flag = token.split("=", 1)[0]
            if flag not in takes_value:
                raise UsageError(
                    f"Unknown option {flag!r} for %oc_run; put the command after '--' "
                    "if it starts with a dash (see %oc_run?)."
                )
            options.append(token)
            expect_value = takes_value[flag] and "=" not in token
        else:
            return options, line[match.start(1) :].strip()
        pos = match.end()


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """``["K=V", ...]`` from repeated ``--env`` options as a dict."""
    env = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not is_env_name(key):
            raise UsageError(f"--env expects KEY=VALUE with a valid variable name, got {pair!r}.")
        env[key] = value
    return env


def parse_names(value: str | None, option: str) -> list[str]:
    """``"a,b"`` from ``--push``/``--pull`` as Python names."""
    if not value:
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        if not is_env_name(name):
            raise UsageError(f"{option} expects comma-separated Python names, got {name!r}.")
    return names
