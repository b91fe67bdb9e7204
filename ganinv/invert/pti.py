"""Pivotal Tuning Inversion (PTI), with optional edit-preserving samples.

Roich, Mokady, Bermano & Cohen-Or, "Pivotal Tuning for Latent-based Editing of Real Images"
(ACM TOG 2022).  Invert first into the generator's domain (the pivot w_p, from any
inversion: optimisation, encoder, hybrid), then change the generator's weights so that the
pivot draws the photo:

    eq. 2   L_pt = L_LPIPS(x, G(w_p; theta*)) + lambda_L2 L_L2(x, G(w_p; theta*))
    eq. 4   w_r  = w_p + alpha (w_z - w_p) / ||w_z - w_p||,   w_z = f(z), z ~ N(0, I)
    eq. 5   L_R  = L_LPIPS(x_r, x_r*) + lambda_R_L2 L_L2(x_r, x_r*),
                   x_r = G(w_r; theta), x_r* = G(w_r; theta*)
    eq. 6   theta* = argmin  L_pt + lambda_R L_R

The result is the weight delta theta* - theta; ganinv.models.tuned renders it without ever
writing to the shared generator (the tuning itself runs on a private copy).

Edit samples (ours, off by default).  Eq. 5 keeps the generator unchanged far from the pivot,
but edits start *at* the pivot.  Samples along the shipped edit directions n,
w_e = w_p + a n with |a| in [edit_min, edit_max], can ask the tuned generator to keep the
original's edit there:

    "difference"  L_E = L_L2( P(G(w_e; theta*) - G(w_p; theta*)),  P(G(w_e; theta) - G(w_p; theta)) )
    "image"       L_E = L_L2( P(G(w_e; theta*)),  P(G(w_e; theta)) )    (eq. 5 along the directions)

with P an average pooling by ``edit_pool`` (1: none), added as ``edit_weight * L_E``.  On the
dev faces neither kept edits better than the paper's PTI ("image" keeps the pivot's face,
"difference" draws the pivot's mouth as a ghost), so ``edit_weight`` is 0 by default.

As the paper, by default: eq. 2 with LPIPS-Alex (the authors' code) and L2 at weight 1, lr
3e-4, eq. 5 with both its L2 and LPIPS terms at lambda_R = 0.1, one fresh w_r per step, and
(through ganinv.actions) a W pivot on generators that have W.  Departures, each measured in
docs/benchmarks.md (bench/pti_settings.py, docs/results/pti-settings.json):
- ``num_steps`` 150 instead of 350 (``PTI_STEPS``): 350 steps take 2.4x the time;
- no LPIPS stop (``lpips_stop`` 0; the paper's is 0.06): on 64-px images LPIPS-Alex falls
  below 0.06 after 2-4 steps (at the pivot's PSNR), so the stop would return it untuned;
- alpha of eq. 4 is in units of W's spread (1.0), not the paper's raw 30, so one value fits
  every model.

Legend (variable -> paper symbol): ``pivot`` -> w_p, ``target`` -> x, ``delta`` ->
theta* - theta, ``l2_weight`` -> lambda_L2, ``lpips_weight`` -> weight of L_LPIPS (1),
``locality_weight`` -> lambda_R, ``locality_l2_weight`` -> lambda_R_L2, ``locality_alpha``
-> alpha (in units of the spread of W, sqrt E||w - w_avg||^2, so one value fits every
model), ``edit_weight`` -> weight of L_E.

Steps:
1. ws of the pivot (any space; eq. 2's w_p) and the original's image there.
2. A bank of w_e (and of w_r when ``fresh_locality`` is off) rendered by the untouched G (theta).
3. A private copy of G: theta*, all synthesis weights (StyleGAN2's mapping stays fixed).
4. Per step: ``locality_samples`` new w_r (eq. 4) rendered by theta; stop if L_LPIPS at the
   pivot is <= ``lpips_stop``; eq. 2 at the pivot, eq. 5 at the w_r, L_E at ``edit_samples``
   banked w_e; Adam on theta*.
5. delta = theta* - theta and the metrics of G(w_p; theta*).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..edit.directions import Direction, list_directions
from ..latent import check_latent, latent_shape, to_ws
from ..losses import image_metrics, mse, perceptual_metric
from ..models.base import Generator
from ..models.tuned import Delta, weight_delta
from ..settings import PTI_LPIPS_STOP, PTI_PIVOT_SPACE, PTI_STEPS, RENDER_KWARGS, ProgressFn
from .optimize import w_stats

EDIT_LOSSES = ("difference", "image")


@dataclass
class PTIResult:
    delta: Delta                               # {parameter name: theta* - theta}, float32 on CPU
    latent: torch.Tensor                       # [1, *latent_shape(space)], the pivot w_p (unchanged)
    space: str
    image: torch.Tensor                        # [1, C, H, W], G(w_p; theta*)
    pivot_image: torch.Tensor                  # [1, C, H, W], G(w_p; theta) before tuning
    metrics: list[dict]                        # image_metrics(G(w_p; theta*), x)
    pivot_metrics: list[dict]                  # image_metrics(G(w_p; theta), x)
    loss_history: list[dict]                   # per step: step, loss, l2, lpips, locality, edit
    settings: dict
    model: str = ""
    seconds: float = 0.0


def pivotal_tuning(
    G: Generator,
    target: torch.Tensor,
    pivot: torch.Tensor,
    *,
    space: str,                        # space of ``pivot``: "Z" | "W" | "W+"
    num_steps: int = PTI_STEPS,        # Adam steps on theta* (paper: 350)
    lr: float = 3e-4,                  # Adam learning rate (paper: 3e-4)
    l2_weight: float = 1.0,            # lambda_L2 of eq. 2 (paper: 1)
    lpips_weight: float = 1.0,         # weight of L_LPIPS in eq. 2 (paper: 1)
    perceptual: str = "lpips-alex",    # ganinv.losses metric for L_LPIPS (authors' code: LPIPS-Alex)
    locality_weight: float = 0.1,      # lambda_R of eq. 6 (paper: 0.1)
    locality_l2_weight: float = 1.0,   # lambda_R_L2 of eq. 5, relative to its LPIPS term
    locality_lpips: bool = True,       # the LPIPS term of eq. 5 (paper: on); False keeps its L2 term only
    locality_alpha: float = 1.0,       # alpha of eq. 4, in units of W's spread
    locality_samples: int = 1,         # w_r per step (paper: 1)
    directions: Sequence | None = None,  # for L_E: Direction objects or vectors; None: G's shipped ones
    edit_weight: float = 0.0,          # weight of L_E (0: the paper's PTI; see the measurements)
    edit_loss: str = "difference",     # one of EDIT_LOSSES
    edit_pool: int = 1,                # L_E compares images average-pooled by this factor
    edit_min: float = 1.0,             # |a| of the edit samples, uniform in [edit_min, edit_max]
    edit_max: float = 3.0,
    edit_samples: int = 2,             # w_e per step
    lpips_stop: float = PTI_LPIPS_STOP,  # stop once L_LPIPS at the pivot is at most this (paper: 0.06; 0: never)
    fresh_locality: bool = True,       # a new w_r every step (paper); False: drawn from the bank below
    reference_bank: int = 64,          # w_e (and w_r unless fresh_locality) drawn and rendered by G once, then reused
    freeze: Sequence[str] = (),        # parameter-name prefixes kept fixed besides "mapping."
    seed: int = 0,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> PTIResult:
    """Tune G's weights so that ``pivot`` renders ``target`` [1, C, H, W] in [-1, 1]; returns the delta."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items()
                if k not in ("G", "target", "pivot", "directions", "progress", "t0")}
    settings["freeze"] = list(freeze)
    _check(G, target, pivot, space, num_steps, edit_loss)
    device = G.device
    x = target.to(device, torch.float32)
    gen = torch.Generator().manual_seed(seed)

    # 1. The pivot (eq. 2's w_p) and what the untouched G draws there.
    with torch.no_grad():
        ws_p = to_ws(G, pivot.to(device), space)                          # [1, num_ws, w_dim]
        pivot_image = G.synthesis(ws_p, **RENDER_KWARGS)

    # 2. Reference bank: w_r (eq. 4) and w_e with G(.; theta) of each.
    n_loc = locality_samples if locality_weight > 0 else 0
    # explicit directions are checked even when unused, so a wrong one never passes silently
    steps = _direction_steps(G, directions, space, device) if edit_weight > 0 or directions is not None else []
    n_edit = edit_samples if steps and edit_weight > 0 else 0
    settings["num_directions"] = len(steps)
    bank = max(1, min(reference_bank, num_steps * max(n_loc, n_edit, 1)))
    alpha = locality_alpha * w_stats(G)[1]
    loc_ws = _locality_points(G, ws_p, bank, alpha, gen) if n_loc and not fresh_locality else None
    edit_ws = _edit_points(G, pivot.to(device), space, ws_p, steps, bank, edit_min, edit_max, gen) if n_edit else None
    loc_ref, edit_ref = (_render(G, w) if w is not None else None for w in (loc_ws, edit_ws))

    # 3. theta*: a private copy (the shared G is only read).
    Gt = copy.deepcopy(G).eval().requires_grad_(False)
    names = [n for n, _ in Gt.named_parameters()
             if not n.startswith("mapping.") and not any(n.startswith(f) for f in freeze)]
    tuned = dict(Gt.named_parameters())
    opt = _adam([tuned[n].requires_grad_(True) for n in names], lr)
    percept = perceptual_metric(device, perceptual) if lpips_weight > 0 or locality_lpips else None
    settings["perceptual_loss_network"] = percept.name if percept is not None else None
    pool = (lambda t: F.avg_pool2d(t, edit_pool)) if edit_pool > 1 else (lambda t: t)  # noqa: E731

    # 4. Eq. 6 (+ L_E), one Adam step per iteration.
    history: list[dict] = []
    if progress:
        progress(0.0, f"pivotal tuning 0/{num_steps}")  # setup done: the steps' timing starts here
    for step in range(num_steps):
        if n_loc and fresh_locality:                 # eq. 4 drawn anew, its x_r from the untouched G
            w_r = _locality_points(G, ws_p, n_loc, alpha, gen)
            x_r = _render(G, w_r)
        elif n_loc:
            i_loc = torch.randint(bank, (n_loc,), generator=gen)
            w_r, x_r = loc_ws[i_loc], loc_ref[i_loc]
        i_edit = torch.randint(bank, (n_edit,), generator=gen)
        parts = [ws_p] + ([w_r] if n_loc else []) + ([edit_ws[i_edit]] if n_edit else [])
        img = Gt.synthesis(torch.cat(parts), **RENDER_KWARGS)
        out, loc_t, edit_t = img[:1], img[1:1 + n_loc], img[1 + n_loc:]
        l2 = mse(out, x)
        lp = percept(out, x) if lpips_weight > 0 else torch.zeros_like(l2)
        loss = lpips_weight * lp + l2_weight * l2
        row = {"step": step + 1, "l2": float(l2.detach()), "lpips": float(lp.detach())}
        if lpips_weight > 0 and row["lpips"] <= lpips_stop:
            break                                    # the paper's stop (authors' code: before the step)
        if n_loc:
            l_r = locality_l2_weight * mse(loc_t, x_r).mean()
            if locality_lpips:
                l_r = l_r + percept(loc_t, x_r).mean()
            loss = loss + locality_weight * l_r
            row["locality"] = float(l_r.detach())
        if n_edit:
            ref = edit_ref[i_edit]
            if edit_loss == "difference":
                l_e = mse(pool(edit_t - out), pool(ref - pivot_image)).mean()
            else:
                l_e = mse(pool(edit_t), pool(ref)).mean()
            loss = loss + edit_weight * l_e
            row["edit"] = float(l_e.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        row["loss"] = float(loss.detach())
        history.append(row)
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"pivotal tuning {step + 1}/{num_steps}  loss {row['loss']:.4f}")

    settings["steps_run"] = len(history)
    # 5. The delta and the tuned reconstruction.
    Gt.requires_grad_(False)
    delta = weight_delta(G, Gt, names)
    with torch.no_grad():
        image = Gt.synthesis(ws_p, **RENDER_KWARGS)
        metrics, pivot_metrics = image_metrics(image, x), image_metrics(pivot_image, x)
    return PTIResult(delta=delta, latent=pivot.detach().cpu().clone(), space=space, image=image.cpu(),
                     pivot_image=pivot_image.cpu(), metrics=metrics, pivot_metrics=pivot_metrics,
                     loss_history=history, settings=settings, model=G.name, seconds=time.time() - t0)


