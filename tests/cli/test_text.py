"""StyleCLIP commands with the tiny random CLIP (the maths without real weights)."""
from __future__ import annotations

import json
import re

import pytest
import torch
from PIL import Image

from ganinv.io import load_latent

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_CLIP = ("--clip", "tiny-random")


def test_text_edit_over_two_seeds_then_mapper_round_trip(cli, tmp_path, dcgan):
    r = cli("text-edit", "a smiling face", *TINY_CLIP, "--steps", 2, "--seeds", 0, 1, "--id-weight", 0,
            "--out", "te.png", "--save-latent", "te.npz", "--log", "te.json", "--quiet")
    assert r.code == 0, r.err
    assert [line.split(":")[0] for line in r.out.splitlines()[:2]] == ["image 0", "image 1"]
    assert "warning: CLIP has random weights" in r.err
    assert Image.open(tmp_path / "te.png").size == (2 * 64 + 2, 2 * 64 + 2)     # 2 seeds x (before, after)
    log = json.loads((tmp_path / "te.json").read_text())
    assert log["prompt"] == "a smiling face" and len(log["loss_history"]) == 2 and log["settings"]["num_steps"] == 2
    assert len(log["clip_distance_after"]) == 2
    lf = load_latent(str(tmp_path / "te.npz"), G=dcgan)
    assert lf.meta["styleclip"]["prompt"] == "a smiling face" and lf.space == "Z" and lf.latent.shape[0] == 2

    r = cli("train-mapper", "a smiling face", *TINY_CLIP, "--steps", 2, "--id-weight", 0, "--out", "m.safetensors",
            "--quiet")
    assert r.code == 0, r.err
    assert re.fullmatch(r"loss \d+\.\d{4} -> \d+\.\d{4} in 2 steps \(\d+ s\) -> m\.safetensors", r.out.strip())
    r = cli("apply-mapper", "m.safetensors", "--latents", "te.npz", "--strength", 0.5, "--out", "am.png",
            "--save-latent", "am.npz")
    assert r.code == 0, r.err
    assert r.out.startswith("mapper for 'a smiling face' (2 steps), strength 0.5, step norms [")
    assert Image.open(tmp_path / "am.png").size == (64, 2 * 64 + 2)
    assert cli("apply-mapper", "m.safetensors", "--latents", "te.npz", "--strength", 0, "--save-latent",
               "zero.npz").code == 0
    zero = load_latent(str(tmp_path / "zero.npz")).latent
    assert torch.equal(zero, lf.latent[:1])                 # a latent file gives its first code; alpha 0: unchanged


def test_text_edit_refuses_an_empty_prompt(cli):
    r = cli("text-edit", "  ", *TINY_CLIP)
    assert r.code == 2 and len(r.err_lines) == 1 and r.err_lines[0].startswith("error: Prompt")


@pytest.mark.parametrize("argv", [["global-edit", "face", "smiling face"], ["global-directions"]])
def test_global_commands_refuse_the_dcgan_before_loading_clip(cli, argv):
    """The default CLIP is absent offline: the StyleGAN2 message (not CLIP's) shows the check comes first."""
    r = cli(*argv)
    assert r.code == 2 and len(r.err_lines) == 1
    assert "need a StyleGAN2 model (StyleSpace S)" in r.err_lines[0]
