"""``ganinv evaluate``: the summary on stdout and the tables written, a rerun that only reads, and the
one-line install hint when Ray is missing."""
from __future__ import annotations

import os
import sys

import pytest
import torch

from ganinv.io import tensor_to_pil
from ganinv.latent import render
from ganinv.registry import load_generator

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def samples(tiny_model, tmp_path):
    G = load_generator(tiny_model, "cpu")
    folder = tmp_path / "samples"
    folder.mkdir()
    with torch.no_grad():
        for i, im in enumerate(tensor_to_pil(render(G, G.mapping(G.sample_z(3, seed=5)), "W"))):
            im.save(folder / f"img{i}.png")
    return folder


def test_evaluate_prints_the_summary_and_resumes(cli, samples, tiny_model):
    argv = ("evaluate", samples, "--model", tiny_model, "--methods", "optimize,pti", "--limit", "2", "--steps", "2",
            "--tune-steps", "2", "--perceptual-weight", "0", "--out", "res", "--quiet")
    r = cli(*argv)
    assert r.code == 0, r.err
    assert "| optimize |" in r.out and "| pti |" in r.out and "images / s" in r.out
    assert r.out.strip().splitlines()[-3:] == [os.path.join("res", f) for f in
                                               ("per_image.csv", "summary.csv", "summary.md")]
    assert "4 inverted, 0 already done" in r.err
    again = cli(*argv)
    assert again.code == 0 and "0 inverted, 4 already done" in again.err and again.out == r.out


def test_missing_ray_is_a_one_line_hint(cli, samples, tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    r = cli("evaluate", samples, "--model", tiny_model, "--methods", "optimize", "--engine", "ray", "--quiet")
    assert r.code == 2
    assert r.err_lines == ["error: the Ray engine needs Ray: pip install -r requirements-scale.txt "
                           "(or pip install 'ray[data]')"]
