"""Bounded cell output: the head and the tail are shown, the whole output is saved privately."""

from __future__ import annotations

import gzip
import os
import re
import stat
from pathlib import Path

from oc_jupyter.magics.output import OutputWriter


def test_output_within_the_head_is_shown_whole_and_saves_nothing(capsys):
    w = OutputWriter(head=100, tail=10)
    w.write("stdout", "a" * 60)
    w.write("stderr", "b" * 40)
    w.close()
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("a" * 60, "b" * 40)
    assert w.spool_path is None


def test_a_flood_shows_head_note_and_tail_and_saves_everything(capsys):
    w = OutputWriter(head=100, tail=30, clean=lambda text: text.replace("\x1b", ""))
    written = []
    for i in range(1000):
        chunk = f"line {i:04d}\x1b\n"
        written.append(chunk)
        w.write("stderr" if i == 500 else "stdout", chunk)  # the stderr line falls in the cut
    w.close()
    captured = capsys.readouterr()
    whole = "".join(written)
    assert captured.out.startswith(whole[:100].replace("\x1b", ""))
    assert captured.out.endswith(whole[-30:].replace("\x1b", ""))
    (note,) = re.findall(r"\[oc_jupyter: ([\d,]+) characters of output cut here.*zcat (\S+) \| less\]", captured.err)
    assert int(note[0].replace(",", "")) == len(whole) - 100 - 30
    path = note[1]
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        # The file keeps the sandbox's bytes as they came (only the notebook's copy is cleaned).
        assert gzip.decompress(Path(path).read_bytes()).decode() == whole
    finally:
        os.unlink(path)
