"""The magics in notebooks run by a real kernel against the real local server."""

from __future__ import annotations

import json
import uuid

LOAD = "%load_ext oc_jupyter"
# Counts processes running `sleep 30` in the sandbox (no ps needed: the base image may lack procps).
PS_SLEEP = (
    "%oc_run for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 30' || true"
)


def test_load_ext_says_which_backend_and_never_the_key(notebook, local_server):
    run = notebook([LOAD, "%config OCJupyter"])
    assert run.text(0).strip() == f"oc_jupyter: using the local backend at {local_server.url}"
    assert "sandbox_timeout" in run.text(1) and "widgets" in run.text(1)


def test_magic_help_comes_from_docstrings(notebook):
    # `%magic?` pages the docstring through a payload nbclient does not keep, so read the same text here.
    run = notebook(
        [
            LOAD,
            "print(get_ipython().find_cell_magic('oc_image').__doc__)",
            "print(get_ipython().find_line_magic('oc_run').__doc__)",
        ]
    )
    assert "--snapshot SNAP" in run.text(1) and "copy src/ /workspace/src" in run.text(1)
    assert "--no-raise-error" in run.text(2) and "--push" in run.text(2)


def test_recipe_forms_show_a_summary(notebook, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.json").write_text('{"debug": true}')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("VALUE = 7\n")
    recipe = "\n".join(
        [
            "%%oc_image app",
            "apt jq                               # apt_install",
            'pip "six>=1.16"',
            "RUN mkdir -p /workspace/data",
            "env PROJECT_ROOT=/workspace MODE={mode}",
            "WORKDIR /workspace",
            "copy data/config.json /workspace/config.json",
            "COPY src/ /workspace/src",
            "file /workspace/hello.txt <<EOF",
            "hello {not interpolated}",
            "EOF",
        ]
    )
    run = notebook([LOAD, "mode = 'fast'", recipe, "print(app.to_dict()['steps'][3]); print(len(app.steps))"])
    html = run.html(2)
    assert "Image <b>app</b>" in html
    assert "will build" in html or "cached" in html
    assert "/workspace/src/helper.py" in html and "/workspace/hello.txt" in html
    assert "cache key" in html
    assert "'MODE': 'fast'" in run.text(3) and run.text(3).strip().endswith("8")


def test_recipe_errors_are_one_line_usage_errors(notebook):
    run = notebook([LOAD, "%%oc_image broken\napt curl\n\napk add curl\n"], allow_errors=True)
    (error,) = run.errors(1)
    assert error["ename"] == "UsageError"
    assert error["evalue"].startswith("Line 3: unknown keyword 'apk' in \"apk add curl\"; valid keywords are")
    run = notebook([LOAD, "%%oc_image broken\ncopy missing.csv /workspace/missing.csv\n"], allow_errors=True)
    (error,) = run.errors(1)
    assert error["ename"] == "UsageError" and "Line 1:" in error["evalue"] and "missing.csv" in error["evalue"]


def test_copy_reads_next_to_the_notebook_after_cd(notebook, tmp_path):
    (tmp_path / "notes.txt").write_text("from the notebook folder\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.txt").write_text("WRONG FOLDER\n")
    run = notebook(
        [
            LOAD,
            f"%cd {elsewhere}",
            "%%oc_image withnotes\ncopy notes.txt /workspace/notes.txt\n",
            "%oc_run --image withnotes cat /workspace/notes.txt",
        ]
    )
    assert run.text(3, "stdout") == "from the notebook folder\n"


def test_output_streams_live_in_order_with_streams_distinguished(notebook):
    run = notebook([LOAD, "%oc_run for i in 1 2 3; do echo out$i; sleep 0.3; echo err$i >&2; sleep 0.3; done"])
    streams = [(o["name"], o["text"]) for o in run.outputs(1) if o["output_type"] == "stream"]
    joined = [(name, part) for name, text in streams for part in text.splitlines()]
    assert joined == [
        ("stdout", "out1"),
        ("stderr", "err1"),
        ("stdout", "out2"),
        ("stderr", "err2"),
        ("stdout", "out3"),
        ("stderr", "err3"),
    ]


def test_non_zero_exit_fails_the_cell_and_stops_run_all(notebook):
    run = notebook([LOAD, "%oc_run echo before; exit 3", "print('after')"])
    assert run.error is not None and run.error.ename == "CommandFailed"
    assert "exited with code 3" in run.error.evalue
    assert run.text(1, "stdout") == "before\n"
    assert run.outputs(2) == []
    run = notebook(
        [LOAD, "%oc_run --no-raise-error exit 3", "%%oc_run --shell\nfalse\n", "print('after')"], allow_errors=True
    )
    assert run.errors(1) == []
    assert run.errors(2)[0]["ename"] == "CommandFailed"


def test_python_cells_keep_state_show_values_and_remote_tracebacks(notebook):
    run = notebook(
        [
            LOAD,
            "%%oc_run\nimport sys\nx = 20\nprint('remote python', sys.version_info[0])",
            "%%oc_run\nx * 2 + 2",
            "%%oc_run\ndef boom():\n    raise ValueError('bad value')\nboom()",
            "print('not reached')",
        ]
    )
    assert run.text(1, "stdout") == "remote python 3\n"
    assert run.text(2) == "42"
    assert run.error is not None and run.error.ename == "RemotePythonError"
    tb = "\n".join(run.errors(3)[0]["traceback"])
    assert "<oc_run cell 3>" in tb and "boom()" in tb and "ValueError: bad value" in tb
    assert run.outputs(4) == []


def test_usage_errors_are_one_line(notebook):
    run = notebook(
        [
            LOAD,
            "%oc_run",
            "%oc_run --image nothing_here ls",
            "%oc_run --bogus ls",
            "%oc_snapshot frobnicate x",
            "%oc_sandbox use sb-does-not-exist",
            "%oc_run --push x --shell true",
        ],
        allow_errors=True,
    )
    for i in range(1, 7):
        (error,) = run.errors(i)
        assert error["ename"] == "UsageError", (i, error)
        assert "\n" not in error["evalue"]
    assert "needs a command" in run.errors(1)[0]["evalue"]
    assert "names no Image" in run.errors(2)[0]["evalue"]
    assert "--bogus" in run.errors(3)[0]["evalue"]
    assert "No sandbox 'sb-does-not-exist'" in run.errors(5)[0]["evalue"]


def test_interrupt_stops_a_shell_command_and_the_sandbox_stays_usable(notebook, interrupt_when):
    run = notebook(
        [
            LOAD,
            "%oc_run echo started; sleep 30",
            PS_SLEEP,
            "%oc_run echo still usable",
        ],
        allow_errors=True,
        actions={1: interrupt_when(1, "started")},
    )
    assert run.errors(1)[0]["ename"] == "KeyboardInterrupt"
    assert run.text(2, "stdout").strip() == "0"
    assert run.text(3, "stdout") == "still usable\n"


def test_interrupt_stops_remote_python_and_keeps_its_names(notebook, interrupt_when):
    run = notebook(
        [
            LOAD,
            "%%oc_run\nkept = 'yes'",
            "%%oc_run\nimport time, subprocess\nprint('started', flush=True)\nsubprocess.run(['sleep', '30'])",
            PS_SLEEP,
            "%%oc_run\nprint('kept', kept)",
        ],
        allow_errors=True,
        actions={2: interrupt_when(2, "started")},
    )
    assert [e["ename"] for e in run.errors(2)] == ["KeyboardInterrupt"], run.outputs(2)
    assert run.text(3, "stdout").strip() == "0"
    assert run.text(4, "stdout") == "kept yes\n"


def test_sandboxes_are_listed_used_and_killed(notebook):
    run = notebook(
        [
            LOAD,
            "%oc_run echo hi",
            "sid = list(get_ipython().find_line_magic('oc_sandboxes').__self__.state.implicit)[0]; print(sid)",
            "%oc_sandboxes",
            "%oc_sandbox use {sid}",
            "%%oc_run --shell\necho in-current",
            "%oc_sandbox info {sid}",
            "%oc_sandbox kill {sid}",
            "%oc_run --sandbox {sid} true",
        ],
        allow_errors=True,
    )
    sid = run.text(2).strip()
    assert sid.startswith("sb-")
    assert sid in run.html(3) and "made here" in run.html(3)
    assert f"Using sandbox {sid}" in run.text(4)
    assert run.text(5, "stdout") == "in-current\n"
    assert sid in run.html(6)
    assert f"Killed sandbox {sid}" in run.text(7)
    assert run.errors(8)[0]["ename"] == "UsageError"


def test_snapshot_commands_and_table(notebook):
    run = notebook(
        [
            LOAD,
            "%%oc_image tiny --snapshot magics-test-snap\nrun echo tiny-build > /tiny.txt\n",
            "%oc_snapshots",
            "%oc_snapshot info magics-test-snap",
            "%oc_snapshot create magics-test-snap --image tiny",
            "%oc_run --snapshot magics-test-snap cat /tiny.txt",
            "%oc_snapshot delete magics-test-snap",
            "%oc_snapshot info magics-test-snap",
        ],
        allow_errors=True,
    )
    assert run.errors(1) == [], run.outputs(1)
    table = run.html(2)
    assert "magics-test-snap" in table and "ready" in table
    assert "magics-test-snap" in run.html(3)
    assert run.errors(4) == [], run.outputs(4)
    assert "Snapshot 'magics-test-snap' is already built from this image; nothing to do." in run.text(4, "stdout")
    assert "cache hit, 1 step already built" in run.html(4)
    assert run.text(5, "stdout") == "tiny-build\n"
    assert "Deleted snapshot 'magics-test-snap'" in run.text(6)
    assert run.errors(7)[0]["ename"] == "UsageError"


def test_build_widget_leaves_a_static_summary_and_no_key(notebook, local_server):
    # A recipe of its own each run, so the build really runs instead of being a cache hit.
    token = uuid.uuid4().hex[:8]
    run = notebook([LOAD, f"%%oc_image built --build\nrun echo widget-line-1; echo widget-line-2 {token}\n"])
    html = run.html(1)
    assert "Build image built" in html
    assert "done" in html and "cached" not in html
    state = json.dumps(run.nb.metadata.get("widgets", {}))
    assert local_server.key not in state


def test_build_failure_shows_the_failing_step(notebook):
    run = notebook(
        [LOAD, "%%oc_image failing --build\nrun echo fine\nrun echo going-wrong; exit 7\n"], allow_errors=True
    )
    (error,) = run.errors(1)
    assert error["ename"] == "UsageError" and "failed" in error["evalue"]
    html = run.html(1)
    assert "going-wrong" in html and "failed" in html


def test_text_mode_prints_the_build(notebook):
    token = uuid.uuid4().hex[:8]
    run = notebook(
        [LOAD, "%config OCJupyter.widgets = 'off'", f"%%oc_image textual --build\nrun echo text-mode-line {token}\n"]
    )
    out = run.text(2, "stdout")
    assert f"Step 1/1: run echo text-mode-line {token}" in out and f"text-mode-line {token}" in out
    assert "is built; sandbox" in out


def test_images_without_python_still_run_shell_commands(notebook):
    run = notebook(
        [
            LOAD,
            "%%oc_image nopy\nrun rm -f /usr/bin/python3* /usr/local/bin/python3*\n",
            "%oc_run --image nopy echo works without python; exit 0",
            "%%oc_run --image nopy\n1 + 1",
        ],
        allow_errors=True,
    )
    assert run.text(2, "stdout") == "works without python\n"
    (error,) = run.errors(3)
    assert error["ename"] == "UsageError" and "--shell" in error["evalue"]


def test_timeout_env_and_cwd(notebook):
    run = notebook(
        [
            LOAD,
            "%oc_run --timeout 1 echo begun; sleep 20",
            "%oc_run --env GREETING=hello --env WHO=world --cwd /tmp echo $GREETING $WHO; pwd",
            "%%oc_run --env MODE=remote --cwd /tmp\nimport os\nprint(os.environ['MODE'], os.getcwd())",
            "%%oc_run --timeout 1\nimport time\ntime.sleep(20)",
            "%%oc_run\nprint('python still here')",
        ],
        allow_errors=True,
    )
    assert run.errors(1)[0]["ename"] == "CommandTimedOut"
    assert run.text(2, "stdout") == "hello world\n/tmp\n"
    assert run.text(3, "stdout") == "remote /tmp\n"
    assert run.errors(4)[0]["ename"] == "CommandTimedOut"
    assert run.text(5, "stdout") == "python still here\n"


def test_interrupt_during_a_build_stops_it_and_the_kernel_goes_on(notebook, interrupt_when):
    import uuid

    marker = uuid.uuid4().hex[:8]
    run = notebook(
        [
            LOAD,
            f"%%oc_image slow --build\nrun echo build-{marker}-started; sleep 30\n",
            "%oc_run echo kernel fine",
        ],
        allow_errors=True,
        actions={1: interrupt_when(1, f"build-{marker}-started")},
        env_extra={"OC_JUPYTER_WIDGETS": "off"},
    )
    assert run.errors(1)[0]["ename"] == "KeyboardInterrupt"
    assert "Interrupted" in run.text(1, "stdout")
    assert run.text(2, "stdout") == "kernel fine\n"


def test_sandboxes_made_implicitly_die_with_the_kernel_unless_kept(notebook, sdk_config):
    from oc_jupyter.sdk import Sandbox, sync

    run = notebook(
        [
            LOAD,
            "%oc_run true",
            "%%oc_image kept_image\nrun echo keep-me > /kept.txt\n",
            "%oc_run --image kept_image --keep true",
            "st = get_ipython().find_line_magic('oc_run').__self__.state\n"
            "print(*sorted(sb.id for sb in st.sandboxes.values()))\nprint(*sorted(st.implicit))",
        ]
    )
    every, implicit = (line.split() for line in run.text(4).splitlines())
    (kept,) = set(every) - set(implicit)
    (dropped,) = implicit
    running = {info.sandbox_id for info in sync.run(Sandbox.list(config=sdk_config))}
    try:
        assert kept in running
        assert dropped not in running
    finally:
        sync.run(Sandbox(kept, sdk_config).kill())


def test_images_have_a_rich_repr(notebook):
    run = notebook([LOAD, "%%oc_image shown\nrun echo shown\n", "shown"])
    assert "cache key" in run.html(2) and "run echo shown" in run.html(2)


def test_rerunning_a_snapshot_cell_is_harmless_and_a_different_image_is_refused(notebook):
    recipe = "%%oc_image again --snapshot magics-rerun-snap\nrun echo rerun > /rerun.txt\n"
    run = notebook(
        [
            LOAD,
            "%config OCJupyter.widgets = 'off'",
            recipe,
            recipe,
            "%oc_snapshot create magics-rerun-snap --image again",
            "%%oc_image other\nrun echo other > /other.txt\n",
            "%oc_snapshot create magics-rerun-snap --image other",
            "%oc_snapshot delete magics-rerun-snap",
        ],
        allow_errors=True,
    )
    for cell in (2, 3, 4):
        assert run.errors(cell) == [], run.outputs(cell)
    for cell in (3, 4):
        out = run.text(cell, "stdout")
        assert "Snapshot 'magics-rerun-snap' is already built from this image; nothing to do." in out
        assert "Snapshot magics-rerun-snap: cache hit, 1 step already built" in out
    (error,) = run.errors(6)
    assert error["ename"] == "UsageError"
    assert error["evalue"].startswith("Snapshot 'magics-rerun-snap' already exists with a different image (hash ")
    assert error["evalue"].endswith("…); delete it with %oc_snapshot delete magics-rerun-snap or choose another name.")
    assert "Deleted snapshot 'magics-rerun-snap'" in run.text(7)


def test_creating_a_snapshot_that_is_still_building_follows_it(notebook):
    start_elsewhere = "\n".join(
        [
            "import threading, time",
            "from oc_jupyter.sdk import Snapshots, sync",
            "snaps = Snapshots()",
            "elsewhere = threading.Thread(target=lambda: sync.run(snaps.create('magics-follow-snap', slow)))",
            "elsewhere.start()",
            "from oc_jupyter.sdk import SnapshotNotFound",
            "deadline, status = time.monotonic() + 120, None",
            "while status != 'building':",
            "    assert time.monotonic() < deadline, f'the snapshot never showed building (last status {status!r})'",
            "    try:",
            "        status = sync.run(snaps.get('magics-follow-snap')).status",
            "    except SnapshotNotFound:",
            "        pass  # the other thread has not created it yet",
            "    assert status in (None, 'building'), f'the snapshot was {status!r} before it was seen building'",
            "    time.sleep(0.1)",
            "print('building elsewhere')",
        ]
    )
    run = notebook(
        [
            LOAD,
            "%config OCJupyter.widgets = 'off'",
            # A recipe of its own each run, so no earlier run's layer makes it a cache hit.
            f"%%oc_image slow\nrun sleep 4; echo slow > /slow.txt; echo {uuid.uuid4().hex}\n",
            start_elsewhere,
            "%oc_snapshot create magics-follow-snap --image slow",
            "elsewhere.join()",
            "%oc_run --snapshot magics-follow-snap cat /slow.txt",
            "%oc_snapshot delete magics-follow-snap",
        ],
        allow_errors=True,
    )
    assert run.text(3, "stdout") == "building elsewhere\n", run.outputs(3)
    assert run.errors(4) == [], run.outputs(4)
    out = run.text(4, "stdout")
    assert "is already building from this image; following it by polling its status" in out
    assert "Snapshot magics-follow-snap: built 1 step in " in out
    assert run.text(6, "stdout") == "slow\n"


def test_snapshot_info_is_a_compact_summary_without_file_contents(notebook):
    body = "secret-looking-payload " * 40
    run = notebook(
        [
            LOAD,
            "%config OCJupyter.widgets = 'off'",
            f"%%oc_image infoimg --snapshot magics-info-snap\nenv MODE=info\nfile /workspace/big.txt <<EOF\n{body}\nEOF\n",
            "%oc_snapshot info magics-info-snap",
            (
                "from oc_jupyter.magics.snapshots import SnapshotSummary\n"
                "from oc_jupyter.sdk import Snapshots, sync\n"
                "print(SnapshotSummary(sync.run(Snapshots().get('magics-info-snap')))._repr_html_())"
            ),
            "%oc_snapshot delete magics-info-snap",
        ],
        allow_errors=True,
    )
    assert run.errors(2) == [], run.outputs(2)
    text = run.text(3)
    first, *rest = text.strip().splitlines()
    assert first.startswith("Snapshot magics-info-snap: status ready, hash ")
    assert "created " in first and "last used " in first
    assert rest[0] == "  1. env MODE=info"
    assert rest[1].startswith("  2. add_file /workspace/big.txt (")
    assert any(line.startswith("    /workspace/big.txt (9") and line.endswith(" B)") for line in rest), rest
    html = run.text(4, "stdout")
    assert "magics-info-snap" in html and "env MODE=info" in html and "/workspace/big.txt" in html
    for shown in (text, html):
        assert "secret-looking-payload" not in shown and "c2VjcmV0" not in shown and "base64" not in shown
        assert len(shown) < 4000
