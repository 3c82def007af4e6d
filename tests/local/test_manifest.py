"""The server's content hash is the SDK's ``Image.cache_key()``, for awkward manifests too."""

from __future__ import annotations

from oc_jupyter.sdk import Image

from .conftest import nonce


async def test_snapshot_content_hash_equals_the_sdk_cache_key(api, tmp_path):
    folder = tmp_path / "project"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text("VALUE = 'ünïcødé <&>'\n")
    (folder / "data.bin").write_bytes(bytes(range(256)))
    image = (
        Image.base()
        .run_commands(f"echo '<tag> & \u2028 café {nonce()}' > /workspace/note.txt")
        .env({"Z_LAST": "z", "A_FIRST": 'a <b> & "c"', "MIDDLE": "ü"})
        .workdir("/workspace/app")
        .add_file("/workspace/app/hello.txt", "héllo\n")
        .add_local_dir(str(folder), "/workspace/app/project")
        .builder_memory(2048)
    )
    response = await api.post("/snapshots", json={"name": f"hash-{nonce()}", "image": image.to_dict()})
    assert response.status_code == 201, response.text
    assert response.json()["contentHash"] == image.cache_key()
    preview = (await api.post("/x-oc-jupyter/v1/cache-preview", json={"image": image.to_dict()})).json()
    assert preview["contentHash"] == image.cache_key() and preview["cached"] is True
