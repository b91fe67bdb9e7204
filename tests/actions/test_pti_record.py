"""Pivotal tuning through the action layer: the record carries the weight delta, every downstream
action renders with it, files keep it, and the shared model never changes."""
from __future__ import annotations

import pytest
import torch

from ganinv.actions import Source, edit, invert
from ganinv.actions.common import load_record
from ganinv.latent import render

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tuned(astronaut, dcgan):
    before = {k: v.clone() for k, v in dcgan.state_dict().items()}
    inv = invert.invert(astronaut, method="pti", steps=3, tune_steps=4, device="cpu", identity=False)
    return inv, before


def test_pti_gives_a_record_with_a_delta_and_leaves_the_shared_model_alone(tuned, dcgan):
    inv, before = tuned
    assert inv.method == "pti" and inv.delta and inv.record.delta is inv.delta
    assert all(torch.equal(before[k], v) for k, v in dcgan.state_dict().items())
    with torch.no_grad():
        base = render(dcgan, inv.latent, inv.space)
    assert (inv.image - base).abs().max() > 1e-3                  # the tuned generator draws something else


def test_edits_render_with_the_tuned_generator_from_the_session_and_from_the_file(tuned, dcgan, tmp_path):
    inv, before = tuned
    session = edit.edit(Source("session", record=inv.record), {"smile": 0.0}, score=False, device="cpu")
    torch.testing.assert_close(session.image, inv.image, atol=1e-5, rtol=0)   # strength 0 = the tuned render
    path = invert.save_record(str(tmp_path / "r.npz"), inv)
    rec = load_record(path, model=inv.model)
    assert set(rec.delta) == set(inv.delta) and rec.meta["method"] == "pti"
    from_file = edit.edit(Source("file", path=path), {"smile": 2.0}, score=False, device="cpu")
    from_record = edit.edit(Source("session", record=rec), {"smile": 2.0}, score=False, device="cpu")
    torch.testing.assert_close(from_file.image, from_record.image)
    fp32 = edit.edit(Source("session", record=inv.record), {"smile": 2.0}, score=False, device="cpu")
    assert (fp32.image - from_file.image).abs().max() < 0.02       # the fp16 delta in the file is close
    assert all(torch.equal(before[k], v) for k, v in dcgan.state_dict().items())


def test_an_edit_from_a_record_file_reads_the_file_once(tuned, tmp_path, monkeypatch):
    # its tuned weights, its latent and its alignment metadata all come from the one read
    from ganinv.io import latent_file as io
    inv, _ = tuned
    path = invert.save_record(str(tmp_path / "r.npz"), inv)
    reads = []
    real = io._read_delta
    monkeypatch.setattr(io, "_read_delta", lambda f, *a, **k: reads.append(path) or real(f, *a, **k))
    out = edit.edit(Source("file", path=path), {"smile": 2.0}, score=False, device="cpu")
    assert reads == [path] and out.image.shape == inv.image.shape
