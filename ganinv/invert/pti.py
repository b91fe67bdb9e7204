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

Edit samples (ours, off by default, see the measurements below).  Eq. 5 keeps the generator
unchanged far from the pivot, but edits start *at* the pivot.  Samples along the shipped
edit directions n, w_e = w_p + a n with |a| in [edit_min, edit_max], can ask the tuned
generator to keep the original's edit there:

    "difference"  L_E = L_L2( P(G(w_e; theta*) - G(w_p; theta*)),  P(G(w_e; theta) - G(w_p; theta)) )
    "image"       L_E = L_L2( P(G(w_e; theta*)),  P(G(w_e; theta)) )    (eq. 5 along the directions)

with P an average pooling by ``edit_pool`` (1: none), added as ``edit_weight * L_E``.

Measured (bench/editability.py setting, bundled celeba-dcgan-64, 21 real faces: the
astronaut, gdp.jpg x3, yaoming.jpg, players.jpg x16 cropped from the photo enlarged 2x;
pivots from hybrid inversion, 100 L-BFGS evaluations, 3.5 s; smile +2 judged on the 20
faces whose smile score starts below 0.5; CPU seconds of the tuning on one thread):

    variant                          PSNR   dlib<=.35  smile rise>=.3  same person  |ITA|<5   CPU s
    paper PTI (edit_weight 0)        35.3   100%       90%             95%          71%       12.0
    + difference, pool 8, weight 3   33.5   100%       80%             90%          71%       14.8
    + difference, pool 8, weight 10  30.5   100%       75%             95%          71%       15.1
    + image, weight 0.1              34.3   100%       100%            25%          67%       13.0
    (10-face subset: difference at full resolution, weight 1: 34.1 dB, 78% / 67%; pool 4,
    weight 10: 30.3 dB, 67% / 78%; an SFace identity loss on the edit samples removed the
    edit altogether; freezing the first one or two layers: 78% / 56% and 78% / 44%.)

The "image" samples keep the original's edit and with it the pivot's face (a stranger
smiles).  The "difference" samples do not help either: tuning makes the photo win in a small
ball around the pivot, so edits set in late.  On the two faces that fail, the tuned smile
score is 0.0 at a = 2 and 0.6-0.95 at a = 3, where the original's is 0.6-0.7 at a = 2 (one
of them is a dark face the smile direction mostly lightens).  Matching the original's pixel
change transfers the *pivot's* mouth, which lies elsewhere than the photo's (the DCGAN's
pivots reach only ~19 dB), so the change is drawn as a ghost the scorer does not read as a
smile.  The defaults are therefore the paper's, ``edit_weight`` = 0; the samples stay
available for generators whose pivots are closer to the photo.

