"""The image manifest the server accepts: its schema, its validation, and its cache keys.

The models double as the OpenAPI description of request bodies. Validation
follows the contract: known step types only, absolute NUL-free paths,
``relativePath`` relative with no ``..`` segment, ``encoding`` only
``base64``, and content that really is base64.

Hashes are computed from what the client sent (unset optional fields stay
absent, extra fields stay present), because the content hash is defined on
the received JSON, not on a normalised copy.
"""

from __future__ import annotations

import binascii
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from oc_jupyter.sdk.hashing import content_hash

__all__ = ["Manifest", "Step", "STEP_TYPES", "decode_base64", "describe_step"]

STEP_TYPES = ("apt_install", "pip_install", "run", "env", "workdir", "add_file", "add_dir")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PREVIEW = 60


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{_short(value)} is not valid Unicode (it holds an unpaired surrogate); send UTF-8 text") from None
    return value


def _absolute_path(value: str) -> str:
    _unicode(value)
    if "\x00" in value:
        raise ValueError(f"path {_short(value)} contains a NUL character; remove it")
    if not value.startswith("/"):
        raise ValueError(f"path {_short(value)} is not absolute; start it with '/' (for example '/workspace/{value}')")
    if any(ch in value for ch in "\n\r"):
        raise ValueError(f"path {_short(value)} contains a line break; remove it")
    return value


def _file_path(value: str) -> str:
    _absolute_path(value)
    if value.endswith("/"):
        raise ValueError(f"path {_short(value)} names a folder; give the file's full path, such as '/workspace/notes.txt'")
    return value


def _relative_path(value: str) -> str:
    _unicode(value)
    if not value:
        raise ValueError("relativePath is empty; give the file's path inside the folder, such as 'src/app.py'")
    if "\x00" in value:
        raise ValueError(f"relativePath {_short(value)} contains a NUL character; remove it")
    if value.startswith("/"):
        raise ValueError(f"relativePath {_short(value)} is absolute; make it relative to the folder, such as 'src/app.py'")
    if ".." in value.replace("\\", "/").split("/"):
        raise ValueError(f"relativePath {_short(value)} contains a '..' segment, which could escape the folder; remove it")
    return value


def decode_base64(value: str) -> bytes:
    """The bytes of a base64 field; raises ``ValueError`` with a one-sentence reason."""
    try:
        return binascii.a2b_base64(value.encode("ascii"), strict_mode=True) if value else b""
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"content {_short(value)} is not valid base64 ({exc}); encode the file's bytes with base64") from None


def _base64(value: str) -> str:
    decode_base64(value)
    return value


def _no_nul(value: str) -> str:
    _unicode(value)
    if "\x00" in value:
        raise ValueError(f"{_short(value)} contains a NUL character; remove it")
    return value


def _package(value: str) -> str:
    _no_nul(value)
    if not value.strip():
        raise ValueError("a package name is empty; remove it or give a name such as 'curl'")
    return value


def _env_vars(value: dict[str, str]) -> dict[str, str]:
    for name, val in value.items():
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {_short(name)} is invalid; use letters, digits and '_', not starting with a digit"
            )
        _no_nul(val)
    return value


# The patterns only describe, in the OpenAPI schema, what the validators enforce
# (the validators give the one-sentence messages).
AbsolutePath = Annotated[StrictStr, AfterValidator(_absolute_path), Field(json_schema_extra={"pattern": r"^/[^\x00\n\r]*$"})]
FilePath = Annotated[StrictStr, AfterValidator(_file_path), Field(json_schema_extra={"pattern": r"^/[^\x00\n\r]*[^/\x00\n\r]$"})]
RelativePath = Annotated[StrictStr, AfterValidator(_relative_path), Field(
    json_schema_extra={"pattern": r"^(?!/)(?!(?:.*[/\\])?\.\.(?:[/\\]|$))[^\x00]+$"}
)]
Base64Text = Annotated[StrictStr, AfterValidator(_base64), Field(
    json_schema_extra={"pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"}
)]
Package = Annotated[StrictStr, AfterValidator(_package), Field(json_schema_extra={"pattern": r"^[^\x00]*\S[^\x00]*$"})]
Command = Annotated[StrictStr, AfterValidator(_no_nul), Field(json_schema_extra={"pattern": r"^[^\x00]*$"})]
EnvVars = Annotated[dict[StrictStr, Command], AfterValidator(_env_vars), Field(
    json_schema_extra={"propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}}
)]

_ARGS = ConfigDict(extra="allow", strict=True)


class PackagesArgs(BaseModel):
    model_config = _ARGS
    packages: list[Package] = Field(min_length=1, description="Package names, at least one.")


class RunArgs(BaseModel):
    model_config = _ARGS
    commands: list[Command] = Field(min_length=1, description="Shell commands, joined with `&&`.")


class EnvArgs(BaseModel):
    model_config = _ARGS
    vars: EnvVars = Field(
        description="Variables set in the image config, /etc/environment and /etc/profile.d."
    )


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
    Union[AptInstallStep, PipInstallStep, RunStep, EnvStep, WorkdirStep, AddFileStep, AddDirStep],
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
    """A short human description of a step, used in ``Step i/N: …`` log lines."""
    args = step.args  # type: ignore[attr-defined]
    if step.type == "apt_install":
        return "apt-get install " + " ".join(args.packages)
    if step.type == "pip_install":
        return "pip install " + " ".join(args.packages)
    if step.type == "run":
        text = " && ".join(args.commands)
        return "run " + (text if len(text) <= 120 else text[:117] + "...")
    if step.type == "env":
        return "env " + " ".join(f"{k}={v}" for k, v in args.vars.items())
    if step.type == "workdir":
        return f"workdir {args.path}"
    if step.type == "add_file":
        return f"add file {args.path}"
    if step.type == "add_dir":
        return f"add folder {args.path} ({len(args.files)} file{'s' if len(args.files) != 1 else ''})"
    return step.type
