"""``ganinv invert`` stopped with Ctrl-C: no half-written result is left, earlier results stay whole, and the
user is told which; the expected time is printed on its own line."""
from __future__ import annotations

import functools

import pytest

from ganinv.actions import invert
from ganinv.actions.common import EXPECTED_TIME

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ctrl_c_while_saving_a_batch_keeps_nothing_of_that_image(cli, photos, tmp_path, tiny_model, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        (src / name).write_bytes(photos["astronaut"].read_bytes())
    real, calls = invert.save_record, []

    def interrupted_on_the_second(*args, **kwargs):
        """Ctrl-C arrives while b's files are being written (its PNGs are already on disk by then)."""
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(invert, "save_record", interrupted_on_the_second)
    r = cli("invert", src, "--out", "out", "--model", tiny_model, "--method", "optimize", "--steps", 2,
            "--align", "center", "--no-identity")
    assert r.code == 130
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["a.npz", "a_compare.png", "a_loss.png", "a_metrics.json", "a_recon.png", "a_target.png"])
    assert "stopped: nothing of the 1 images still running or waiting was written (the 1 inversions finished " \
           "before it are complete in out)" in r.err and r.err_lines[-1] == "error: interrupted"


def test_ctrl_c_during_the_inversion_writes_nothing(cli, photos, tmp_path, tiny_model, monkeypatch):
    real = invert.invert

    @functools.wraps(real)                          # the CLI reads the action's signature for its options
    def interrupted(*args, progress=None, **kwargs):
        def ctrl_c(f, m):
            progress(f, m)
            if m.startswith(EXPECTED_TIME):
                raise KeyboardInterrupt
        return real(*args, progress=ctrl_c, **kwargs)
    monkeypatch.setattr(invert, "invert", interrupted)
    r = cli("invert", photos["astronaut"], "--out", "out", "--model", tiny_model, "--steps", 500, "--tune-steps",
            500, "--align", "center", "--no-identity")
    assert r.code == 130
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert any(line.startswith(f"{EXPECTED_TIME}: about ") for line in r.err_lines)      # its own line
    assert "stopped: nothing of astronaut.png was written" in r.err
    assert r.err_lines[-1] == "error: interrupted"