def pivot_space(G: Generator, requested: str | None = None) -> str | None:
    """The pivot's space: ``requested``, else the paper's W when G has it (Sec. 3.1: W, not W+, keeps the
    pivot editable), else None (the inversion's own default, Z for a DCGAN)."""
    return requested or (PTI_PIVOT_SPACE if G.supports(PTI_PIVOT_SPACE) else None)


def _check(G: Generator, target: torch.Tensor, pivot: torch.Tensor, space: str, num_steps: int,
           edit_loss: str) -> None:
    check_latent(G, pivot, space)
    assert target.shape == (1, G.img_channels, G.resolution, G.resolution), \
        f"target must be [1, {G.img_channels}, {G.resolution}, {G.resolution}], got {tuple(target.shape)}"
    if pivot.shape[0] != 1:
        raise ValueError("pivotal tuning takes one pivot [1, ...]")
    if not torch.isfinite(target).all():
        raise ValueError("the target image contains NaN or Inf values")
    if edit_loss not in EDIT_LOSSES:
        raise ValueError(f"edit_loss must be one of {EDIT_LOSSES}, not {edit_loss!r}")
    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")


def _direction_steps(G: Generator, directions, space: str, device) -> list[tuple[str, torch.Tensor]]:
    """Directions as ("latent", step in the pivot's space) or ("ws", [num_ws, w_dim] step on chosen ws)."""
    if directions is None:
        directions = [d for d in list_directions(G.name) if d.space == space or (d.space == "W" and space != "Z")]
    out = []
    for d in directions:
        if isinstance(d, Direction):
            vec, dspace, layers = d.tensor(device), d.space, d.layers
        else:                                   # a bare vector: in the pivot's space, or a W step
            vec, layers = d.to(device, torch.float32), None
            dspace = space if tuple(vec.shape) == latent_shape(G, space) else "W"
        if dspace == space and tuple(vec.shape) == latent_shape(G, space):
            out.append(("latent", vec))
        elif dspace == "W" and space != "Z" and tuple(vec.shape) == (G.w_dim,):
            mask = torch.zeros(G.num_ws, 1, device=device)
            mask[list(range(G.num_ws)) if layers is None else list(layers)] = 1
            out.append(("ws", vec * mask))
        else:
            raise ValueError(f"a {dspace} direction of shape {list(vec.shape)} cannot move a {space} pivot")
    return out


