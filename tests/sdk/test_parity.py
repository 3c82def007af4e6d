"""oc_jupyter.sdk is a drop-in for OpenComputer's own SDK: every public signature is compared with the installed one.

The surface is read from the ``opencomputer-sdk`` package itself (the ``test``
extra pins the version), so a change on either side fails here. For each
class: every public method, classmethod, staticmethod, property and dataclass
field must exist on ours with the same kind (async stays async); parameters
must match in name, kind, order and default; our own additions are allowed
only as keyword-only parameters after upstream's.
"""

from __future__ import annotations

import dataclasses
import inspect
from importlib import metadata

import opencomputer
import opencomputer.filesystem
import opencomputer.pty
import pytest

import oc_jupyter.sdk as ours

UPSTREAM_VERSION = "1.1.0"

# Upstream class -> the name of ours that stands in for it.
CLASSES = {
    opencomputer.Sandbox: "Sandbox",
    opencomputer.Exec: "Exec",
    opencomputer.ExecSession: "ExecSession",
    opencomputer.ExecSessionInfo: "ExecSessionInfo",
    opencomputer.ProcessResult: "ProcessResult",
    opencomputer.Filesystem: "Filesystem",
    opencomputer.filesystem.EntryInfo: "EntryInfo",
    opencomputer.Pty: "Pty",
    opencomputer.pty.PtySession: "PtySession",
    opencomputer.Shell: "Shell",
    opencomputer.ShellBusyError: "ShellBusyError",
    opencomputer.ShellClosedError: "ShellClosedError",
    opencomputer.Snapshots: "Snapshots",
    opencomputer.Image: "Image",
    opencomputer.ScalingLockedError: "ScalingLockedError",
    opencomputer.PlanLimitError: "PlanLimitError",
    opencomputer.SandboxFamilyLimitError: "SandboxFamilyLimitError",
}

# Members outside this SDK's domain: whole cloud-only APIs with classes of their own
# (their routes answer 501 on the local server, see tests/local/test_cloud_only.py).
OUT_OF_DOMAIN = {
    ("Sandbox", "agent"): "Claude agent sessions are a cloud-only API",
    ("Sandbox", "mounts"): "remote-storage mounts are a cloud-only API",
}

# Constructors compared as well: the ones users call themselves.
CONSTRUCTORS = {"Snapshots"}


def _kind(raw: object) -> str:
    if isinstance(raw, classmethod):
        return "async classmethod" if inspect.iscoroutinefunction(raw.__func__) else "classmethod"
    if isinstance(raw, staticmethod):
        return "async staticmethod" if inspect.iscoroutinefunction(raw.__func__) else "staticmethod"
    if inspect.isfunction(raw):
        return "async method" if inspect.iscoroutinefunction(raw) else "method"
    return "attribute"  # a property, a dataclass field or a plain attribute: all read as obj.name


def _public_members(cls: type) -> dict[str, str]:
    members = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        if issubclass(cls, BaseException) and hasattr(BaseException, name):
            continue
        members[name] = _kind(inspect.getattr_static(cls, name))
    if dataclasses.is_dataclass(cls):
        members.update({f.name: "attribute" for f in dataclasses.fields(cls) if not f.name.startswith("_")})
    return members


def _our_attribute(cls: type, name: str) -> bool:
    """Whether instances of our ``cls`` have attribute ``name`` (class attribute, model field or set in __init__)."""
    if hasattr(cls, name) or name in getattr(cls, "model_fields", {}):
        return True
    try:
        source = inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return False
    return f"self.{name}:" in source or f"self.{name} =" in source


def _cases() -> list[tuple[type, str, str]]:
    cases = []
    for upstream, our_name in CLASSES.items():
        for member, _kind in sorted(_public_members(upstream).items()):
            if (our_name, member) not in OUT_OF_DOMAIN:
                cases.append((upstream, our_name, member))
        if our_name in CONSTRUCTORS:
            cases.append((upstream, our_name, "__init__"))
    return cases


CASES = _cases()


def test_the_installed_upstream_is_the_pinned_version():
    assert metadata.version("opencomputer-sdk") == UPSTREAM_VERSION


def test_every_upstream_public_class_of_our_domain_is_exported():
    missing = [name for name in CLASSES.values() if not hasattr(ours, name)]
    assert not missing, f"oc_jupyter.sdk lacks {missing}"


@pytest.mark.parametrize(
    ("upstream", "our_name", "member"), CASES, ids=[f"{name}.{member}" for _, name, member in CASES]
)
def test_member_matches_upstream(upstream, our_name, member):
    mine = getattr(ours, our_name, None)
    assert mine is not None, f"oc_jupyter.sdk has no {our_name}"
    if member == "__init__":
        _compare(inspect.signature(upstream.__init__), inspect.signature(mine.__init__), f"{our_name}()")
        return
    want = _public_members(upstream)[member]
    if want == "attribute":
        assert _our_attribute(mine, member), f"{our_name}.{member} is missing"
        raw = inspect.getattr_static(mine, member, None)
        assert raw is None or _kind(raw) == "attribute", f"{our_name}.{member} should be an attribute, not a method"
        return
    raw = inspect.getattr_static(mine, member, None)
    assert raw is not None, f"{our_name}.{member}() is missing"
    assert _kind(raw) == want, f"{our_name}.{member} is a {_kind(raw)}, upstream's a {want}"
    _compare(
        inspect.signature(getattr(upstream, member)), inspect.signature(getattr(mine, member)), f"{our_name}.{member}"
    )


def _compare(theirs: inspect.Signature, mine: inspect.Signature, what: str) -> None:
    def plain(sig):
        return [p for p in sig.parameters.values() if p.name not in ("self", "cls")]

    up, us = plain(theirs), plain(mine)
    up_positional = [p for p in up if p.kind is not p.KEYWORD_ONLY and p.kind is not p.VAR_KEYWORD]
    us_positional = [p for p in us if p.kind is not p.KEYWORD_ONLY and p.kind is not p.VAR_KEYWORD]
    assert [(p.name, p.kind, p.default) for p in us_positional] == [
        (p.name, p.kind, p.default) for p in up_positional
    ], f"{what}: positional parameters differ from upstream's {theirs}; ours are {mine}"
    our_keywords = {p.name: p for p in us if p.kind is p.KEYWORD_ONLY}
    for p in up:
        if p.kind is p.KEYWORD_ONLY:
            assert p.name in our_keywords, f"{what}: keyword-only {p.name!r} of upstream is missing"
            assert our_keywords[p.name].default == p.default, (
                f"{what}: {p.name!r} defaults to {our_keywords[p.name].default!r}, upstream {p.default!r}"
            )
        if p.kind is p.VAR_KEYWORD:
            assert any(q.kind is q.VAR_KEYWORD for q in us), f"{what}: upstream takes **{p.name}"


def test_the_comparison_catches_drift():
    # The checker itself: a renamed, reordered, re-defaulted or positional extra parameter fails.
    def upstream(self, command: str, timeout: int = 60, env=None): ...

    def renamed(self, cmd: str, timeout: int = 60, env=None): ...

    def redefaulted(self, command: str, timeout: int = 300, env=None): ...

    def positional_extra(self, command: str, timeout: int = 60, env=None, extra=None): ...

    def keyword_extra(self, command: str, timeout: int = 60, env=None, *, extra=None): ...

    base = inspect.signature(upstream)
    for wrong in (renamed, redefaulted, positional_extra):
        with pytest.raises(AssertionError):
            _compare(base, inspect.signature(wrong), wrong.__name__)
    _compare(base, inspect.signature(keyword_extra), "keyword_extra")
