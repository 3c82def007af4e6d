"""The build-log widget fed by real builds of the local server, through the SDK and the magics' build path."""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import threading
import time
import tracemalloc
import uuid

import pytest
from IPython.core.error import UsageError

from oc_jupyter.magics.settings import OCJupyter
from oc_jupyter.magics.snapshots import create_snapshot
from oc_jupyter.magics.state import NotebookState
from oc_jupyter.sdk import Config, Image, Snapshots, sync
from oc_jupyter.widgets import BuildLogWidget

LINES = 1_000_000


def _state(config: Config) -> NotebookState:
    state = NotebookState(OCJupyter())
    state._config = config
    return state


def _forget_image(content_hash: str) -> None:
    """Remove the one-off image a test built (its tag is unique to the test)."""
    engine = shutil.which("podman") or shutil.which("docker")
    if engine:
        subprocess.run([engine, "rmi", "-f", f"localhost/oc-jupyter/layer:{content_hash}"], capture_output=True)


class CuttingProxy:
    """A TCP relay in front of the local server that hangs up on the client once a marker has passed.

    The client's connection really drops mid-stream (its socket is shut down),
    while the server and the build behind it carry on; later connections, such
    as the client polling for the outcome, are relayed untouched.
    """

    def __init__(self, target_url: str, marker: bytes) -> None:
        host, port = target_url.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.marker = marker
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if watch and self.cuts == 0 and self.marker in data:
                    self.cuts += 1
                    break
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


@pytest.mark.slow
def test_a_million_line_build_streams_into_the_widget_with_kernel_memory_bounded(sdk_config):
    """The whole kernel-side path (SDK stream, event queue, widget) holds 1,000,000 lines in under 50 MB."""
    nonce = uuid.uuid4().hex[:12]
    image = Image.base().run_commands(f"seq {LINES}  # {nonce}")
    name = f"widget-1m-{nonce}"
    state = _state(sdk_config)
    view = BuildLogWidget(f"Snapshot {name}", image=image, mode="on", display_now=False)
    gc.collect()
    tracemalloc.start()
    started = time.monotonic()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        info = create_snapshot(state, name, image, view=view)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        seconds = time.monotonic() - started
        try:
            sync.run(Snapshots(config=sdk_config).delete(name))
        finally:
            _forget_image(image.cache_key())
    print(
        f"\n1,000,000-line build: {seconds:.0f} s, kernel memory peak +{(peak - before) / 1e6:.1f} MB, "
        f"+{(current - before) / 1e6:.1f} MB after; log stored in {view.log.stored_bytes / 1e6:.1f} MB"
    )
    assert info.status == "ready"
    assert view.progress.status == "done"
    assert view.progress.output_lines == LINES
    assert peak - before < 50 * 1024 * 1024, f"kernel memory grew by {(peak - before) / 1e6:.1f} MB at its peak"
    # Every line is kept, in order, and the live tail stayed bounded.
    log = iter(view.log)
    assert next(log) == f"Step 1/1: run seq {LINES}  # {nonce}"
    assert all(next(log) == str(i) for i in range(1, LINES + 1))
    assert next(log).startswith(f"Step 1/1: run seq {LINES}  # {nonce} done")
    assert len(view.progress.tail) == 200 and view.progress.tail[-1] == str(LINES)
    assert view.tail_view.value.count("\n") < 250


@pytest.mark.slow
@pytest.mark.parametrize("outcome", ["ready", "failed"])
def test_stream_dropped_mid_build_shows_reattaching_then_the_final_state(sdk_config, outcome):
    nonce = uuid.uuid4().hex[:12]
    ending = "echo second-$N" if outcome == "ready" else "echo second-$N; exit 3"
    image = Image.base().run_commands(f"N={nonce}; echo first-$N; sleep 4; {ending}")
    name = f"widget-drop-{nonce}"
    proxy = CuttingProxy(sdk_config.api_url, f"first-{nonce}".encode())
    state = _state(Config(proxy.url, sdk_config.api_key))
    view = BuildLogWidget(f"Snapshot {name}", image=image, mode="on", display_now=False)
    titles: list[str] = []  # every state update the front end would receive for the title line
    view.title_view.observe(lambda change: titles.append(change["new"]), "value")
    try:
        if outcome == "ready":
            info = create_snapshot(state, name, image, view=view)
            assert info.status == "ready"
        else:
            with pytest.raises(UsageError, match=f"Snapshot {name!r} failed to build"):
                create_snapshot(state, name, image, view=view)
    finally:
        proxy.close()
        try:
            sync.run(Snapshots(config=sdk_config).delete(name))
        finally:
            _forget_image(image.cache_key())
    assert proxy.cuts == 1
    lines = list(view.log)
    # The stream really dropped mid-build: the first line came through it, the last one never did.
    assert f"first-{nonce}" in lines and f"second-{nonce}" not in lines
    note = f"The build stream dropped; following snapshot {name!r} by polling its status until the build ends."
    assert view.progress.notes == [note]
    assert f"[oc_jupyter] {note}" in lines
    assert any(">reattaching</span>" in title for title in titles)
    assert "polling its status" in view.notes_view.value
    final = "done" if outcome == "ready" else "failed"
    assert view.progress.status == final
    assert [s.state for s in view.progress.steps] == [final]
    assert note in view._repr_html_().replace("&#x27;", "'")