def _locality_points(G: Generator, ws_p: torch.Tensor, n: int, alpha: float, gen: torch.Generator) -> torch.Tensor:
    """Eq. 4: ``n`` ws at distance alpha from w_p towards random w_z = f(z), [n, num_ws, w_dim]."""
    z = torch.randn(n, G.z_dim, generator=gen).to(ws_p.device)
    with torch.no_grad():
        d = G.broadcast(G.mapping(z)) - ws_p
    norm = d.flatten(1).norm(dim=1).view(-1, 1, 1) / G.num_ws ** 0.5      # alpha in units of one w
    return ws_p + alpha * d / norm.clamp_min(1e-8)


def _edit_points(G: Generator, pivot: torch.Tensor, space: str, ws_p: torch.Tensor,
                 steps: list[tuple[str, torch.Tensor]], n: int, lo: float, hi: float,
                 gen: torch.Generator) -> torch.Tensor:
    """``n`` ws of w_p + a n_k: random direction k, |a| uniform in [lo, hi], random sign."""
    idx = torch.randint(len(steps), (n,), generator=gen).tolist()
    a = (lo + (hi - lo) * torch.rand(n, generator=gen)) * (torch.randint(2, (n,), generator=gen) * 2 - 1)
    out = []
    with torch.no_grad():
        for i, s in zip(idx, a.tolist()):
            kind, vec = steps[i]
            out.append(to_ws(G, pivot + s * vec, space) if kind == "latent" else ws_p + s * vec)
    return torch.cat(out)


@torch.no_grad()
def _render(G: Generator, ws: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    return torch.cat([G.synthesis(c, **RENDER_KWARGS) for c in ws.split(chunk)])


def _adam(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    # The fused kernel updates 3.6 M DCGAN weights in 2 ms instead of 12 ms (a tenth of a step on CPU).
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


__all__ = ["EDIT_LOSSES", "PTIResult", "pivot_space", "pivotal_tuning"]
