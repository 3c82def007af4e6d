"""The files routes over real HTTP, through the in-sandbox agent."""

from __future__ import annotations

import hashlib
import os

import pytest


async def test_write_then_read_round_trips_text_and_creates_parents(api, run, sandbox):
    written = await api.put(
        f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/a/b/hello.txt"}, content="héllo\n".encode()
    )
    assert written.status_code == 204
    read = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/a/b/hello.txt"})
    assert read.status_code == 200 and read.content == "héllo\n".encode()
    assert (await run(sandbox, "cat", "/tmp/rt/a/b/hello.txt"))["stdout"] == "héllo\n"


async def test_binary_bytes_survive_unchanged(api, sandbox):
    data = bytes(range(256)) * 4 + b"\0\r\n\x1a"
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/binary.bin"}, content=data)
    read = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/binary.bin"})
    assert read.content == data


async def test_a_20_mb_file_round_trips_streamed(api, run, sandbox):
    data = os.urandom(20 * 1024 * 1024)

    async def body():
        for start in range(0, len(data), 1 << 20):
            yield data[start : start + (1 << 20)]

    written = await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/big.bin"}, content=body())
    assert written.status_code == 204
    inside = await run(sandbox, "sha256sum", "/tmp/rt/big.bin")
    assert inside["stdout"].split()[0] == hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    async with api.stream("GET", f"/sandboxes/{sandbox}/files", params={"path": "/tmp/rt/big.bin"}) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_list_mkdir_and_delete(api, sandbox):
    base = "/tmp/listing"
    assert (
        await api.post(f"/sandboxes/{sandbox}/files/mkdir", params={"path": f"{base}/sub/deeper"})
    ).status_code == 204
    assert (await api.post(f"/sandboxes/{sandbox}/files/mkdir", params={"path": f"{base}/sub"})).status_code == 204
    await api.put(f"/sandboxes/{sandbox}/files", params={"path": f"{base}/f.txt"}, content=b"12345")
    listed = await api.get(f"/sandboxes/{sandbox}/files/list", params={"path": base})
    assert listed.status_code == 200
    assert listed.json() == [
        {"name": "f.txt", "isDir": False, "size": 5, "path": f"{base}/f.txt"},
        {"name": "sub", "isDir": True, "size": 0, "path": f"{base}/sub"},
    ]
    assert (await api.delete(f"/sandboxes/{sandbox}/files", params={"path": f"{base}/f.txt"})).status_code == 204
    assert (await api.delete(f"/sandboxes/{sandbox}/files", params={"path": f"{base}/sub"})).status_code == 204
    assert (await api.get(f"/sandboxes/{sandbox}/files/list", params={"path": base})).json() == []


async def test_missing_paths_are_404_with_the_envelope(api, sandbox):
    for method, route in [("GET", "files"), ("DELETE", "files"), ("GET", "files/list")]:
        response = await api.request(method, f"/sandboxes/{sandbox}/{route}", params={"path": "/no/such/thing"})
        assert response.status_code == 404, (method, route)
        assert "'/no/such/thing'" in response.json()["error"]


@pytest.mark.parametrize("path", ["relative/file.txt", "", "/tmp/nul\u0000byte"])
async def test_bad_paths_are_400_one_sentence(api, sandbox, path):
    for method, route in [
        ("GET", "files"),
        ("PUT", "files"),
        ("DELETE", "files"),
        ("GET", "files/list"),
        ("POST", "files/mkdir"),
    ]:
        response = await api.request(method, f"/sandboxes/{sandbox}/{route}", params={"path": path})
        assert response.status_code == 400, (method, route, response.text)
        message = response.json()["error"]
        assert "absolute" in message and message.count(". ") == 0


async def test_reading_a_folder_or_writing_over_one_is_a_409(api, sandbox):
    read = await api.get(f"/sandboxes/{sandbox}/files", params={"path": "/tmp"})
    assert read.status_code == 409 and "folder" in read.json()["error"]
    written = await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/tmp"}, content=b"x")
    assert written.status_code == 409


async def test_devices_and_pipes_are_refused_and_the_sandbox_keeps_answering(api, run, sandbox):
    await run(sandbox, "sh", "-c", "rm -f /tmp/a.fifo && mkfifo /tmp/a.fifo")
    for path in ["/dev/zero", "/tmp/a.fifo"]:
        read = await api.get(f"/sandboxes/{sandbox}/files", params={"path": path})
        assert read.status_code == 409 and "not a regular file" in read.json()["error"]
    written = await api.put(f"/sandboxes/{sandbox}/files", params={"path": "/tmp/a.fifo"}, content=b"x")
    assert written.status_code == 409
    assert (await run(sandbox, "echo", "alive"))["stdout"] == "alive\n"


@pytest.mark.parametrize("path", ["/", "//"])
async def test_the_root_folder_cannot_be_deleted(api, run, sandbox, path):
    response = await api.delete(f"/sandboxes/{sandbox}/files", params={"path": path})
    assert response.status_code == 400 and "root folder" in response.json()["error"]
    assert (await run(sandbox, "cat", "/etc/hostname"))["exitCode"] == 0
