"""Every route refuses a missing or wrong key with 401 and the envelope; only /health is open."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .conftest import private_server


def _routes(schema: dict) -> list[tuple[str, str]]:
    """Every operation that needs the key (the signed file URLs carry a signature instead: ``security: []``)."""
    routes = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue
            routes.append(
                (
                    method.upper(),
                    path.replace("{sandbox_id}", "sb-x")
                    .replace("{name}", "n")
                    .replace("{session_id}", "s-x")
                    .replace("{checkpoint_id}", "cp-x"),
                )
            )
    return routes


async def test_every_api_route_requires_the_key(local_server):
    async with httpx.AsyncClient(base_url=local_server.url, timeout=30) as client:
        schema = (await client.get("/openapi.json")).json()
        routes = [r for r in _routes(schema) if r[1].startswith("/api/")]
        assert len(routes) >= 10
        for headers in ({}, {"X-API-Key": "wrong-key"}):
            for method, path in routes:
                response = await client.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path, response.text)
                message = response.json()["error"]
                assert "API key" in message and local_server.key not in message


async def test_websocket_requires_the_key(local_server, api):
    sandbox = (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]
    try:
        base = local_server.url.replace("http://", "ws://") + f"/api/sandboxes/{sandbox}/exec/s-x"
        for url in (base, base + "?api_key=wrong"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url):
                    pass
            assert refused.value.response.status_code == 401
    finally:
        await api.delete(f"/sandboxes/{sandbox}")


async def test_health_is_open_and_reveals_nothing(local_server):
    async with httpx.AsyncClient(base_url=local_server.url) as client:
        response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_server_listens_on_loopback_only_and_server_json_is_private(local_server):
    assert local_server.url.startswith("http://127.0.0.1:")
    assert (local_server.home / "server.json").stat().st_mode & 0o777 == 0o600


async def test_key_never_reaches_the_log(tmp_path):
    with private_server(tmp_path) as server:
        info = server.info()
        async with server.client() as client:
            await client.get("/snapshots")
            await client.get("/snapshots", params={"api_key": info["key"]})
        ws_url = info["url"].replace("http://", "ws://") + f"/api/sandboxes/sb-x/exec/s?api_key={info['key']}"
        with pytest.raises(Exception):  # noqa: B017 -- any refusal to connect counts; the class is the library's
            async with connect(ws_url):
                pass
    log = (server.home / "server.log").read_text()
    assert "/api/snapshots" in log
    assert info["key"] not in log
