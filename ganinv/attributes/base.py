"""The one attribute-scorer interface and helpers shared by every scorer.

A scorer maps a batch of images to one number per image and attribute:

    scorer.score(images [N, 3, H, W] in [-1, 1]) -> {attribute name: np.ndarray [N] float64}

Images in which no face is found score NaN for every attribute; callers drop NaNs
(``valid_mask``) and report the detection rate (``detection_rate``).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F


@runtime_checkable
class AttributeScorer(Protocol):
    """Anything with ``names`` and ``score(images)`` is a scorer."""

    name: str                                   # short scorer id stored in direction metadata
    names: tuple[str, ...]                      # attributes this scorer returns

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """images [N, 3, H, W] in [-1, 1] -> {attribute: [N]} (NaN where no face was found)."""
        ...


def check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor [N, 3, H, W] in [-1, 1], got {shape}")


def to_uint8_hwc(images: torch.Tensor, size: int | None = None) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> uint8 [N, S, S, 3]; upsampled (bicubic) when smaller than ``size``.

    The landmark detectors were trained on photos of a few hundred pixels: a 64 px GAN face
    is found more reliably once upsampled (measured in bench/edit.py output and README).
    """
    check_images(images)
    x = images.detach().float().cpu()
    if size is not None and max(x.shape[-2:]) < size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    x = ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def valid_mask(scores: dict[str, np.ndarray]) -> np.ndarray:
    """[N] bool: True where every attribute is finite (a face was found)."""
    arrays = list(scores.values())
    if not arrays:
        return np.zeros(0, dtype=bool)
    return np.all([np.isfinite(a) for a in arrays], axis=0)


def detection_rate(scores: dict[str, np.ndarray]) -> float:
    """Fraction of images with finite scores."""
    m = valid_mask(scores)
    return float(m.mean()) if m.size else 0.0


class CombinedScorer:
    """Several scorers behind one ``score``; a face missed by one scorer is NaN in all."""

    def __init__(self, *scorers: AttributeScorer):
        self.scorers = scorers
        self.name = "+".join(s.name for s in scorers)
        self.names = tuple(n for s in scorers for n in s.names)

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for s in self.scorers:
            out.update(s.score(images))
        bad = ~valid_mask(out)
        return {k: np.where(bad, np.nan, v) for k, v in out.items()}
