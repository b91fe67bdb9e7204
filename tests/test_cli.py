import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "ganinv", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_models_lists_default_as_available():
    r = run_cli("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["celeba-dcgan-64"]["available"] is True
    assert rows["stylegan2-ffhq-1024"]["available"] is False


def test_invert_folder_writes_outputs_and_latent_reloads(tmp_path, astronaut, dcgan):
    src = tmp_path / "in"
    src.mkdir()
    astronaut.save(src / "astronaut.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (src / "notes.txt").write_text("ignored: not an image extension")
    out = tmp_path / "out"
    r = run_cli("invert", str(src), "--out", str(out), "--steps", "15", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "broken.jpg" in r.stderr
    for suffix in ("_recon.png", ".npz", "_metrics.json", "_loss.png", "_target.png"):
        assert (out / f"astronaut{suffix}").exists(), suffix
    metrics = json.loads((out / "astronaut_metrics.json").read_text())
    assert metrics["metrics"][0]["psnr"] > 5 and len(metrics["loss_history"]) == 15
    # The latent reloads and renders the saved reconstruction.
    from PIL import Image
    import numpy as np
    from ganinv.io import load_latent, tensor_to_pil
    from ganinv.latent import render
    lf = load_latent(str(out / "astronaut.npz"), G=dcgan)
    with torch.no_grad():
        img = np.asarray(tensor_to_pil(render(dcgan, lf.latent, lf.space)[0])).astype(int)
    saved = np.asarray(Image.open(out / "astronaut_recon.png")).astype(int)
    assert np.abs(img - saved).max() <= 1


def test_sample_and_error_exit_code(tmp_path):
    r = run_cli("sample", "--seeds", "3", "4", "--out", str(tmp_path))
    assert r.returncode == 0 and sorted(os.listdir(tmp_path)) == ["seed0003.png", "seed0004.png"]
    r = run_cli("sample", "--model", "no-such-model", "--out", str(tmp_path))
    assert r.returncode == 2 and "Unknown model" in r.stderr and "Traceback" not in r.stderr
