"""invert (every method through one action), its aliases, faces and train-encoder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganinv.actions import invert
from ganinv.io import load_latent, tensor_to_pil
from ganinv.latent import render

pytestmark = pytest.mark.usefixtures("one_thread")
FILES = ["{}.npz", "{}_compare.png", "{}_loss.png", "{}_metrics.json", "{}_pasted.png", "{}_recon.png",
         "{}_target.png"]


def rendered(G, npz) -> np.ndarray:
    lf = load_latent(str(npz), G=G)
    with torch.no_grad():
        return np.asarray(tensor_to_pil(render(G, lf.latent, lf.space, noise_mode="const")[0])).astype(int)


def test_invert_folder_writes_every_file_and_skips_broken_images(cli, photos, tmp_path, dcgan):
    src = tmp_path / "in"
    src.mkdir()
    Image.open(photos["astronaut"]).save(src / "astronaut.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (src / "notes.txt").write_text("ignored: not an image extension")
    r = cli("invert", src, "--out", "out", "--method", "optimize", "--steps", 3, "--perceptual-weight", 0,
            "--no-identity")
    assert r.code == 0, r.err
    assert "skipped" in r.err and "broken.jpg" in r.err and "notes.txt" not in r.err
    assert "%" in r.err                                     # the tqdm bar, on stderr
    assert r.out.strip().endswith("-> out/astronaut.npz")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.format("astronaut") for f in FILES)
    m = json.loads((tmp_path / "out" / "astronaut_metrics.json").read_text())
    assert (m["model"], m["method"], m["space"]) == ("celeba-dcgan-64", "optimize", "Z")
    assert m["settings"]["steps"] == 3 and m["settings"]["perceptual_weight"] == 0 and len(m["loss_history"]) == 3
    assert m["preparation"].startswith("face 1 of 1 aligned") and "identity_distance" not in m["metrics"][0]
    saved = np.asarray(Image.open(tmp_path / "out" / "astronaut_recon.png")).astype(int)
    assert np.abs(rendered(dcgan, tmp_path / "out" / "astronaut.npz") - saved).max() <= 1


def test_default_method_keeps_the_person_with_a_tuned_generator(cli, photos, tmp_path, dcgan):
    """Without --method: PTI (pivot + tuned weights in the record); the record renders the saved reconstruction."""
    r = cli("invert", photos["astronaut"], "--steps", 5, "--tune-steps", 20, "--out", "out", "--quiet")
    assert r.code == 0, r.err
    assert "ArcFace similarity" in r.out and "dlib distance" in r.out
    m = json.loads((tmp_path / "out" / "astronaut_metrics.json").read_text())
    assert m["method"] == "pti" and m["settings"]["tune_steps"] == 20
    record = load_latent(str(tmp_path / "out" / "astronaut.npz"), G=dcgan)
    assert record.delta, "a PTI record carries the tuned weights"
    saved = np.asarray(Image.open(tmp_path / "out" / "astronaut_recon.png")).astype(int)
    untuned = rendered(dcgan, tmp_path / "out" / "astronaut.npz")
    assert np.abs(untuned - saved).mean() > 2           # the shared model alone draws another image


def test_all_images_broken_exits_1(cli, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"nope")
    r = cli("invert", "broken.png", "--quiet")
    assert r.code == 1 and r.err_lines[0].startswith("skipped broken.png:")
    assert not (tmp_path / "inversions").exists()


def test_method_encoder_is_the_python_call(cli, photos, tmp_path, dcgan):
    r = cli("invert", photos["astronaut"], "--method", "encoder", "--out", "out", "--no-identity", "--quiet")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "out" / "astronaut_metrics.json").read_text())
    assert m["method"] == "encoder" and m["loss_history"] == []
    assert not (tmp_path / "out" / "astronaut_loss.png").exists()          # one pass: no loss curve
    same = invert.invert(str(photos["astronaut"]), method="encoder", identity=False, device="cpu")
    assert torch.equal(load_latent(str(tmp_path / "out" / "astronaut.npz"), G=dcgan).latent, same.latent)


def test_face_all_writes_one_record_per_face(cli, photos, tmp_path, dcgan):
    r = cli("invert", photos["two"], "--method", "encoder", "--face", "all", "--out", "out", "--no-identity",
            "--quiet")
    assert r.code == 0, r.err
    out = tmp_path / "out"
    notes = [json.loads((out / f"two-face{i}_metrics.json").read_text())["preparation"] for i in (0, 1)]
    assert notes[0].startswith("face 1 of 2") and notes[1].startswith("face 2 of 2")
    assert not (out / "two.npz").exists() and not (out / "two-face2.npz").exists()
    a, b = (load_latent(str(out / f"two-face{i}.npz"), G=dcgan).latent for i in (0, 1))
    assert not torch.allclose(a, b)
    # the second face alone gives the same code
    r = cli("invert", photos["two"], "--method", "encoder", "--face", 1, "--out", "one", "--no-identity", "--quiet")
    assert torch.equal(load_latent(str(tmp_path / "one" / "two.npz"), G=dcgan).latent, b)


def test_aliases_keep_their_file_names(cli, photos, tmp_path):
    p = photos["astronaut"]
    assert cli("encode", p, "--no-identity", "--quiet").code == 0
    assert cli("invert-hybrid", p, "--steps", 2, "--no-identity", "--quiet").code == 0
    assert cli("invert-layerwise", p, "--steps", 2, "--layer", "layer2", "--no-identity", "--quiet").code == 0
    out = tmp_path / "outputs"
    for stem in ("astronaut-encoded", "astronaut-hybrid"):
        assert (out / f"{stem}.npz").exists() and (out / f"{stem}.png").exists()
    assert (out / "astronaut-layerwise.png").exists() and not (out / "astronaut-layerwise.npz").exists()
    settings = {s: json.loads((out / f"astronaut-{s}_metrics.json").read_text()) for s in ("hybrid", "layerwise")}
    assert settings["hybrid"]["method"] == "hybrid" and settings["hybrid"]["settings"]["optimizer"] == "lbfgs"
    assert settings["layerwise"]["settings"]["layer"] == "layer2" and settings["layerwise"]["settings"]["steps"] == 2


def test_faces_prints_json_of_every_face(cli, photos):
    r = cli("faces", photos["astronaut"])
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert (data["width"], data["height"], len(data["faces"])) == (512, 512, 1)
    face = data["faces"][0]
    left, top, right, bottom = face["box"]
    assert 150 < left < right < 300 and 50 < top < bottom < 200        # her face: upper middle of the photo
    assert face["index"] == 0 and face["score"] > 0 and len(face["landmarks"]) == 68
    assert all(left - 20 <= x <= right + 20 and top - 30 <= y <= bottom + 20 for x, y in face["landmarks"])
    two = json.loads(cli("faces", photos["two"]).out)["faces"]
    assert [f["index"] for f in two] == [0, 1] and two[0]["box"][0] < 512 < two[1]["box"][0]   # largest first


def test_train_encoder_then_resume_then_encode(cli, photos, tmp_path):
    r = cli("train-encoder", "--steps", 2, "--batch", 2, "--eval-samples", 0, "--out", "enc/e.safetensors",
            "--quiet")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == "enc/e.safetensors" and json.loads(r.out[:r.out.rindex("}") + 1]) == {}
    config = json.loads((tmp_path / "enc" / "e.json").read_text())
    assert config["steps_done"] == 2 and config["model"] == "celeba-dcgan-64"
    r = cli("train-encoder", "--steps", 3, "--batch", 2, "--eval-samples", 0, "--out", "enc/e.safetensors",
            "--resume", "--quiet")
    assert r.code == 0 and json.loads((tmp_path / "enc" / "e.json").read_text())["steps_done"] == 3
    r = cli("encode", photos["astronaut"], "--encoder", "enc/e.safetensors", "--no-identity", "--quiet")
    assert r.code == 0 and (tmp_path / "outputs" / "astronaut-encoded.npz").exists()


def test_folder_is_inverted_in_batches_with_todays_file_names(cli, photos, tmp_path, dcgan):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("astronaut", "two"):
        Image.open(photos[name]).save(src / f"{name}.png")
    r = cli("invert", src, "--out", "out", "--method", "optimize", "--steps", 2, "--no-identity", "--batch-size", 2)
    assert r.code == 0, r.err
    assert "%" in r.err                                     # one tqdm bar for the batch, on stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(f.format(n) for n in ("astronaut", "two") for f in FILES)
    m = json.loads((out / "two_metrics.json").read_text())
    assert m["settings"]["batch_size"] == 2 and len(m["loss_history"]) == 2
    assert r.out.count("PSNR") == 2
    saved = np.asarray(Image.open(out / "two_recon.png")).astype(int)
    assert np.abs(rendered(dcgan, out / "two.npz") - saved).max() <= 1
    r = cli("invert", src, "--out", "out", "--method", "optimize", "--batch-size", 0, "--quiet")
    assert r.code == 2 and r.err_lines == ["error: Batch size must be a whole number from 1 to 256, got 0."]
