"""Image builds through the real server and engine: streamed logs, layer cache, shared builds, failures."""

from __future__ import annotations

import asyncio

from oc_jupyter.sdk.hashing import content_hash

from .conftest import (
    container_of,
    containers,
    engine,
    file_step,
    in_container,
    manifest,
    nonce,
    run_step,
    stream_events,
)


def _hash(m: dict) -> str:
    return content_hash(m["base"], [(s["type"], s["args"]) for s in m["steps"]])


def _logs(events, phase=None):
    return [e.data for e in events if e.event == "build_log" and (phase is None or e.data.get("phase") == phase)]


async def test_image_build_streams_each_step_and_its_output(api, made):
    token = nonce()
    script = f"#!/bin/sh\necho greeting-{token}\n"
    image = manifest(
        file_step("/opt/tools/greet.sh", script),
        run_step("chmod +x /opt/tools/greet.sh", "/opt/tools/greet.sh", "echo to-stderr >&2"),
        {"type": "env", "args": {"vars": {"PROJECT_ROOT": "/workspace/project"}}},
        {"type": "workdir", "args": {"path": "/workspace/project"}},
    )
    status, events = await stream_events(api, "POST", "/sandboxes", {"image": image, "timeout": 0})
    assert status == 200
    assert events[-1].event == "result"
    made.append(events[-1].data["sandboxID"])
    starts = [log["message"] for log in _logs(events, "start")]
    assert starts == [
        f"Step 1/4: add_file /opt/tools/greet.sh ({len(script)} B)",
        "Step 2/4: run chmod +x /opt/tools/greet.sh && /opt/tools/greet.sh && echo to-stderr >&2",
        "Step 3/4: env PROJECT_ROOT=/workspace/project",
        "Step 4/4: workdir /workspace/project",
    ]
    output = [log["message"] for log in _logs(events, "output") if log["step"] == 2]
    assert output == [f"greeting-{token}", "to-stderr"]
    assert [log["step"] for log in _logs(events, "done") if log["type"] != "checkpoint"] == [1, 2, 3, 4]
    assert events[-1].data["contentHash"] == _hash(image)
    assert engine("image", "exists", f"localhost/oc-jupyter/layer:{_hash(image)}").returncode == 0

    # The sandbox sees the script (executable, made so by the run step), the env var through a
    # login shell, and the working folder.
    name = container_of(events[-1].data["sandboxID"])
    probe = in_container(name, 'test -x /opt/tools/greet.sh && /opt/tools/greet.sh && echo "$PROJECT_ROOT" && pwd')
    assert probe.stdout.split() == [f"greeting-{token}", "/workspace/project", "/workspace/project"]


async def test_identical_manifest_is_one_cache_hit_event(api, made):
    image = manifest(run_step(f"echo cached-{nonce()} > /cached.txt"))
    first = await api.post("/sandboxes", json={"image": image, "timeout": 0})
    assert first.status_code == 201, first.text
    made.append(first.json()["sandboxID"])
    status, events = await stream_events(api, "POST", "/sandboxes", {"image": image, "timeout": 0})
    made.append(events[-1].data["sandboxID"])
    logs = _logs(events)
    assert len(logs) == 1
    assert logs[0]["type"] == "cache_hit" and logs[0]["step"] == 0
    assert events[-1].event == "result"


async def test_editing_the_last_step_rebuilds_only_that_step(api, made):
    token = nonce()
    steps = [run_step(f"echo one-{token} > /one"), run_step("echo two > /two"), run_step("echo three > /three")]
    status, first = await stream_events(api, "POST", "/sandboxes", {"image": manifest(*steps), "timeout": 0})
    made.append(first[-1].data["sandboxID"])
    assert [log["step"] for log in _logs(first, "start")] == [1, 2, 3]

    edited = manifest(*steps[:2], run_step("echo three-edited > /three"))
    status, second = await stream_events(api, "POST", "/sandboxes", {"image": edited, "timeout": 0})
    made.append(second[-1].data["sandboxID"])
    assert [log["step"] for log in _logs(second, "cached")] == [1, 2]
    assert [log["step"] for log in _logs(second, "start")] == [3]
    assert _logs(second, "cached")[0]["message"].endswith("(cached)")
    probe = in_container(container_of(second[-1].data["sandboxID"]), "cat /one /two /three")
    assert probe.stdout.split() == [f"one-{token}", "two", "three-edited"]


async def test_concurrent_creates_of_one_manifest_share_one_build(api, made):
    # Each run of the step prints a different stamp: one build means one stamp everywhere.
    image = manifest(run_step(f": {nonce()}", "sleep 1", "date +%s%N | tee /stamp"))
    results = await asyncio.gather(
        *[stream_events(api, "POST", "/sandboxes", {"image": image, "timeout": 0}) for _ in range(3)]
    )
    stamps = set()
    for _status, events in results:
        assert events[-1].event == "result", events[-1]
        made.append(events[-1].data["sandboxID"])
        printed = [log["message"] for log in _logs(events, "output") if log["step"] == 1]
        assert len(printed) == 1
        stamps.add(printed[0])
        stamps.add(in_container(container_of(events[-1].data["sandboxID"]), "cat /stamp").stdout.strip())
    assert len(stamps) == 1


