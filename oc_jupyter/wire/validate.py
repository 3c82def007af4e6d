"""The rules for text, paths and environment names that the SDK, the magics and the server all apply.

Each check answers with the *reason* a value is refused (a phrase such as
``"contains a NUL character"``) or ``None``, so that every layer keeps its own
one-sentence message (``"env: variable name '1X' is not valid; …"``) while the
rule itself lives in one place.
"""

from __future__ import annotations

import re

__all__ = [
    "ENV_NAME_PATTERN",
    "is_env_name",
    "text_problem",
    "absolute_path_problem",
    "relative_path_problem",
]

#: A POSIX shell variable name: letters, digits and ``_``, not starting with a digit.
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
_ENV_NAME = re.compile(ENV_NAME_PATTERN + r"\Z")


def is_env_name(name: str) -> bool:
    """Whether ``name`` can be exported by a shell (and so by ``/etc/profile.d``)."""
    return bool(_ENV_NAME.match(name))


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot cross ``exec(2)`` or a UTF-8 wire, or ``None``."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds an unpaired surrogate)"
    return None


def absolute_path_problem(path: str) -> str | None:
    """Why ``path`` is not a usable absolute sandbox path, or ``None``.

    Line breaks are refused because build steps write paths into shell scripts
    and ``/etc/profile.d`` lines.
    """
    problem = text_problem(path)
    if problem:
        return problem
    if not path.startswith("/"):
        return "is not absolute"
    if "\n" in path or "\r" in path:
        return "contains a line break"
    return None


def relative_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file inside an embedded folder, or ``None``."""
    problem = text_problem(path)
    if problem:
        return problem
    if not path:
        return "is empty"
    if path.startswith("/"):
        return "is absolute"
    if ".." in path.replace("\\", "/").split("/"):
        return "contains a '..' segment, which could escape the folder"
    return None
