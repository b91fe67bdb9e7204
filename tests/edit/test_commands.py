"""The editing subcommands, run through a parser built with ``register``."""
import argparse

import pytest
from PIL import Image

from ganinv.edit import commands, list_directions
from installed import require


def run(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    commands.register(sub)
    args = p.parse_args(argv)
    return args.func(args)


def test_registers_all_subcommands():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    commands.register(sub)
    assert {"train-boundary", "edit", "discover", "morph", "mix"} <= set(sub.choices)


def test_edit_list_and_apply(tmp_path, capsys):
    assert run(["edit", "--list", "--device", "cpu"]) == 0
    assert "smile" in capsys.readouterr().out
    out = tmp_path / "e.png"
    assert run(["edit", "--device", "cpu", "--seeds", "3", "--direction", "smile=2", "yaw=-1",
                "--out", str(out), "--save-latent", str(tmp_path / "e.npz")]) == 0
    assert Image.open(out).size == (64, 64) and (tmp_path / "e.npz").exists()
    strip = tmp_path / "s.png"
    assert run(["edit", "--device", "cpu", "--seeds", "3", "--direction", "smile=3", "--without", "yaw",
                "--sweep", "5", "--out", str(strip)]) == 0
    assert Image.open(strip).width > 5 * 64


def test_discover_saves_directions_and_a_preview(tmp_path):
    assert run(["discover", "--device", "cpu", "--method", "sefa", "--num", "2", "--out", str(tmp_path)]) == 0
    found = list_directions("celeba-dcgan-64", root=str(tmp_path))
    assert [d.name for d in found] == ["sefa-00", "sefa-01"]
    assert (tmp_path / "celeba-dcgan-64-sefa-preview.png").exists()


def test_morph_and_mix(tmp_path):
    gif = tmp_path / "m.gif"
    assert run(["morph", "--device", "cpu", "--seeds", "1", "2", "--frames", "4", "--out", str(gif)]) == 0
    assert Image.open(gif).n_frames == 4
    for mode in ("feature", "expression"):
        out = tmp_path / f"{mode}.png"
        assert run(["mix", "--device", "cpu", "--mode", mode, "--seeds", "1", "2", "3", "--out", str(out)]) == 0
        assert Image.open(out).width > 3 * 64


def test_layer_crossover_on_dcgan_is_a_clear_error(tmp_path):
    from ganinv.edit.mixing import CrossoverError
    with pytest.raises(CrossoverError, match="W\\+"):
        run(["mix", "--device", "cpu", "--mode", "crossover", "--seeds", "1", "2", "--out", str(tmp_path / "x.png")])


def test_train_boundary_small(tmp_path, capsys):
    require("mediapipe", "requirements-nodeps.txt")
    assert run(["train-boundary", "--device", "cpu", "--attribute", "smile", "--scorer", "landmarker",
                "--samples", "120", "--quiet", "--out", str(tmp_path)]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    (d,) = list_directions("celeba-dcgan-64", root=str(tmp_path))
    assert d.attribute == "smile" and d.num_samples == 120
