"""Files in a real sandbox on the local server."""

from __future__ import annotations

import pytest

from oc_jupyter.sdk import NotFound


async def test_write_read_list_remove(base_sandbox):
    files = base_sandbox.files
    await files.make_dir("/tmp/oc-files/sub")
    await files.write("/tmp/oc-files/hello.txt", "héllo\n")
    await files.write("/tmp/oc-files/blob.bin", bytes(range(256)))
    assert await files.read("/tmp/oc-files/hello.txt") == "héllo\n"
    assert await files.read_bytes("/tmp/oc-files/hello.txt") == "héllo\n".encode()
    assert await files.read_text("/tmp/oc-files/hello.txt") == "héllo\n"
    assert await files.read_bytes("/tmp/oc-files/blob.bin") == bytes(range(256))
    entries = {e.name: e for e in await files.list("/tmp/oc-files")}
    assert set(entries) == {"hello.txt", "blob.bin", "sub"}
    assert entries["sub"].is_dir and entries["blob.bin"].size == 256
    assert await files.exists("/tmp/oc-files/hello.txt")
    await files.remove("/tmp/oc-files/hello.txt")
    assert not await files.exists("/tmp/oc-files/hello.txt")
    assert not await files.exists("/tmp/no-such-dir/x")
    with pytest.raises(NotFound, match="/tmp/oc-files/hello.txt"):
        await files.read("/tmp/oc-files/hello.txt")
    # What the files API wrote, commands see.
    assert (await base_sandbox.commands.run("wc -c < /tmp/oc-files/blob.bin")).stdout.strip() == "256"


async def test_write_streams_an_async_iterator_and_read_decodes_text(base_sandbox):
    files = base_sandbox.files
    piece = bytes(range(256)) * 1024  # 256 KiB

    async def chunks():
        for _ in range(8):
            yield piece

    await files.write("/tmp/oc-stream/big.bin", chunks())
    assert await files.read_bytes("/tmp/oc-stream/big.bin") == piece * 8
    await files.write("/tmp/oc-stream/latin1.txt", "caf\xe9".encode("latin-1"))
    assert await files.read("/tmp/oc-stream/latin1.txt") == "caf\ufffd"  # undecodable bytes replaced, as upstream
    assert [e.name for e in await files.list()] and any(e.name == "tmp" for e in await files.list())
    with pytest.raises(TypeError, match="async iterator of bytes"):
        await files.write("/tmp/oc-stream/x", 12)
