"""ganinv.edit.hold: the closed-loop step that brings an attribute's score back after an edit."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganinv.edit.hold import hold_score

STEP = torch.tensor([[1.0, 0.0]])                      # one unit along the held attribute's axis


def render(lat: torch.Tensor) -> torch.Tensor:
    return lat.clone()                                 # the "image" is the latent itself


def curved(images: torch.Tensor) -> np.ndarray:
    """A score that grows along axis 0 non-linearly and depends on axis 1 (what an edit moves)."""
    a, b = images[:, 0].numpy(), images[:, 1].numpy()
    return 20 * a + 4 * a ** 3 + 6 * b


def test_brings_the_score_back_within_tolerance_where_a_projection_cannot():
    start = torch.tensor([[0.3, 0.0], [-1.2, 0.0], [2.0, 0.0]])
    edited = start + torch.tensor([0.0, 2.0])          # the edit moves axis 1 only: orthogonal to the step
    target = curved(start)
    assert (np.abs(curved(edited) - target) > 5).all()  # orthogonality alone leaves the score changed by 12
    r = hold_score(render, curved, edited, STEP, target, slope=15.0, tolerance=0.5, max_evaluations=6)
    assert all(r.held) and np.allclose(r.score, curved(r.latent), atol=1e-4)
    assert np.abs(np.array(r.score) - target).max() <= 0.5
    assert torch.equal(r.latent[:, 1], edited[:, 1])   # only the held axis moved
    assert torch.equal(r.image, render(r.latent))
    assert r.evaluations <= 6


def test_no_reading_leaves_the_latent_as_edited():
    edited = torch.tensor([[0.5, 2.0], [0.1, 2.0]])

    def blind(images):                                 # the first face cannot be read (e.g. no face found)
        s = curved(images)
        s[0] = math.nan
        return s
    r = hold_score(render, blind, edited, STEP, [0.0, 0.0], slope=20.0, tolerance=0.5)
    assert r.correction[0] == 0 and not r.held[0] and torch.equal(r.latent[0], edited[0])
    assert r.held[1] and r.correction[1] != 0


def test_keeps_the_best_iterate_when_the_budget_ends():
    edited = torch.tensor([[0.0, 3.0]])
    r = hold_score(render, curved, edited, STEP, [0.0], slope=1000.0, tolerance=1e-6, max_evaluations=2)
    # one correction with a far too steep slope barely moves; the result is that iterate, never a worse one
    assert r.evaluations == 2 and abs(r.score[0]) <= abs(r.edited_score[0])


def test_rejects_a_zero_slope():
    with pytest.raises(ValueError, match="slope"):
        hold_score(render, curved, torch.zeros(1, 2), STEP, [0.0], slope=0.0)
