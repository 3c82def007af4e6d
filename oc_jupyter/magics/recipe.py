"""The ``%%oc_image`` recipe language: parse a cell body into an :class:`Image`.

One line is one step, mapped one-to-one to the :class:`~oc_jupyter.sdk.Image`
builder::

    apt curl jq                          # apt_install
    pip requests "pandas>=2"             # pip_install (shell-style quoting)
    run mkdir -p /workspace/data         # run_commands, one step per line
    env PROJECT_ROOT=/workspace DEBUG=1  # env
    workdir /workspace                   # workdir
    copy data/config.json /workspace/    # add_local_file (add_local_dir for a folder)
    file /workspace/hello.txt <<EOF      # add_file, body taken verbatim
    hello
    EOF

Keywords are case-insensitive; Dockerfile spellings (``RUN``, ``ENV``,
``WORKDIR``, ``COPY``) are accepted. ``#`` starts a comment, a trailing ``\\``
continues a line, and ``{name}`` is replaced from the user namespace as IPython
does for line magics (``{{`` and ``}}`` give literal braces; a ``{...}`` whose
name is not defined is left as written, so shell's ``${HOME}`` survives).

This module imports nothing from IPython so it can be tested and reused on its
own; every mistake raises :class:`RecipeError`, a ``ValueError`` that knows the
line it is about.
"""

from __future__ import annotations

import os
import re
import shlex
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oc_jupyter.wire.validate import is_env_name

__all__ = ["KEYWORDS", "Instruction", "RecipeError", "build_image", "parse_recipe", "recipe_to_image"]

#: Canonical keyword -> what it maps to, in the order they are listed to users.
KEYWORDS = {
    "apt": "apt_install",
    "pip": "pip_install",
    "run": "run_commands",
    "env": "env",
    "workdir": "workdir",
    "copy": "add_local_file / add_local_dir",
    "file": "add_file",
}
# Dockerfile's ADD behaves like COPY for local files.
_ALIASES = {"add": "copy"}

_FIELD = re.compile(r"(?P<root>[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_]\w*|\[[^\]{}]*\])*(?:![rsa])?(?::[^{}]*)?\Z")
_HEREDOC = re.compile(r"<<-?\s*(?P<q>['\"]?)(?P<tag>[A-Za-z_][A-Za-z0-9_]*)(?P=q)\s*(?:#.*)?\Z")


class RecipeError(ValueError):
    """A recipe line that cannot become an image step.

    ``lineno`` is 1-based within the cell body and ``line`` is the offending
    text, so the magic can show exactly where to look.
    """

    def __init__(self, lineno: int, line: str, problem: str, hint: str = "") -> None:
        self.lineno = lineno
        self.line = line
        self.problem = problem
        message = f"Line {lineno}: {problem} in {_quote(line)}"
        super().__init__(message + (f"; {hint}." if hint else "."))


@dataclass(frozen=True)
class Instruction:
    """One parsed recipe step: the canonical keyword and its arguments."""

    lineno: int
    keyword: str
    args: tuple
    text: str


def _quote(line: str) -> str:
    line = line.strip()
    if len(line) > 120:
        line = line[:117] + "..."
    return '"' + line.replace('"', '\\"') + '"'


def _valid_keywords() -> str:
    return ", ".join(KEYWORDS)


# --------------------------------------------------------------------------- lines


