"""Every numeric option with a non-finite, malformed or out-of-range value: exit status 2, one line
naming the option, nothing written (the action's check is the one home of the range)."""
from __future__ import annotations

import os

import pytest

PHOTO = "{astronaut}"                           # replaced by the photo's path
OUT = {"morph": "out/m.gif", "edit": "out/e.png", "mix": "out/x.png", "text-edit": "out/t.png",
       "global-edit": "out/g.png", "train-encoder": "out/e.safetensors", "train-mapper": "out/m.safetensors",
       "global-directions": "out/g.safetensors", "apply-mapper": "out/a.png"}   # others: an output folder

CASES = [
    # edit strengths: NAME=VALUE parsed by the CLI, checked by the action
    (["edit", "--direction", "smile=nan"], "Strength of 'smile' must be a number from -10 to 10, got nan"),
    (["edit", "--direction", "smile=inf"], "got inf"),
    (["edit", "--direction", "smile=-inf"], "got -inf"),
    (["edit", "--direction", "smile=1e308"], "got 1e308"),
    (["edit", "--direction", "smile=11"], "from -10 to 10, got 11"),
    (["edit", "--direction", "smile=abc"], "Strength of 'smile' must be a number, got 'abc'"),
    (["edit", "--direction", "smile="], "Strength of 'smile' must be a number, got ''"),
    (["edit", "--direction", "smile=2", "yaw=nan"], "Strength of 'yaw'"),
    (["edit", "--direction", "smile=2", "--sweep", "1"], "Strip frames must be a whole number from 2 to 25"),
    (["edit", "--direction", "smile=2", "--sweep", "nan"], "Strip frames"),
    (["edit", "--direction", "smile=nan", "--sweep", "5"], "Strip range"),
    (["edit", "--seeds", "-1", "--direction", "smile=1"], "input: seed must be a whole number from 0 to 4294967295"),
    (["edit", "--seeds", "1e400", "--direction", "smile=1"], "input: seed"),
    # invert and its aliases
    (["invert", PHOTO, "--steps", "nan"], "Steps must be a whole number from 1 to 1000, got nan"),
    (["invert", PHOTO, "--steps", "0"], "Steps"),
    (["invert", PHOTO, "--steps", "1e9"], "Steps"),
    (["invert", PHOTO, "--steps", "2.5"], "Steps"),
    (["invert", PHOTO, "--perceptual-weight", "inf"], "Perceptual weight"),
    (["invert", PHOTO, "--restarts", "99"], "Restarts"),
    (["invert", PHOTO, "--seed", "-1"], "Seed"),
    (["invert", PHOTO, "--face", "1e3"], "Face index"),
    (["invert", PHOTO, "--face", "-1"], "Face index"),
    (["invert", PHOTO, "--codes", "0"], "Codes N"),
    (["invert", PHOTO, "--l-dom", "nan"], "Domain weight"),
    (["invert", PHOTO, "--lr", "inf"], "Learning rate"),
    (["invert", PHOTO, "--latent-steps", "0"], "Latent steps"),
    (["invert", PHOTO, "--l-reg", "-1"], "Feature regulariser weight"),
    (["invert-hybrid", PHOTO, "--l-dom", "1e308"], "Domain weight"),
    (["invert-layerwise", PHOTO, "--steps", "-inf"], "Steps"),
    (["train-encoder", "--steps", "nan"], "Steps"),
    (["train-encoder", "--lr", "inf"], "Learning rate"),
    (["train-encoder", "--minutes", "-1"], "Minutes"),
    (["train-encoder", "--batch", "0"], "Batch"),
    (["train-encoder", "--l-adv", "nan"], "Adversarial weight"),
    # models
    (["sample", "--seeds", "nan"], "Seeds must be whole numbers"),
    (["sample", "--seeds", "-3"], "Seed must be a whole number from 0"),
    (["sample", "--truncation", "inf"], "Truncation psi"),
    (["sample", "--seeds", *map(str, range(17))], "At most 16 seeds"),
    # discover, mix
    (["discover", "--strength", "inf"], "Strip range"),
    (["discover", "--strength", "-1e3"], "Strip range must be a number from -10 to 10, got -1e3"),
    (["discover", "--num", "0"], "Number of components"),
    (["discover", "--method", "ganspace", "--samples", "nan"], "GANSpace samples"),
    (["discover", "--preview-seed", "nan"], "preview: seed"),
    (["morph", "--frames", "1e308"], "Number of frames"),
    (["morph", "--fps", "0"], "Frames per second"),
    (["morph", "--min-size", "nan"], "Minimum size"),
    (["morph", "--invert-steps", "inf"], "Inversion steps for photos"),
    (["mix", "--fraction", "nan"], "Fraction from B"),
    (["mix", "--seed", "inf"], "Seed"),
    (["mix", "--mode", "expression", "--strength", "inf"], "Lambda"),
    (["mix", "--mode", "expression", "--threshold", "-1"], "Threshold"),
    (["diffuse", PHOTO, PHOTO, "--box", "nan"], "Pasted box"),
    (["diffuse", PHOTO, PHOTO, "--feather", "-1"], "Feather"),
    (["diffuse", PHOTO, PHOTO, "--steps", "0"], "Evaluations"),
    (["diffuse", PHOTO, PHOTO, "--l-dom", "inf"], "Domain weight"),
    # restore
    (["restore", "inpaint", PHOTO, "--hole", "2"], "Hole"),
    (["restore", "inpaint", PHOTO, "--steps", "nan"], "Steps"),
    (["restore", "superres", PHOTO, "--factor", "1e9"], "Factor"),
    (["restore", "colorize", PHOTO, "--codes", "inf"], "Codes N"),
    # text (the tiny random CLIP; every check runs before CLIP is loaded)
    (["text-edit", "a smiling face", "--clip", "tiny-random", "--steps", "nan"], "Steps"),
    (["text-edit", "a smiling face", "--clip", "tiny-random", "--lr", "inf"], "Learning rate"),
    (["text-edit", "a smiling face", "--clip", "tiny-random", "--id-weight", "-1"], "λ_ID"),
    (["train-mapper", "a smiling face", "--clip", "tiny-random", "--steps", "0"], "Mapper steps"),
    (["train-mapper", "a smiling face", "--clip", "tiny-random", "--seed", "nan"], "Seed"),
    (["train-mapper", "a smiling face", "--clip", "tiny-random", "--truncation", "inf"], "Truncation"),
    (["apply-mapper", "m.safetensors", "--strength", "nan"], "Mapper strength"),
    (["global-directions", "--images", "nan"], "Images per channel"),
    (["global-directions", "--perturb", "inf"], "Perturbation"),
    (["global-directions", "--max-channels", "0"], "Max channels"),
    (["global-edit", "face", "smiling face", "--alpha", "inf"], "α"),
    (["global-edit", "face", "smiling face", "--beta", "2"], "β"),
    # train-boundary
    (["train-boundary", "--fraction", "nan"], "Fraction"),
    (["train-boundary", "--samples", "1e9"], "Samples N"),
    (["train-boundary", "--seed", "-1"], "Seed"),
]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(a[:4]) for a, _ in CASES])
def test_bad_number_exits_2_with_one_line_and_writes_nothing(cli, photos, tmp_path, argv, fragment):
    argv = [str(photos["astronaut"]) if a == PHOTO else a for a in argv]
    r = cli(*argv, "--out", OUT.get(argv[0], "out"))
    assert r.code == 2, r.err
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith("error: "), r.err
    assert fragment in r.err_lines[0]
    assert r.out == "" and os.listdir(tmp_path) == []