With 300 steps, bench/editability.py (21 faces found at 1x, hybrid pivot + tuning,
one thread) gave 35.8 dB, LPIPS-VGG 0.021, dlib <= 0.35 on 100%, 11.9 CPU s per face;
smile +2 rises by >= 0.3 on 90% and keeps the person on 90% of the 20, ITA within 5 degrees
on 81%.  The float16 delta in a record renders the same images as float32 (PSNR at the
metric's 100 dB ceiling).

Defaults: ``PTI_STEPS`` = 150 steps at the paper's learning rate 3e-4.  On 5 of the faces
(100-evaluation hybrid pivots): 300 steps 35.6 dB, 13.7 CPU s per face (pivot included);
150 steps 32.4 dB, 8.4 s; 100 steps 30.4 dB, 6.8 s; the smile +2 rise, identity and ITA
criteria came out the same for all three, so 150 keeps a margin over the 30 dB target at
about half the time.  lr 1e-3 / 6e-4 reach lower PSNR and weaken the edit (lr 1e-3, 100
steps: the smile rose on none of the faces); LPIPS-Alex as in the authors' code; one w_r per step at alpha = 1
spread of W (random samples lie ~1.4 spreads apart) with lambda_R = 0.1 and the L2 term only
(LPIPS in eq. 5 adds ~30% to a step).

Legend (variable -> paper symbol): ``pivot`` -> w_p, ``target`` -> x, ``delta`` ->
theta* - theta, ``l2_weight`` -> lambda_L2, ``lpips_weight`` -> weight of L_LPIPS (1),
``locality_weight`` -> lambda_R, ``locality_l2_weight`` -> lambda_R_L2, ``locality_alpha``
-> alpha (in units of the spread of W, sqrt E||w - w_avg||^2, so one value fits every
model), ``edit_weight`` -> weight of L_E.

Steps:
1. ws of the pivot (any space; eq. 2's w_p) and the original's image there.
2. A bank of w_r (eq. 4) and w_e with their images under the untouched G (theta).
3. A private copy of G: theta*, all synthesis weights (StyleGAN2's mapping stays fixed).
4. Per step: eq. 2 at the pivot, eq. 5 at ``locality_samples`` banked w_r, L_E at
   ``edit_samples`` banked w_e; Adam on theta*.
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
from ..settings import PTI_STEPS, ProgressFn
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
    locality_lpips: bool = False,      # also the LPIPS term of eq. 5 (2x the cost of a step)
    locality_alpha: float = 1.0,       # alpha of eq. 4, in units of W's spread
    locality_samples: int = 1,         # w_r per step (paper: 1)
    directions: Sequence | None = None,  # for L_E: Direction objects or vectors; None: G's shipped ones
    edit_weight: float = 0.0,          # weight of L_E (0: the paper's PTI; see the measurements)
    edit_loss: str = "difference",     # one of EDIT_LOSSES
    edit_pool: int = 1,                # L_E compares images average-pooled by this factor
    edit_min: float = 1.0,             # |a| of the edit samples, uniform in [edit_min, edit_max]
    edit_max: float = 3.0,
    edit_samples: int = 2,             # w_e per step
    reference_bank: int = 64,          # w_r and w_e drawn (and rendered by G) once, then reused
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
        pivot_image = G.synthesis(ws_p, noise_mode="const")

    # 2. Reference bank: w_r (eq. 4) and w_e with G(.; theta) of each.
    n_loc = locality_samples if locality_weight > 0 else 0
    # explicit directions are checked even when unused, so a wrong one never passes silently
    steps = _direction_steps(G, directions, space, device) if edit_weight > 0 or directions is not None else []
    n_edit = edit_samples if steps and edit_weight > 0 else 0
    settings["num_directions"] = len(steps)
    bank = max(1, min(reference_bank, num_steps * max(n_loc, n_edit, 1)))
    loc_ws = _locality_points(G, ws_p, bank, locality_alpha * w_stats(G)[1], gen) if n_loc else None
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
    for step in range(num_steps):
        i_loc = torch.randint(bank, (n_loc,), generator=gen)
        i_edit = torch.randint(bank, (n_edit,), generator=gen)
        parts = [ws_p] + ([loc_ws[i_loc]] if n_loc else []) + ([edit_ws[i_edit]] if n_edit else [])
        img = Gt.synthesis(torch.cat(parts), noise_mode="const")
        out, loc_t, edit_t = img[:1], img[1:1 + n_loc], img[1 + n_loc:]
        l2 = mse(out, x)
        lp = percept(out, x) if lpips_weight > 0 else torch.zeros_like(l2)
        loss = lpips_weight * lp + l2_weight * l2
        row = {"step": step + 1, "l2": float(l2.detach()), "lpips": float(lp.detach())}
        if n_loc:
            x_r = loc_ref[i_loc]
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

    # 5. The delta and the tuned reconstruction.
    Gt.requires_grad_(False)
    delta = weight_delta(G, Gt, names)
    with torch.no_grad():
        image = Gt.synthesis(ws_p, noise_mode="const")
        metrics, pivot_metrics = image_metrics(image, x), image_metrics(pivot_image, x)
    return PTIResult(delta=delta, latent=pivot.detach().cpu().clone(), space=space, image=image.cpu(),
                     pivot_image=pivot_image.cpu(), metrics=metrics, pivot_metrics=pivot_metrics,
                     loss_history=history, settings=settings, model=G.name, seconds=time.time() - t0)


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
    return torch.cat([G.synthesis(c, noise_mode="const") for c in ws.split(chunk)])


def _adam(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    # The fused kernel updates 3.6 M DCGAN weights in 2 ms instead of 12 ms (a tenth of a step on CPU).
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


__all__ = ["EDIT_LOSSES", "PTIResult", "pivotal_tuning"]
