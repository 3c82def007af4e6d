"""The labextension's highlighter knows exactly the recipe keywords the Python parser accepts."""

from __future__ import annotations

import subprocess
import sys

from _support import ROOT

from oc_jupyter.magics.recipe import _ALIASES, KEYWORDS

GENERATED = ROOT / "labextension" / "src" / "recipeKeywords.ts"


def test_the_checked_in_keyword_file_is_what_the_generator_writes_now():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "recipe_keywords.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_keyword_and_alias_reaches_the_typescript_list():
    listed = {line.strip().strip("',") for line in GENERATED.read_text().splitlines() if line.startswith("  '")}
    assert listed == set(KEYWORDS) | set(_ALIASES)
    assert "add" in listed
