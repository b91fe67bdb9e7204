"""models, sample, restore, and the ``python -m ganinv`` entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from ganinv.actions import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.usefixtures("one_thread")


def test_entry_point_lists_models_as_json():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "ganinv", "models", "--json"], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["celeba-dcgan-64"]["available"] is True
    assert rows["stylegan2-ffhq-1024"]["available"] is False


def test_models_table(cli):
    r = cli("models")
    assert r.code == 0 and r.out.splitlines()[0].split()[:3] == ["name", "family", "res"]
    rows = [line.split() for line in r.out.splitlines()]
    assert any(row[:2] == ["celeba-dcgan-64", "dcgan"] and "yes" in row for row in rows)


def test_sample_writes_the_python_images(cli, tmp_path):
    r = cli("sample", "--seeds", 3, 4, "--out", "s")
    assert r.code == 0, r.err
    assert r.out.split() == ["s/seed0003.png", "s/seed0004.png"]
    want = models.sample([3, 4])
    for seed, img in zip((3, 4), want):
        assert Image.open(tmp_path / "s" / f"seed{seed:04d}.png").tobytes() == img.tobytes()


def test_sample_unknown_model(cli, tmp_path):
    r = cli("sample", "--model", "no-such-model", "--out", "s")
    assert r.code == 2 and len(r.err_lines) == 1 and r.err_lines[0].startswith("error: Unknown model 'no-such-model'")
    assert "Traceback" not in r.err and not (tmp_path / "s").exists()


@pytest.mark.parametrize("task", ["inpaint", "colorize", "superres"])
def test_restore_every_task(cli, photos, tmp_path, task):
    r = cli("restore", task, photos["astronaut"], "--steps", 2, "--codes", 2, "--out", "r", "--quiet")
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "r" / f"astronaut-{task}.png").size == (2 * 64 + 2, 64)   # degraded | restored
    assert "vs the undegraded input" in r.out and "2 codes at layer" in r.out


def test_restore_with_a_mask_file(cli, photos, tmp_path):
    mask = Image.new("L", (512, 512), 255)
    mask.paste(0, (0, 0, 512, 256))                                     # top half unknown
    mask.save(tmp_path / "mask.png")
    r = cli("restore", "inpaint", photos["astronaut"], "--mask", "mask.png", "--steps", 2, "--codes", 2, "--out", "r",
            "--quiet")
    assert r.code == 0, r.err
    sheet = Image.open(tmp_path / "r" / "astronaut-inpaint.png").convert("L")
    degraded_top = sheet.crop((0, 0, 64, 32)).getextrema()
    assert degraded_top[1] <= 130                                       # the hole shows as mid-grey (0 in [-1, 1])
    r = cli("restore", "inpaint", photos["astronaut"], "--mask", "mask.png", "--align", "face", "--out", "r2")
    assert r.code == 2 and "centre crop" in r.err_lines[0] and not (tmp_path / "r2").exists()
