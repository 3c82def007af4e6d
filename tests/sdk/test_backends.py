"""The SDK reaches backends through the ``oc_jupyter.backends`` entry point group, not by importing them."""

from __future__ import annotations

import sys
import textwrap

import pytest

from oc_jupyter.sdk import BackendUnavailable, Config
from oc_jupyter.sdk.config import backend_provider


def test_without_a_key_the_local_provider_finds_the_running_server(local_server):
    config = Config.resolve()
    assert (config.backend, config.api_url) == ("local", local_server.url)
    assert config.api_key == local_server.key


def test_an_unknown_backend_says_so_in_one_sentence():
    with pytest.raises(BackendUnavailable, match=r"No backend named 'nowhere' is installed; set OPENCOMPUTER_API_KEY"):
        backend_provider("nowhere")


def test_a_provider_installed_by_another_distribution_is_found(tmp_path, monkeypatch):
    # A real (if minimal) installed distribution: importlib.metadata reads its dist-info from sys.path.
    (tmp_path / "elsewhere_backend.py").write_text(
        textwrap.dedent("""
        from oc_jupyter.local.provider import Endpoint

        def provide(refresh=False):
            return Endpoint("http://127.0.0.1:9", "key-from-elsewhere")
    """)
    )
    info = tmp_path / "elsewhere_backend-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: elsewhere-backend\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[oc_jupyter.backends]\nelsewhere = elsewhere_backend:provide\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    provider = backend_provider("elsewhere")
    assert provider().key == "key-from-elsewhere"
    monkeypatch.delitem(sys.modules, "elsewhere_backend", raising=False)
