"""Choosing the backend: a key means the cloud (or OPENCOMPUTER_API_URL), none means the local server."""

from __future__ import annotations

import os

import pytest

from oc_jupyter.sdk import AuthError, Config


def test_config_resolve_prefers_a_key(monkeypatch):
    monkeypatch.setenv("OPENCOMPUTER_API_KEY", "k-env")
    monkeypatch.delenv("OPENCOMPUTER_API_URL", raising=False)
    config = Config.resolve()
    assert (config.backend, config.api_url, config.api_base) == (
        "cloud",
        "https://app.opencomputer.dev",
        "https://app.opencomputer.dev/api",
    )
    assert "k-env" not in repr(config)
    explicit = Config.resolve(api_key="k", api_url="http://127.0.0.1:9/api/")
    assert (explicit.backend, explicit.api_url, explicit.ws_base) == (
        "local",
        "http://127.0.0.1:9",
        "ws://127.0.0.1:9/api",
    )


def test_a_url_without_a_key_is_refused_before_anything_starts(monkeypatch):
    monkeypatch.delenv("OPENCOMPUTER_API_KEY", raising=False)
    monkeypatch.setenv("OPENCOMPUTER_API_URL", "https://sandbox.example.com")
    with pytest.raises(AuthError, match="No API key for 'https://sandbox.example.com'; set OPENCOMPUTER_API_KEY"):
        Config.resolve()


def test_config_validates_and_normalises(monkeypatch):
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Config("ftp://x", "k")
    with pytest.raises(ValueError, match="backend must be 'local' or 'cloud'"):
        Config("http://x", "k", "moon")
    config = Config("https://app.example.com/api/", "k")
    assert (config.api_url, config.backend, config.ws_base) == (
        "https://app.example.com",
        "cloud",
        "wss://app.example.com/api",
    )
    assert Config("http://x", "sk-123").scrub("ws://x/?api_key=sk-123 failed") == "ws://x/?api_key=*** failed"


def test_a_healthy_local_server_is_trusted_until_its_server_json_changes(local_server, monkeypatch):
    monkeypatch.delenv("OPENCOMPUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENCOMPUTER_API_URL", raising=False)
    first = Config.resolve(refresh=True)
    assert (first.api_url, first.backend) == (local_server.url, "local")
    assert Config.resolve() is first  # no health check: the same answer, straight from memory
    again = Config.resolve(refresh=True)
    assert again == first and again is not first
    info = local_server.home / "server.json"
    stat = info.stat()
    os.utime(info, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert Config.resolve() is not again  # a rewritten server.json is checked again
