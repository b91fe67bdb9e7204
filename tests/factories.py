"""The one factory of tiny seeded models for fast tests (fixtures in tests/conftest.py use it).

Random weights at 16 px: the maths of every method runs in milliseconds without real checkpoints.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ganinv.models.dcgan import DCGANConfig, DCGANGenerator
from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

REPO_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
TINY_SG2 = "local:tiny-sg2.safetensors"     # the model name of the tiny StyleGAN2 in ``tiny_checkpoints``

SG2_DEFAULT = dict(z_dim=32, w_dim=32, resolution=16, mapping_layers=2, channel_base=256, channel_max=32)
SG2_SMALL = dict(z_dim=16, w_dim=16, resolution=16, mapping_layers=2, channel_base=128, channel_max=16)


def tiny_stylegan2_config(**overrides) -> StyleGAN2Config:
    return StyleGAN2Config(**{**SG2_DEFAULT, **overrides})


def tiny_stylegan2(seed: int = 0, *, config: StyleGAN2Config | None = None, varied: bool = False,
                   name: str = "tiny-sg2", **overrides) -> StyleGAN2Generator:
    """Seeded tiny StyleGAN2 (6 ws at 16 px by default), frozen.

    ``varied``: non-trivial biases, noise strengths and w_avg (zeros at init would hide bugs in how
    they are loaded or used; styles then vary per channel)."""
    config = config or tiny_stylegan2_config(**overrides)
    torch.manual_seed(seed)
    G = StyleGAN2Generator(config, name=name)
    if varied:
        with torch.no_grad():
            for n, p in G.named_parameters():
                if n.endswith("bias") or n.endswith("noise_strength"):
                    p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "affine" in n else 0.0))
            G.mapping.w_avg.copy_(torch.randn(config.w_dim))
    return G.eval().requires_grad_(False)


def tiny_dcgan(seed: int = 0, *, name: str = "tiny-dcgan") -> DCGANGenerator:
    """16 px DCGAN with seeded random weights and non-trivial batch-norm statistics, frozen."""
    torch.manual_seed(seed)
    G = DCGANGenerator(DCGANConfig(z_dim=8, channels=(32, 16)), name=name)
    with torch.no_grad():
        for n, p in G.named_parameters():
            if n.startswith("convTr"):
                p.normal_(0, 0.3)              # default init renders near-constant images
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return G.eval().requires_grad_(False)


def tiny_checkpoints(folder: Path) -> Path:
    """A checkpoints folder (``GANINV_CHECKPOINTS``): the repository's files, linked, plus
    ``tiny_stylegan2(varied=True)`` saved as ``TINY_SG2``."""
    from ganinv.models.loaders import save_safetensors
    folder.mkdir(parents=True, exist_ok=True)
    for f in os.listdir(REPO_CHECKPOINTS):
        os.symlink(REPO_CHECKPOINTS / f, folder / f)
    save_safetensors(tiny_stylegan2(varied=True), str(folder / TINY_SG2.removeprefix("local:")))
    return folder