def _logical_lines(text: str):
    """Yield ``(lineno, line, heredoc_body)`` for each non-blank, non-comment step.

    Heredoc bodies are collected raw (no comments, continuations or
    interpolation) because they are file contents, not recipe syntax.
    """
    raw = text.splitlines()
    i = 0
    while i < len(raw):
        start = i
        line = raw[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        # A backslash at the end continues the line, as in a shell or Dockerfile;
        # comment lines inside a continuation are dropped, as Docker does.
        while _continues(line) and i < len(raw):
            nxt = raw[i]
            i += 1
            if nxt.lstrip().startswith("#"):
                line = line[:-1] + " \\"
                continue
            line = line[:-1] + nxt
        if _continues(line):
            raise RecipeError(start + 1, line, "the last line ends with a '\\' continuation")
        body = None
        match = _heredoc_of(line)
        if match is not None:
            tag = match.group("tag")
            lines = []
            while i < len(raw) and raw[i].strip() != tag:
                lines.append(raw[i])
                i += 1
            if i >= len(raw):
                raise RecipeError(
                    start + 1, line, f"the heredoc {tag!r} is never closed", f"end the content with a line {tag!r}"
                )
            i += 1
            body = "".join(part + "\n" for part in lines)
            line = line[: match.start()].rstrip()
        yield start + 1, line, body


def _continues(line: str) -> bool:
    stripped = line.rstrip()
    trailing = len(stripped) - len(stripped.rstrip("\\"))
    return trailing % 2 == 1 and stripped == line


def _heredoc_of(line: str):
    head = line.lstrip().split(None, 1)
    if not head or head[0].lower() != "file":
        return None
    return _HEREDOC.search(line)


# --------------------------------------------------------------------------- interpolation


class _Formatter(string.Formatter):
    def __init__(self, namespace: Mapping[str, Any]):
        self.namespace = namespace

    def get_value(self, key, args, kwargs):
        return self.namespace[key]


def interpolate(text: str, namespace: Mapping[str, Any] | None, *, lineno: int = 0, line: str = "") -> str:
    """Replace ``{expr}`` fields whose root name is in ``namespace``.

    Unknown names stay literal (like IPython leaves a line alone when it
    cannot expand it) so shell syntax such as ``${HOME}`` passes through.
    """
    namespace = namespace or {}
    out = []
    i = 0
    n = len(text)
    fmt = _Formatter(namespace)
    while i < n:
        ch = text[i]
        if ch in "{}" and i + 1 < n and text[i + 1] == ch:
            out.append(ch)
            i += 2
            continue
        if ch == "{":
            end = text.find("}", i + 1)
            field = text[i + 1 : end] if end != -1 else ""
            match = _FIELD.match(field) if end != -1 else None
            if match and match.group("root") in namespace:
                try:
                    out.append(fmt.vformat("{" + field + "}", (), {}))
                except Exception as exc:  # user objects may raise anything from __format__
                    raise RecipeError(
                        lineno, line or text, f"{{{field}}} could not be filled in ({type(exc).__name__}: {exc})"
                    ) from None
                i = end + 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- parsing


def _split(lineno: int, line: str, rest: str) -> list[str]:
    try:
        return shlex.split(rest, comments=True)
    except ValueError as exc:
        raise RecipeError(lineno, line, f"the quoting is unbalanced ({exc})") from None


def parse_recipe(text: str, namespace: Mapping[str, Any] | None = None) -> list[Instruction]:
    """Parse a recipe into instructions without touching the filesystem or network."""
    if not isinstance(text, str):
        raise TypeError(f"A recipe is text, not {type(text).__name__}.")
    instructions = []
    for lineno, raw_line, body in _logical_lines(text):
        line = interpolate(raw_line, namespace, lineno=lineno, line=raw_line)
        head, _, rest = line.strip().partition(" ")
        if "\t" in head:
            head, _, more = head.partition("\t")
            rest = more + " " + rest
        keyword = head.lower()
        keyword = _ALIASES.get(keyword, keyword)
        if keyword not in KEYWORDS:
            raise RecipeError(lineno, raw_line, f"unknown keyword {head!r}", f"valid keywords are {_valid_keywords()}")
        parser = _PARSERS[keyword]
        args = parser(lineno, raw_line, rest.strip(), body)
        instructions.append(Instruction(lineno, keyword, tuple(args), raw_line.strip()))
    return instructions


def _packages(name):
    def parse(lineno, line, rest, body):
        packages = _split(lineno, line, rest)
        if not packages:
            raise RecipeError(lineno, line, f"'{name}' needs at least one package", f"for example: {name} requests")
        return packages

    return parse


def _run(lineno, line, rest, body):
    # The shell gets the command verbatim: it already knows quoting and '#'.
    if not rest or rest.startswith("#"):
        raise RecipeError(lineno, line, "'run' needs a shell command", "for example: run mkdir -p /workspace/data")
    return [rest]


def _env(lineno, line, rest, body):
    tokens = _split(lineno, line, rest)
    if len(tokens) == 2 and "=" not in tokens[0]:
        tokens = [f"{tokens[0]}={tokens[1]}"]  # Dockerfile's legacy `ENV KEY value`
    if not tokens:
        raise RecipeError(lineno, line, "'env' needs KEY=VALUE pairs", "for example: env DEBUG=1")
    pairs = {}
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq or not is_env_name(key):
            raise RecipeError(lineno, line, f"{token!r} is not a KEY=VALUE pair with a valid variable name")
        pairs[key] = value
    return [pairs]


def _workdir(lineno, line, rest, body):
    tokens = _split(lineno, line, rest)
    if len(tokens) != 1:
        raise RecipeError(lineno, line, "'workdir' takes exactly one absolute path", "for example: workdir /workspace")
    return tokens


def _copy(lineno, line, rest, body):
    tokens = _split(lineno, line, rest)
    if len(tokens) != 2:
        raise RecipeError(
            lineno,
            line,
            "'copy' takes a local source and a sandbox destination",
            "for example: copy data/ /workspace/data",
        )
    return tokens


def _file(lineno, line, rest, body):
    if body is None:
        raise RecipeError(lineno, line, "'file' needs a path and a heredoc", "for example: file /workspace/a.txt <<EOF")
    tokens = _split(lineno, line, rest)
    if len(tokens) != 1:
        raise RecipeError(lineno, line, "'file' takes exactly one sandbox path before the heredoc")
    return [tokens[0], body]


_PARSERS: dict[str, Callable] = {
    "apt": _packages("apt"),
    "pip": _packages("pip"),
    "run": _run,
    "env": _env,
    "workdir": _workdir,
    "copy": _copy,
    "file": _file,
}


# --------------------------------------------------------------------------- image


def recipe_to_image(instructions, image, *, base_dir: str | os.PathLike | None = None):
    """Apply parsed instructions to ``image`` (an :class:`Image`), returning the new image.

    ``base_dir`` is the folder relative ``copy`` sources are read from; ``None``
    lets the SDK choose (the notebook's folder in a kernel).
    """
    from ..sdk import errors as sdk_errors

    workdir = None
    for ins in instructions:
        try:
            if ins.keyword == "apt":
                image = image.apt_install(list(ins.args))
            elif ins.keyword == "pip":
                image = image.pip_install(list(ins.args))
            elif ins.keyword == "run":
                image = image.run_commands(*ins.args)
            elif ins.keyword == "env":
                image = image.env(dict(ins.args[0]))
            elif ins.keyword == "workdir":
                image = image.workdir(ins.args[0])
                workdir = ins.args[0]
            elif ins.keyword == "file":
                image = image.add_file(ins.args[0], ins.args[1])
            elif ins.keyword == "copy":
                image = _copy_step(image, ins, workdir, base_dir)
        except RecipeError:
            raise
        except (ValueError, TypeError, OSError, UnicodeError, sdk_errors.OCError) as exc:
            raise RecipeError(ins.lineno, ins.text, _sentence(exc)) from None
    return image


def _copy_step(image, ins: Instruction, workdir: str | None, base_dir):
    src, dst = ins.args
    if not dst.startswith("/"):
        if workdir is None:
            raise RecipeError(
                ins.lineno,
                ins.text,
                f"the destination {dst!r} is relative and no workdir was set before it",
                "use an absolute path",
            )
        dst = workdir.rstrip("/") + "/" + dst
    as_dir = src.endswith("/") or _is_dir(src, base_dir)
    if as_dir:
        return image.add_local_dir(src.rstrip("/") or "/", dst.rstrip("/") or "/", base_dir=base_dir)
    if dst.endswith("/"):
        dst = dst + Path(src).name  # Dockerfile: a folder destination keeps the file's name
    return image.add_local_file(src, dst, base_dir=base_dir)


def _is_dir(src: str, base_dir) -> bool:
    """Whether ``src`` names a folder, resolved exactly as the SDK will resolve it."""
    from ..sdk.localfiles import base_folder

    path = Path(os.path.expanduser(src))
    if not path.is_absolute():
        path = base_folder(base_dir)[0] / path
    return path.is_dir()


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # The line number is added around it: a lower-case start reads as one sentence.
    text = text.rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    return text


def build_image(text: str, namespace: Mapping[str, Any] | None = None, *, image=None, base_dir=None):
    """Parse ``text`` and return the :class:`Image` it describes, starting from ``image`` or ``Image.base()``."""
    instructions = parse_recipe(text, namespace)
    if image is None:
        from ..sdk import Image

        image = Image.base()
    return recipe_to_image(instructions, image, base_dir=base_dir)
