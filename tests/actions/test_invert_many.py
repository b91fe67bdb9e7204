"""Batch inversion (ganinv.actions.invert.invert_many): one batched optimisation, per-image results equal
to one-by-one ``invert`` calls, unreadable images skipped with their message, input order kept."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganinv.actions import invert as inv
from ganinv.latent import render
from ganinv.io import tensor_to_pil

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def samples(tmp_path_factory, dcgan) -> list[str]:
    folder = tmp_path_factory.mktemp("samples")
    with torch.no_grad():
        images = tensor_to_pil(render(dcgan, dcgan.sample_z(3, seed=7), "Z"))
    paths = [str(folder / f"s{i}.png") for i in range(3)]
    for im, p in zip(images, paths):
        im.save(p)
    return paths


def test_batched_results_match_one_by_one(samples, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    seen = []
    items = inv.invert_many([samples[0], str(broken), samples[1], samples[2]], method="optimize", steps=3,
                            identity=False, device="cpu", batch_size=8, on_result=seen.append)
    assert [it.source for it in items] == [samples[0], str(broken), samples[1], samples[2]]   # input order
    assert items[1].inversion is None and "not an image" in items[1].error
    assert {id(x) for x in seen} == {id(x) for x in items}                  # each reported once
    for it, path in zip([items[0], items[2], items[3]], samples):
        one = inv.invert(path, method="optimize", steps=3, identity=False, device="cpu")
        got = it.inversion
        assert got.settings["batch_size"] == 3 and got.latent.shape == one.latent.shape == (1, 100)
        assert torch.allclose(got.latent, one.latent, atol=1e-3), (got.latent - one.latent).abs().max()
        assert abs(got.metrics["psnr"] - one.metrics["psnr"]) < 0.01
        assert got.prepared.note == one.prepared.note


def test_batch_checks_settings_and_runs_other_methods_one_at_a_time(samples):
    with pytest.raises(ValueError, match="Batch size must be a whole number from 1 to 256"):
        inv.invert_many(samples, batch_size=0, device="cpu")
    items = inv.invert_many(samples[:2], method="encoder", identity=False, device="cpu")
    assert all(it.inversion.method == "encoder" and "batch_size" not in it.inversion.settings for it in items)


def test_face_pairs_pick_faces(astronaut, tmp_path):
    two = Image.new("RGB", (512 + 300, 512))
    two.paste(astronaut, (0, 0))
    two.paste(astronaut.resize((300, 300)), (512, 100))
    path = str(tmp_path / "two.png")
    two.save(path)
    items = inv.invert_many([(path, 0), (path, 1)], method="encoder", identity=False, device="cpu")
    assert [it.inversion.prepared.note[:11] for it in items] == ["face 1 of 2", "face 2 of 2"]
