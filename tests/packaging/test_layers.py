"""The packages import one way: wire ← sdk ← (magics, widgets, serverext); wire ← local; the SDK never imports local."""

from __future__ import annotations

import ast

import pytest
from _support import ROOT

PACKAGE = ROOT / "oc_jupyter"


def _imports(folder: str) -> dict[str, set[str]]:
    """Every absolute module name each file of ``oc_jupyter/<folder>`` imports, relative imports resolved."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        module = ".".join(("oc_jupyter", *path.relative_to(PACKAGE).with_suffix("").parts))
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                target = ".".join(p for p in (base, node.module or "") if p)
                names.add(target)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in _imports(folder).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden or name.startswith(forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "wire",
            (
                "oc_jupyter.sdk",
                "oc_jupyter.local",
                "oc_jupyter.magics",
                "oc_jupyter.widgets",
                "fastapi",
                "IPython",
                "httpx",
                "starlette",
            ),
        ),
        ("sdk", ("oc_jupyter.local", "oc_jupyter.magics", "oc_jupyter.widgets", "fastapi", "IPython", "ipywidgets")),
        ("widgets", ("oc_jupyter.local", "oc_jupyter.magics", "httpx")),
    ],
)
def test_a_layer_imports_nothing_above_or_beside_it(folder, forbidden):
    assert _offenders(folder, forbidden) == []


def test_the_server_errors_are_not_sdk_errors():
    from oc_jupyter.local.errors import ApiError
    from oc_jupyter.sdk.errors import OCError

    assert not issubclass(ApiError, OCError)
