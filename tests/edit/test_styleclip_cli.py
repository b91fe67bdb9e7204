"""StyleCLIP CLI subcommands (registered on a bare parser; the lead wires them into ganinv.cli)."""
from __future__ import annotations

import argparse
import json

import pytest
from PIL import Image

from ganinv.edit.clip_commands import register
from ganinv.edit.styleclip_global import GlobalDirectionUnsupported


def run(*argv: str) -> int:
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(list(argv))
    return args.func(args)


def test_subcommands_are_registered():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    register(sub)
    assert {"text-edit", "train-mapper", "apply-mapper", "global-directions", "global-edit"} <= set(sub.choices)


def test_text_edit_then_mapper_round_trip(tmp_path, capsys):
    out, lat, log = tmp_path / "te.png", tmp_path / "te.npz", tmp_path / "te.json"
    assert run("text-edit", "a smiling face", "--clip", "tiny-random", "--device", "cpu", "--steps", "2",
               "--seeds", "0", "1", "--id-weight", "0", "--out", str(out), "--save-latent", str(lat),
               "--log", str(log), "--quiet") == 0
    assert Image.open(out).size[0] > 64                                   # 2 columns x 2 rows grid
    summary = json.loads(log.read_text())
    assert summary["prompt"] == "a smiling face" and len(summary["loss_history"]) == 2
    mapper = tmp_path / "m.safetensors"
    assert run("train-mapper", "a smiling face", "--clip", "tiny-random", "--device", "cpu", "--steps", "2",
               "--id-weight", "0", "--out", str(mapper), "--quiet") == 0
    assert run("apply-mapper", str(mapper), "--device", "cpu", "--latents", str(lat), "--strength", "0.5",
               "--out", str(tmp_path / "am.png")) == 0
    assert "strength 0.5" in capsys.readouterr().out


def test_global_commands_refuse_the_dcgan_before_loading_clip():
    with pytest.raises(GlobalDirectionUnsupported, match="StyleGAN2"):
        run("global-edit", "face", "smiling face", "--device", "cpu")        # default CLIP is absent offline
    with pytest.raises(GlobalDirectionUnsupported):
        run("global-directions", "--device", "cpu")
