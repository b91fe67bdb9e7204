"""atomic_write: readers never see a torn file, two writers never share a temp file, a failure changes nothing."""
from __future__ import annotations

import os

import pytest

from ganinv.atomic import atomic_write


def test_two_writers_get_their_own_temp_files_and_the_last_one_wins(tmp_path):
    path = str(tmp_path / "sub" / "d.json")
    with atomic_write(path) as a, atomic_write(path) as b:
        assert a != b and a.endswith(".json") and os.path.dirname(a) == os.path.dirname(path)
        open(a, "w").write("a")
        open(b, "w").write("b")
    assert open(path).read() == "a" and os.listdir(os.path.dirname(path)) == ["d.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "d.npy"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(str(path)) as tmp:
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["d.npy"]
