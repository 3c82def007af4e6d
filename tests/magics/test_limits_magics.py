"""``%oc_run --memory/--cpus/--no-network`` in a real kernel: the sandbox it makes, the listing, OOM reports."""

from __future__ import annotations

LOAD = "%load_ext oc_jupyter"
LIMIT = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null | head -n 1"
HOG = "python3 -c 'b = bytearray(256 << 20)'"


def test_limits_make_their_own_sandbox_and_show(notebook):
    run = notebook(
        [
            LOAD,
            f"%oc_run {LIMIT}",
            f"%oc_run --memory 128 --cpus 1 --no-network {LIMIT}; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
            f"%oc_run --memory 128 --cpus 1 --no-network {LIMIT}",
            "st = get_ipython().find_line_magic('oc_sandboxes').__self__.state\n"
            "print(len({sb.id for sb in st.sandboxes.values()}))",
            "%oc_sandboxes",
            "sid = [sb.id for key, sb in st.sandboxes.items() if len(key) == 3][0]",
            "%oc_sandbox info {sid}",
            f"%%oc_run --shell --memory 128\n{HOG}",
            "%%oc_run --memory 128\nb = bytearray(256 << 20)",
            "%oc_run --memory 10 true",
            "%oc_sandbox use {sid}",
            "%oc_run --cpus 1 true",
        ],
        allow_errors=True,
    )
    default_limit = int(run.text(1, "stdout").split()[0])
    assert default_limit > 128 * 1024 * 1024
    # The limited cell got a sandbox of its own, with no network; the same limits reuse it.
    assert run.text(2, "stdout").split() == [str(128 * 1024 * 1024), "lo"]
    assert run.text(3, "stdout").split() == [str(128 * 1024 * 1024)]
    assert run.text(4, "stdout").strip() == "2"
    assert "128 MB · 1 CPU · no network" in run.html(5) and "limits" in run.html(5)
    info = run.text(7)
    assert "memory:    128 MB" in info and "network:   off" in info and "disk used:" in info

    shell_oom = run.errors(8)
    assert shell_oom and shell_oom[0]["ename"] == "CommandFailed", run.outputs(8)
    assert shell_oom[0]["evalue"].startswith("The command in sandbox sb-")
    assert shell_oom[0]["evalue"].endswith(
        " was killed: it ran out of memory (limit 128 MB); run the cell with --memory 256 (on %oc_run or "
        "%%oc_run), or create the sandbox with memory_mb=256."
    )
    python_oom = run.errors(9)
    assert python_oom, run.outputs(9)
    assert python_oom[0]["evalue"].startswith("The Python interpreter in sandbox sb-")
    assert python_oom[0]["evalue"].endswith("Names defined in it are lost.")
    assert "ran out of memory (limit 128 MB)" in python_oom[0]["evalue"]

    assert run.errors(10)[0]["evalue"] == "--memory 10 is too small; give at least 64 (MB), e.g. --memory 512."
    current = run.errors(12)[0]
    assert current["ename"] == "UsageError"
    assert "--cpus 1 set up a new sandbox, but this cell runs in the current sandbox" in current["evalue"]
    assert "%oc_sandbox use none first" in current["evalue"]
