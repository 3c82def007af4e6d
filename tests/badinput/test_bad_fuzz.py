"""Property-based fuzzing of the ``%%oc_image`` recipe parser and the ``Image`` builder.

Properties:
- any text, random or built from recipe keywords, yields an ``Image`` or a
  ``ValueError`` (the parser's ``RecipeError`` is one; the magic turns it into
  ``UsageError``), never another exception;
- hashing is deterministic: the same recipe gives the same ``cache_key()``;
- whatever the SDK builds, the local server's manifest validation accepts,
  and the server's ``contentHash`` of it equals the SDK's ``cache_key()``.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ownserver import record_figures

from oc_jupyter.local.manifest import Manifest
from oc_jupyter.magics.recipe import build_image
from oc_jupyter.sdk import Image

COUNTS = {"recipes_random": 0, "recipes_structured": 0, "builder_chains": 0}
EXAMPLES = 400

KEYWORDS = [
    "apt",
    "pip",
    "run",
    "env",
    "workdir",
    "copy",
    "file",
    "RUN",
    "ENV",
    "WORKDIR",
    "COPY",
    "ADD",
    "Apt",
    "from",
    "",
    "#",
    "cmd",
]
WORDS = st.one_of(
    st.sampled_from(
        [
            "curl",
            "/workspace",
            "/w/a.txt",
            "data/",
            "x.csv",
            "A=1",
            "1A=2",
            "K=",
            "=v",
            "<<EOF",
            "EOF",
            "\\",
            "{name}",
            "{{",
            "}}",
            "{missing}",
            "'",
            '"',
            "a b",
            "..",
            "../etc",
            "/",
            "~",
            "${HOME}",
            "$(id)",
            ";",
            "&&",
            "\x00",
            "\t",
            "é",
            "\u2028",
            "<>&",
        ]
    ),
    st.text(max_size=12),
)
LINE = st.builds(lambda k, ws: " ".join([k, *ws]), st.sampled_from(KEYWORDS), st.lists(WORDS, max_size=4))
RECIPE = st.lists(LINE, max_size=8).map("\n".join)
NAMESPACE = {"name": "value", "n": 3, "path": "/workspace"}


def _check(image_or_error, text: str) -> None:
    if isinstance(image_or_error, Image):
        again = build_image(text, NAMESPACE, base_dir=_check.folder)
        assert again.cache_key() == image_or_error.cache_key(), "the same recipe hashed differently"
        _server_agrees(image_or_error)


def _parse(text: str):
    try:
        return build_image(text, NAMESPACE, base_dir=_check.folder)
    except ValueError as exc:
        assert str(exc).strip(), "an error without a message"
        assert str(exc).startswith("Line "), f"a recipe error that does not name its line: {exc}"
        return exc


def _server_agrees(image: Image) -> None:
    wire = json.loads(json.dumps(image.to_dict()))
    manifest = Manifest.model_validate(wire)
    assert manifest.content_hash() == image.cache_key()


@pytest.fixture(autouse=True, scope="module")
def copy_sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe-src")
    (folder / "x.csv").write_text("a,b\n1,2\n")
    (folder / "data").mkdir()
    (folder / "data" / "f.txt").write_bytes(b"\xff\x00bin")
    _check.folder = folder
    yield
    record_figures("badinput-fuzz", dict(COUNTS, examples_per_property=EXAMPLES))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300))
def test_any_text_is_an_image_or_a_value_error(text):
    COUNTS["recipes_random"] += 1
    _check(_parse(text), text)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(RECIPE)
def test_any_keyword_recipe_is_an_image_or_a_value_error(text):
    COUNTS["recipes_structured"] += 1
    _check(_parse(text), text)


ANY = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.lists(st.text(max_size=10), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
CALL = st.one_of(
    st.tuples(st.just("apt_install"), st.tuples(ANY)),
    st.tuples(st.just("pip_install"), st.tuples(ANY)),
    st.tuples(st.just("run_commands"), st.lists(ANY, max_size=3).map(tuple)),
    st.tuples(st.just("env"), st.tuples(ANY)),
    st.tuples(st.just("workdir"), st.tuples(ANY)),
    st.tuples(st.just("add_file"), st.tuples(ANY, ANY)),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(CALL, max_size=6))
@example([("add_file", ("/w/a\nb", "x"))])
@example([("workdir", ("/w\rx",))])
def test_any_builder_chain_is_an_image_or_a_type_or_value_error(calls):
    COUNTS["builder_chains"] += 1
    image = Image.base()
    for method, args in calls:
        try:
            image = getattr(image, method)(*args)
        except (TypeError, ValueError) as exc:
            assert str(exc).strip()
    assert image.cache_key() == Image(image.base_image, image.steps).cache_key()
    _server_agrees(image)