async def test_failing_step_ends_the_stream_with_an_error_naming_it(api, local_server):
    image = manifest(
        run_step(f"echo fine-{nonce()}"),
        run_step("echo about to fail", "echo the reason >&2", "exit 7"),
        run_step("echo never"),
    )
    status, events = await stream_events(api, "POST", "/sandboxes", {"image": image})
    assert events[-1].event == "error"
    error = events[-1].data
    assert error["step"] == 2
    assert error["error"].startswith("Step 2/3 (run) failed with exit code 7:")
    assert "the reason" in error["error"]
    assert error["tail"][-2:] == ["about to fail", "the reason"]
    assert not any(log["step"] == 3 for log in _logs(events))
    # No sandbox and no build container remain.
    assert containers(f"oc-jupyter.build={_hash(image)}") == []
    listed = (await api.get("/sandboxes")).json()
    assert all(s.get("contentHash") != _hash(image) for s in listed)


async def test_failing_build_without_streaming_is_one_sentence_400(api):
    response = await api.post("/sandboxes", json={"image": manifest(run_step(f"echo {nonce()}; false"))})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Step 1/1 (run) failed with exit code 1:")


async def test_add_dir_writes_files_under_its_folder(api, made):
    token = nonce()
    step = {
        "type": "add_dir",
        "args": {
            "path": "/workspace/src",
            "files": [
                {
                    "relativePath": "pkg/__init__.py",
                    "content": file_step("/x", f"TOKEN = '{token}'\n")["args"]["content"],
                },
                {"relativePath": "README.md", "content": file_step("/x", "hello\n")["args"]["content"]},
            ],
        },
    }
    response = await api.post("/sandboxes", json={"image": manifest(step), "timeout": 0})
    assert response.status_code == 201, response.text
    made.append(response.json()["sandboxID"])
    probe = in_container(
        container_of(response.json()["sandboxID"]),
        "cd /workspace/src && python3 -c 'import pkg; print(pkg.TOKEN)' && cat README.md",
    )
    assert probe.stdout.split() == [token, "hello"]


async def test_cache_preview_says_which_steps_are_built(api):
    built = manifest(run_step(f"echo preview-{nonce()}"))
    assert (await api.post("/snapshots", json={"name": f"preview-{nonce()}", "image": built})).status_code == 201
    extended = manifest(*built["steps"], run_step("echo more"))
    response = await api.post("/x-oc-jupyter/v1/cache-preview", json={"image": extended})
    assert response.status_code == 200
    preview = response.json()
    assert preview["contentHash"] == _hash(extended)
    assert [(s["index"], s["cached"]) for s in preview["steps"]] == [(1, True), (2, False)]
    assert preview["cached"] is False
    again = (await api.post("/x-oc-jupyter/v1/cache-preview", json={"image": built})).json()
    assert again["cached"] is True


async def test_apt_and_pip_steps_install_packages(api, made):
    # A fixed manifest: built once per engine store, then a cache hit on later runs.
    image = manifest(
        {"type": "apt_install", "args": {"packages": ["jq"]}},
        {"type": "pip_install", "args": {"packages": ["six==1.16.0"]}},
    )
    response = await api.post("/sandboxes", json={"image": image, "timeout": 0})
    assert response.status_code == 201, response.text
    made.append(response.json()["sandboxID"])
    probe = in_container(
        container_of(response.json()["sandboxID"]),
        "echo '{\"a\": 7}' | jq .a && python -c 'import six; print(six.__version__)'",
    )
    assert probe.stdout.split() == ["7", "1.16.0"]


async def test_a_long_log_reaches_a_live_client_without_losing_a_line(api, made):
    # More lines than the replay buffer keeps, so old lines are dropped while the client reads.
    lines = 50_000
    status, events = await stream_events(
        api, "POST", "/sandboxes", {"image": manifest(run_step(f": {nonce()}", f"seq {lines}")), "timeout": 0}
    )
    assert events[-1].event == "result"
    made.append(events[-1].data["sandboxID"])
    output = [log["message"] for log in _logs(events, "output")]
    assert output == [str(i) for i in range(1, lines + 1)]


async def test_image_removed_from_the_engine_is_built_again(api, made):
    image = manifest(run_step(f"echo {nonce()} > /again"))
    first = await api.post("/sandboxes", json={"image": image, "timeout": 0})
    assert first.status_code == 201
    made.append(first.json()["sandboxID"])
    assert engine("untag", f"localhost/oc-jupyter/layer:{_hash(image)}").returncode == 0
    # The warm pool may still hold a container started from the untagged image
    # (same content, so handing it out is right); the create after it cannot.
    for _ in range(2):
        again = await api.post("/sandboxes", json={"image": image, "timeout": 0})
        assert again.status_code == 201, again.text
        made.append(again.json()["sandboxID"])
        content = in_container(container_of(again.json()["sandboxID"]), "cat /again")
        assert content.stdout.strip() == image["steps"][0]["args"]["commands"][0].split()[1]
    assert engine("image", "exists", f"localhost/oc-jupyter/layer:{_hash(image)}").returncode == 0
