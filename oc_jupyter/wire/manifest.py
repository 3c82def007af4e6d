"""The image manifest the server accepts: its schema, its validation, and its cache keys.

The models double as the OpenAPI description of request bodies. Validation
follows the OpenComputer API: known step types only, absolute NUL-free paths,
``relativePath`` relative with no ``..`` segment, ``encoding`` only
``base64``, and content that really is base64.

Hashes are computed from what the client sent (unset optional fields stay
absent, extra fields stay present), because the content hash is defined on
the received JSON, not on a normalised copy.
"""

from __future__ import annotations

import binascii
import re
import sys
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from .describe import describe_step as _describe
from .gojson import content_hash
from .validate import ENV_NAME_PATTERN, absolute_path_problem, is_env_name, relative_path_problem, text_problem

__all__ = ["Manifest", "Step", "STEP_TYPES", "decode_base64", "describe_step"]

STEP_TYPES = ("apt_install", "pip_install", "run", "env", "workdir", "add_file", "add_dir")
_PREVIEW = 60
# Longer descriptions would wrap ``Step i/N:`` log lines in a notebook.
_DESCRIPTION_LIMIT = 120

# How each refusal reason of :mod:`.validate` ends its sentence.
_FIX = {
    "contains a NUL character": "remove it",
    "contains a line break": "remove it",
    "is not valid Unicode (it holds an unpaired surrogate)": "send UTF-8 text",
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _refuse(what: str, value: str, problem: str, fix: str | None = None) -> ValueError:
    return ValueError(f"{what}{_short(value)} {problem}; {fix or _FIX.get(problem, 'fix it')}")


def _absolute_path(value: str) -> str:
    problem = absolute_path_problem(value)
    if problem == "is not absolute":
        raise _refuse("path ", value, problem, f"start it with '/' (for example '/workspace/{value}')")
    if problem:
        raise _refuse("" if "Unicode" in problem else "path ", value, problem)
    return value


def _file_path(value: str) -> str:
    _absolute_path(value)
    if value.endswith("/"):
        raise ValueError(
            f"path {_short(value)} names a folder; give the file's full path, such as '/workspace/notes.txt'"
        )
    return value


def _relative_path(value: str) -> str:
    problem = relative_path_problem(value)
    if problem == "is empty":
        raise ValueError("relativePath is empty; give the file's path inside the folder, such as 'src/app.py'")
    if problem == "is absolute":
        raise _refuse("relativePath ", value, problem, "make it relative to the folder, such as 'src/app.py'")
    if problem and problem.startswith("contains a '..'"):
        raise _refuse("relativePath ", value, problem, "remove it")
    if problem:
        raise _refuse("" if "Unicode" in problem else "relativePath ", value, problem)
    return value


def _strict_b64decode(data: bytes) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(data, strict_mode=True)
    # Python 3.10 has no strict mode: refuse what it would refuse (characters
    # outside the alphabet, bad padding), then decode.
    if len(data) % 4 or not re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", data):
        raise binascii.Error("not strict base64")
    return binascii.a2b_base64(data)


def decode_base64(value: str) -> bytes:
    """The bytes of a base64 field; raises ``ValueError`` with a one-sentence reason."""
    try:
        return _strict_b64decode(value.encode("ascii")) if value else b""
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError(
            f"content {_short(value)} is not valid base64 ({exc}); encode the file's bytes with base64"
        ) from None


def _base64(value: str) -> str:
    decode_base64(value)
    return value


def _no_nul(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise _refuse("", value, problem)
    return value


# What `\s` means in the schema's patterns (ECMA-262 regular expressions). Python's str.strip()
# also strips \x1c-\x1f and \x85 and keeps \ufeff, so a blank check with it would refuse
# names the published schema calls valid.
_SCHEMA_SPACE = frozenset("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | frozenset(
    map(chr, range(0x2000, 0x200B))
)


def _package(value: str) -> str:
    _no_nul(value)
    if all(ch in _SCHEMA_SPACE for ch in value):
        raise ValueError("a package name is empty; remove it or give a name such as 'curl'")
    return value


def _env_vars(value: dict[str, str]) -> dict[str, str]:
    for name, val in value.items():
        if not is_env_name(name):
            raise ValueError(
                f"environment variable name {_short(name)} is invalid; use letters, digits and '_', not starting with a digit"
            )
        _no_nul(val)
    return value


# The patterns only describe, in the OpenAPI schema, what the validators enforce
# (the validators give the one-sentence messages).
AbsolutePath = Annotated[
    StrictStr, AfterValidator(_absolute_path), Field(json_schema_extra={"pattern": r"^/[^\x00\n\r]*$"})
]
FilePath = Annotated[
    StrictStr, AfterValidator(_file_path), Field(json_schema_extra={"pattern": r"^/[^\x00\n\r]*[^/\x00\n\r]$"})
]
RelativePath = Annotated[
    StrictStr,
    AfterValidator(_relative_path),
    Field(json_schema_extra={"pattern": r"^(?!/)(?!(?:.*[/\\])?\.\.(?:[/\\]|$))[^\x00]+$"}),
]
Base64Text = Annotated[
    StrictStr,
    AfterValidator(_base64),
    Field(json_schema_extra={"pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}),
]
Package = Annotated[StrictStr, AfterValidator(_package), Field(json_schema_extra={"pattern": r"^[^\x00]*\S[^\x00]*$"})]
Command = Annotated[StrictStr, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": r"^[^\x00]*$"})]
EnvVars = Annotated[
    dict[StrictStr, Command],
    AfterValidator(_env_vars),
    Field(json_schema_extra={"propertyNames": {"pattern": f"^{ENV_NAME_PATTERN}$"}}),
]

_ARGS = ConfigDict(extra="allow", strict=True)


class PackagesArgs(BaseModel):
    model_config = _ARGS
    packages: list[Package] = Field(min_length=1, description="Package names, at least one.")


class RunArgs(BaseModel):
    model_config = _ARGS
    commands: list[Command] = Field(min_length=1, description="Shell commands, joined with `&&`.")


class EnvArgs(BaseModel):
    model_config = _ARGS
    vars: EnvVars = Field(description="Variables set in the image config, /etc/environment and /etc/profile.d.")


class WorkdirArgs(BaseModel):
    model_config = _ARGS
    path: AbsolutePath = Field(description="Absolute folder, created, and the default working directory.")


class AddFileArgs(BaseModel):
    model_config = _ARGS
    path: FilePath = Field(description="Absolute path of the file to write.")
    content: Base64Text = Field(description="The file's bytes, base64-encoded.")
    encoding: Literal["base64"] | None = Field(default=None, description="Only `base64` is accepted.")


class DirFile(BaseModel):
    model_config = _ARGS
    relativePath: RelativePath = Field(description="Path inside the folder; no `..` segment.")
    content: Base64Text = Field(description="The file's bytes, base64-encoded.")


class AddDirArgs(BaseModel):
    model_config = _ARGS
    path: AbsolutePath = Field(description="Absolute folder the files are written under.")
    files: list[DirFile] = Field(description="Files to write, relative to `path`.")


class _Step(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    def wire_args(self) -> dict[str, Any]:
        return self.args.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]

    def describe(self) -> str:
        """A short human description of the step, used in ``Step i/N: …`` log lines."""
        return _describe(self.type, self.wire_args(), limit=_DESCRIPTION_LIMIT)  # type: ignore[attr-defined]


class AptInstallStep(_Step):
    type: Literal["apt_install"]
    args: PackagesArgs


class PipInstallStep(_Step):
    type: Literal["pip_install"]
    args: PackagesArgs


class RunStep(_Step):
    type: Literal["run"]
    args: RunArgs


class EnvStep(_Step):
    type: Literal["env"]
    args: EnvArgs


class WorkdirStep(_Step):
    type: Literal["workdir"]
    args: WorkdirArgs


class AddFileStep(_Step):
    type: Literal["add_file"]
    args: AddFileArgs


class AddDirStep(_Step):
    type: Literal["add_dir"]
    args: AddDirArgs


Step = Annotated[
    AptInstallStep | PipInstallStep | RunStep | EnvStep | WorkdirStep | AddFileStep | AddDirStep,
    Field(discriminator="type"),
]


class Manifest(BaseModel):
    """A declarative image: a base and the steps applied on it, in order."""

    model_config = ConfigDict(extra="allow", strict=True)

    base: Literal["base"] = Field(default="base", description="The base image; the local backend provides `base`.")
    steps: list[Step] = Field(default_factory=list)
    builderMemoryMB: int | None = Field(default=None, description="Build memory; not part of the content hash.")

    def wire_steps(self) -> list[tuple[str, dict[str, Any]]]:
        return [(step.type, step.wire_args()) for step in self.steps]

    def content_hash(self) -> str:
        """The cache key of the whole manifest (the ``contentHash`` clients compute too)."""
        return content_hash(self.base, self.wire_steps())

    def layer_hashes(self) -> list[str]:
        """The cache key after each step: ``[hash of steps[:1], …, hash of steps[:N]]``."""
        wire = self.wire_steps()
        return [content_hash(self.base, wire[: i + 1]) for i in range(len(wire))]

    def wire(self) -> dict[str, Any]:
        """The manifest as JSON, as it is stored with a snapshot."""
        return self.model_dump(mode="json", exclude_unset=True)


def describe_step(step: _Step) -> str:
    """A short human description of a step (kept for callers of the old name)."""
    return step.describe()
