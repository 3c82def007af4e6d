"""``exec/run-async`` and ``exec/{execId}/result`` on the local server, over real HTTP."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture
async def sandbox_id(api, made) -> str:
    response = await api.post("/sandboxes", json={"templateID": "base", "timeout": 0})
    assert response.status_code == 201, response.text
    made.append(response.json()["sandboxID"])
    return made[-1]


async def test_a_quick_command_is_answered_inline(api, sandbox_id):
    await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "true"})  # the agent is up
    # Inline needs the command to end within ~400 ms; on a loaded machine one try may miss, so several.
    for _ in range(10):
        response = await api.post(
            f"/sandboxes/{sandbox_id}/exec/run-async",
            json={"cmd": "sh", "args": ["-c", "echo hi; echo err >&2; exit 3"]},
        )
        if response.status_code == 200:
            break
        assert response.status_code == 202
    assert response.status_code == 200
    assert response.json() == {"exitCode": 3, "stdout": "hi\n", "stderr": "err\n", "oomKilled": False, "error": None}


async def test_a_slow_command_gets_an_exec_id_whose_result_is_long_polled(api, sandbox_id):
    response = await api.post(
        f"/sandboxes/{sandbox_id}/exec/run-async", json={"cmd": "sh", "args": ["-c", "sleep 2; echo done"]}
    )
    assert response.status_code == 202
    pending = response.json()
    assert pending["running"] is True and pending["execId"] and pending["startedAt"].endswith("Z")
    polls = []
    while not polls or polls[-1]["running"]:
        result = await api.get(f"/sandboxes/{sandbox_id}/exec/{pending['execId']}/result")
        assert result.status_code == 200
        polls.append(result.json())
        assert len(polls) < 100
    assert polls[0] == {"running": True, "exitCode": None, "stdout": "", "stderr": ""}
    assert polls[-1] == {"running": False, "exitCode": 0, "stdout": "done\n", "stderr": ""}
    # Kept after it ended, for a client that comes back later.
    again = await api.get(f"/sandboxes/{sandbox_id}/exec/{pending['execId']}/result")
    assert again.json() == polls[-1]


async def test_the_command_goes_on_when_the_client_hangs_up(api, local_server, sandbox_id):
    import httpx

    async with httpx.AsyncClient(base_url=local_server.url + "/api", headers={"X-API-Key": local_server.key}) as other:
        response = await other.post(
            f"/sandboxes/{sandbox_id}/exec/run-async",
            json={"cmd": "sh", "args": ["-c", "sleep 1; echo kept > /tmp/oc-async"]},
        )
        exec_id = response.json()["execId"]
    for _ in range(40):
        result = (await api.get(f"/sandboxes/{sandbox_id}/exec/{exec_id}/result")).json()
        if not result["running"]:
            break
    assert result["exitCode"] == 0
    check = await api.post(f"/sandboxes/{sandbox_id}/exec/run", json={"cmd": "cat", "args": ["/tmp/oc-async"]})
    assert check.json()["stdout"] == "kept\n"


async def test_an_unknown_exec_id_is_a_404_saying_how_long_results_are_kept(api, sandbox_id):
    response = await api.get(f"/sandboxes/{sandbox_id}/exec/ex-nope/result")
    assert response.status_code == 404
    assert "ex-nope" in response.json()["error"] and "minutes" in response.json()["error"]


async def test_bad_input_is_refused_before_anything_runs(api, sandbox_id):
    response = await api.post(f"/sandboxes/{sandbox_id}/exec/run-async", json={"cmd": "ls", "cwd": "/no/such/dir"})
    assert response.status_code == 400
    assert "/no/such/dir" in response.json()["error"]
    await asyncio.sleep(0)
