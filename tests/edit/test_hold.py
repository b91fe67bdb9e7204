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


def linear(images: torch.Tensor) -> np.ndarray:
    """s = 5 a + 3 b: along STEP the score changes by exactly 5 per unit, so eq. 1 solves by hand."""
    return 5 * images[:, 0].double().numpy() + 3 * images[:, 1].double().numpy()


def test_a_wrong_slope_is_corrected_by_the_secant_and_lands_on_the_hand_computed_step():
    edited = torch.tensor([[0.4, 0.0], [-1.0, 1.0]])    # scores 2 and -2, far from their targets
    target = [-1.0, 3.0]                                # c* = (target - score) / 5 = -0.6 and +1.0
    r = hold_score(render, linear, edited, STEP, target, slope=2.0, tolerance=1e-6, max_evaluations=3)
    # evaluation 2 steps by -(s - t) / 2 = 2.5 c* (overshoots, worse than the start); the secant through
    # both iterates has the true slope 5, so evaluation 3 lands on c* exactly
    assert r.evaluations == 3 and all(r.held) and np.allclose(r.edited_score, [2.0, -2.0])
    assert np.allclose(r.correction, [-0.6, 1.0], atol=1e-6), r.correction
    assert np.allclose(r.score, target, atol=1e-5)
    assert torch.allclose(r.latent, torch.tensor([[-0.2, 0.0], [0.0, 1.0]]), atol=1e-6)
    assert torch.equal(r.image, render(r.latent))


def test_keeps_the_best_iterate_when_the_budget_ends():
    edited = torch.tensor([[0.0, 3.0], [1.0, 0.0]])     # scores 9 and 5, targets 0 and 10: c* = -1.8, +1.0
    r = hold_score(render, linear, edited, STEP, [0.0, 10.0], slope=10.0, tolerance=1e-6, max_evaluations=2)
    # one step with twice the true slope goes half way: c = c* / 2, the error halves; that iterate is kept
    assert r.evaluations == 2 and not any(r.held)
    assert np.allclose(r.correction, [-0.9, 0.5], atol=1e-6), r.correction
    assert np.allclose(r.score, [4.5, 7.5], atol=1e-5)
    again = hold_score(render, linear, edited, STEP, [0.0, 10.0], slope=1.0, tolerance=1e-6, max_evaluations=2,
                       max_step=10.0)
    # five times too shallow: the step overshoots to 5 c* (|error| 4x the start's), worse than no
    # correction: the edited latent is kept
    assert again.correction == [0.0, 0.0] and torch.equal(again.latent, edited)


def test_the_correction_stops_at_max_step():
    edited = torch.tensor([[0.0, 0.0]])                 # target 25 needs c* = 5 > max_step
    r = hold_score(render, linear, edited, STEP, [25.0], slope=5.0, tolerance=1e-6, max_evaluations=4, max_step=3.0)
    assert r.correction == [3.0] and np.allclose(r.score, [15.0]) and r.held == [False]


def test_rejects_a_zero_slope():
    with pytest.raises(ValueError, match="slope"):
        hold_score(render, curved, torch.zeros(1, 2), STEP, [0.0], slope=0.0)


# --------------------------------------------------------------------------- steer: one-sided axes
def two_scores(images: torch.Tensor) -> np.ndarray:
    """[attribute the edit moves, a held one] for one image (the latent): s0 = 0.2 a, s1 = 4 b + 1 a."""
    a, b = float(images[0, 0]), float(images[0, 1])
    return np.array([0.2 * a, 4 * b + 1 * a])


def test_a_floor_adds_strength_until_the_score_reaches_it_and_the_held_axis_stays():
    from ganinv.edit.hold import steer
    edited = torch.tensor([[1.0, 0.0]])                 # the edit gave s0 = 0.2; the floor asks 0.4
    steps = torch.eye(2)                                # axis 0: more edit strength, axis 1: the held boundary
    r = steer(render, two_scores, edited, steps, [0.4, 1.0], [[0.2, 0.0], [1.0, 4.0]], tolerance=[0.01, 0.05],
              max_evaluations=8, max_step=[1.5, 2.0], side=[1, 0])
    # by hand: s0 >= 0.39 needs c0 >= 0.95; the held s1 = 4 c1 + (1 + c0) = 1 then needs c1 = -c0 / 4
    assert r.held == [True, True]
    assert r.score[0] >= 0.39 and 0.95 <= r.correction[0] <= 1.5
    assert abs(r.correction[1] + r.correction[0] / 4) <= 0.05 / 4 + 1e-9


def test_a_floor_already_met_costs_nothing_and_never_steps_back():
    from ganinv.edit.hold import steer
    edited = torch.tensor([[3.0, 0.0]])                 # s0 = 0.6 is past the floor 0.4; s1 = 3 wants 1
    r = steer(render, two_scores, edited, torch.eye(2), [0.4, 1.0], [[0.2, 0.0], [1.0, 4.0]],
              tolerance=[0.01, 0.05], max_evaluations=8, max_step=[1.5, 2.0], side=[1, 0])
    assert r.held == [True, True] and r.correction[0] >= 0       # the floor axis only ever adds strength
    assert abs(r.score[1] - 1.0) <= 0.05
    # the same with an equality axis would have pulled s0 back to 0.4
    eq = steer(render, two_scores, edited, torch.eye(2), [0.4, 1.0], [[0.2, 0.0], [1.0, 4.0]],
               tolerance=[0.01, 0.05], max_evaluations=8, max_step=[1.5, 2.0], side=[0, 0])
    assert eq.correction[0] < -0.5
