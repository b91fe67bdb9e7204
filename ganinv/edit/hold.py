"""Hold an attribute fixed while editing, per latent: a closed-loop step along its boundary.

InterFaceGAN's conditional manipulation (Shen, Gu, Tang & Zhou, "Interpreting the Latent Space
of GANs for Semantic Face Editing", CVPR 2020, Sec. 2.2, eq. 6) keeps attribute B fixed by
editing along n_A - (n_A^T n_B) n_B.  That removes B's *average* linear trend, which is all a
boundary knows.  Where B's response depends on where the face starts, it is not enough.
Skin tone on the bundled DCGAN shows this: a smile leaves most faces' individual typology
angle (ITA) alone but lightens dark ones, and projecting the tone boundary out of smile does not
change that.

So, per latent, solve for the step along B's boundary normal that brings B's score back:

    w'' = w' + c n_B,    find c with  s_B(G(w'')) = s_B(G(w)),    |c| <= max_step        (1)

with w the unedited latent and w' = w + sum_k alpha_k n_k the edit.  The score is not
differentiable (landmarks, medians), but it is monotone along n_B near w', so (1) is a 1-D
root search.  We use the secant method, starting from the boundary's measured slope (score
change per unit step on held-out samples, in the direction's metadata).  It stops at
``tolerance`` or after ``max_evaluations`` renders + scores, and keeps the best iterate.

Legend: ``edited`` -> w', ``step`` -> the change one unit along n_B makes to w' (in w's space,
so W+ and layer-restricted directions work alike), ``target`` -> s_B(G(w)), ``slope`` ->
d s_B / d c.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class HoldResult:
    latent: torch.Tensor                       # [N, ...] w'' = w' + c n_B
    image: torch.Tensor                        # [N, C, H, W] G(w'')
    correction: list[float]                    # c per latent
    target: list[float]                        # s_B(G(w)) per latent
    edited_score: list[float]                  # s_B(G(w')) before the correction (NaN: no face)
    score: list[float]                         # s_B(G(w'')) after it
    held: list[bool]                           # |score - target| <= tolerance
    evaluations: int                           # renders + scores spent


def hold_score(render: Callable[[torch.Tensor], torch.Tensor], score: Callable[[torch.Tensor], np.ndarray],
               edited: torch.Tensor, step: torch.Tensor, target, *, slope: float, tolerance: float = 1.0,
               max_evaluations: int = 4, max_step: float = 3.0) -> HoldResult:
    """Solve eq. 1 for each of N latents ``edited`` [N, ...] (``step`` [N, ...] or broadcastable).

    ``render(latents) -> images`` and ``score(images) -> [N]`` (NaN when the attribute cannot be
    read, e.g. no face: that latent is left as it is).  ``target`` [N] is the score to keep.
    """
    if not math.isfinite(slope) or slope == 0:
        raise ValueError(f"slope must be finite and non-zero, got {slope}")
    n = len(edited)
    target = np.broadcast_to(np.asarray(target, np.float64), (n,)).copy()
    step = step.expand_as(edited)
    shape = (-1,) + (1,) * (edited.ndim - 1)

    def moved(cs: np.ndarray) -> torch.Tensor:
        return edited + torch.as_tensor(cs, dtype=edited.dtype, device=edited.device).view(shape) * step

    with torch.no_grad():
        image = render(edited)
    first = np.asarray(score(image), np.float64)
    evaluations = 1
    c, cur = np.zeros(n), first.copy()                       # the current iterate and its score
    best_c, best_score, best_img = c.copy(), first.copy(), image.clone()
    slopes = np.full(n, float(slope))
    active = np.isfinite(first) & np.isfinite(target)       # no face: nothing to hold, left as edited
    while evaluations < max_evaluations:
        active &= np.abs(cur - target) > tolerance
        if not active.any():
            break
        new_c = np.where(active, np.clip(c - (cur - target) / slopes, -max_step, max_step), c)
        with torch.no_grad():
            img = render(moved(new_c))
        new = np.asarray(score(img), np.float64)
        evaluations += 1
        ok = active & np.isfinite(new)
        stepped = ok & (np.abs(new_c - c) > 1e-6)
        est = np.divide(new - cur, new_c - c, out=np.zeros(n), where=stepped)
        # the secant slope where it has the boundary's sign and a sane size; else keep the last one
        good = stepped & (np.sign(est) == np.sign(slope)) & (np.abs(est) > abs(slope) / 10)
        slopes = np.where(good, est, slopes)
        better = ok & (np.abs(new - target) < np.abs(best_score - target))
        best_c, best_score = np.where(better, new_c, best_c), np.where(better, new, best_score)
        for i in np.flatnonzero(better):
            best_img[i] = img[i]
        c, cur = np.where(ok, new_c, c), np.where(ok, new, cur)
        active &= ok
    held = np.isfinite(best_score) & (np.abs(best_score - target) <= tolerance)
    return HoldResult(moved(best_c), best_img, best_c.tolist(), target.tolist(), first.tolist(), best_score.tolist(),
                      held.tolist(), evaluations)


@dataclass
class SteerResult:
    latent: torch.Tensor                       # [1, ...] w'' = w' + sum_k c_k u_k
    image: torch.Tensor                        # [1, C, H, W] G(w'')
    correction: list[float]                    # c_k per axis
    target: list[float]                        # t_k per axis
    start_score: list[float]                   # s_k(G(w')) (NaN: not read)
    score: list[float]                         # s_k(G(w'')) of the kept iterate
    held: list[bool]                           # |s_k - t_k| <= tolerance_k
    evaluations: int


def steer(render: Callable[[torch.Tensor], torch.Tensor], score: Callable[[torch.Tensor], np.ndarray],
          edited: torch.Tensor, steps: torch.Tensor, target, jacobian, *, tolerance, max_evaluations: int = 5,
          max_step=3.0, max_move: float = 1.0, damping: float = 0.5, side=0) -> SteerResult:
    """Eq. 1 for K scores at once: find c [K] with  s(G(w' + sum_k c_k u_k)) = t  (one latent).

    ``steps`` [K, ...]: u_k, the change one unit along axis k makes to ``edited`` [1, ...].
    ``score(images) -> [K]`` per image (NaN where a score cannot be read).  ``jacobian`` [K, K]: d s_i / d c_j
    to start from (the directions' measured effects); it is refined by Broyden's rank-one update
    (Broyden, Math. Comp. 19, 1965) after each render, and c moves by the damped Gauss-Newton step
    -(J^T J + ``damping`` I)^-1 J^T (s - t) (scores in units of their tolerance), at most ``max_move`` long per iteration, with |c_k| <= ``max_step`` (a number or one per
    axis: a few units along a boundary keep the latent in the prior's typical set).  The iterate with the smallest max_k |s_k - t_k| / tolerance_k
    is kept; an axis whose score is NaN at the start is left out.  ``side`` (a number or one per axis): 0 asks
    s_k = t_k; +1 asks s_k >= t_k and -1 s_k <= t_k (a floor or a ceiling: beyond it the axis costs nothing).
    """
    k = steps.shape[0]
    target = np.asarray(target, np.float64).reshape(k)
    tol = np.broadcast_to(np.asarray(tolerance, np.float64), (k,))
    jac = np.array(jacobian, np.float64).reshape(k, k)
    bound = np.broadcast_to(np.asarray(max_step, np.float64), (k,))
    sides = np.broadcast_to(np.asarray(side, np.float64), (k,))
    # a one-sided axis only moves the way that raises (floor) or lowers (ceiling) its own score, by the start J
    ahead = sides * np.sign(np.diag(jac))
    lo, hi = np.where(ahead > 0, 0.0, -bound), np.where(ahead < 0, 0.0, bound)

    def gap(sc: np.ndarray) -> np.ndarray:                # s - t, zero on the allowed side of a one-sided axis
        d = sc - target
        return np.where(sides > 0, np.minimum(d, 0), np.where(sides < 0, np.maximum(d, 0), d))

    def moved(c: np.ndarray) -> torch.Tensor:
        cs = torch.as_tensor(c, dtype=edited.dtype, device=edited.device).view((k,) + (1,) * (steps.ndim - 1))
        return edited + (cs * steps).sum(0, keepdim=True)

    def err(sc: np.ndarray) -> float:
        e = np.abs(gap(sc))[use] / tol[use]
        return float(e.max()) if e.size and np.isfinite(e).all() else math.inf

    with torch.no_grad():
        image = render(edited)
    first = np.asarray(score(image), np.float64).reshape(k)
    use = np.isfinite(first) & np.isfinite(target)
    evaluations, c, cur, move = 1, np.zeros(k), first.copy(), float(max_move)
    best = (err(first), c.copy(), first.copy(), image)
    while evaluations < max_evaluations and use.any() and best[0] > 1:
        f = np.where(use, gap(cur), 0.0) / tol
        j = jac[np.ix_(use, use)] / tol[use][:, None]
        dc = np.zeros(k)
        # damped least squares (Levenberg-Marquardt): small steps along axes that barely move a score
        dc[use] = -np.linalg.solve(j.T @ j + damping * np.eye(int(use.sum())), j.T @ f[use])
        norm = float(np.linalg.norm(dc))
        if norm > move:
            dc *= move / norm
        new_c = np.clip(c + dc, lo, hi)
        with torch.no_grad():
            img = render(moved(new_c))
        new = np.asarray(score(img), np.float64).reshape(k)
        evaluations += 1
        if not np.isfinite(new[use]).all():
            move /= 2                                      # the face got lost: a shorter step from the same place
            continue
        step = new_c - c
        if float(step @ step) > 1e-12:                     # Broyden: J += (ds - J dc) dc^T / (dc^T dc)
            jac += np.outer(np.where(use, (new - cur) - jac @ step, 0.0), step) / float(step @ step)
        c, cur = new_c, new
        if err(new) < best[0]:
            best = (err(new), c.copy(), new.copy(), img)
    _, c, sc, img = best
    held = (np.abs(gap(sc)) <= tol) & use
    return SteerResult(moved(c), img, c.tolist(), target.tolist(), first.tolist(), sc.tolist(), held.tolist(),
                       evaluations)


__all__ = ["HoldResult", "hold_score", "SteerResult", "steer"]
