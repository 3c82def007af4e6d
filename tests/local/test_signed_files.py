"""Signed file URLs on the real server: download and upload without the API key, and every refusal."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest


async def new_sandbox(api) -> str:
    return (await api.post("/sandboxes", json={"timeout": 0})).json()["sandboxID"]


@pytest.fixture
async def sandbox(api):
    sandbox_id = await new_sandbox(api)
    yield sandbox_id
    await api.delete(f"/sandboxes/{sandbox_id}")


@pytest.fixture
async def anonymous(local_server):
    """A client without the API key, as a browser holding only the URL would be."""
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def signed(api, sandbox_id: str, kind: str, path: str, expires_in: int = 3600) -> str:
    answer = await api.post(f"/sandboxes/{sandbox_id}/files/{kind}-url", json={"path": path, "expiresIn": expires_in})
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


async def test_download_and_upload_work_without_the_key(api, anonymous, sandbox, local_server):
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    url = await signed(api, sandbox, "upload", "/workspace/in.bin")
    assert url.startswith(local_server.url + "/api/sandboxes/" + sandbox + "/files/upload?")
    put = await anonymous.put(url, content=payload)
    assert put.status_code == 204, put.text
    stored = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/in.bin"})
    assert stored.content == payload

    url = await signed(api, sandbox, "download", "/workspace/in.bin")
    got = await anonymous.get(url)
    assert got.status_code == 200 and got.content == payload
    assert "in.bin" in got.headers["content-disposition"]
    assert local_server.key not in url


async def test_a_signed_download_wakes_a_hibernated_sandbox(api, anonymous, sandbox):
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/a"}, content=b"asleep")
    url = await signed(api, sandbox, "download", "/workspace/a")
    await api.post(f"/sandboxes/{sandbox}/hibernate")
    assert (await anonymous.get(url)).content == b"asleep"


async def test_tampered_expired_or_misused_urls_are_refused(api, anonymous, sandbox):
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/secret"}, content=b"s")
    url = await signed(api, sandbox, "download", "/workspace/public")

    other_path = await anonymous.get(with_query(url, path="/workspace/secret"))
    assert other_path.status_code == 403 and "does not match" in other_path.json()["error"]
    bad_signature = await anonymous.get(with_query(url, signature="0" * 64))
    assert bad_signature.status_code == 403
    longer = await anonymous.get(with_query(url, expires=str(int(time.time()) + 10**6)))
    assert longer.status_code == 403
    # A download URL does not upload, and the signature does not carry over to another sandbox.
    as_upload = await anonymous.put(url.replace("/files/download?", "/files/upload?"), content=b"x")
    assert as_upload.status_code == 403
    other = await new_sandbox(api)
    try:
        moved = await anonymous.get(url.replace(f"/sandboxes/{sandbox}/", f"/sandboxes/{other}/"))
        assert moved.status_code == 403
    finally:
        await api.delete(f"/sandboxes/{other}")
    assert (await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/secret"})).content == b"s"


async def test_an_expired_url_is_refused_with_when(api, anonymous, sandbox):
    url = await signed(api, sandbox, "upload", "/workspace/late", expires_in=1)
    await asyncio.sleep(2.1)
    late = await anonymous.put(url, content=b"late")
    assert late.status_code == 403 and "expired at" in late.json()["error"] and "upload-url" in late.json()["error"]
    exists = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/workspace/late"})
    assert exists.status_code == 404


async def test_url_requests_are_checked(api, sandbox, local_server):
    too_long = await api.post(f"/sandboxes/{sandbox}/files/download-url", json={"path": "/a", "expiresIn": 86401})
    assert too_long.status_code == 400 and "expiresIn" in too_long.json()["error"]
    relative = await api.post(f"/sandboxes/{sandbox}/files/upload-url", json={"path": "a.txt"})
    assert relative.status_code == 400 and "absolute" in relative.json()["error"]
    async with httpx.AsyncClient(base_url=local_server.url + "/api") as keyless:
        refused = await keyless.post(f"/sandboxes/{sandbox}/files/download-url", json={"path": "/a"})
        assert refused.status_code == 401
        unsigned = await keyless.get(f"/sandboxes/{sandbox}/files/download", params={"path": "/a"})
        assert unsigned.status_code == 400 and "expires" in unsigned.json()["error"]
