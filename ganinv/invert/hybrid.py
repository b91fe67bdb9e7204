"""In-domain (hybrid) inversion: encoder start + domain-regularised optimisation.

Zhu et al., "In-Domain GAN Inversion for Real Image Editing" (ECCV 2020), Sec. 3.2, eq. 4:

    z_inv = argmin_z  ||x - G(z)||_2  +  l_vgg ||F(x) - F(G(z))||_2  +  l_dom ||z - E(G(z))||_2

started from z_0 = E(x).  The encoder serves twice: it gives a start that is already close
(so far fewer steps are needed than from a random or mean start) and, as the domain
regulariser, it keeps z where E and G agree, i.e. inside the generator's semantic domain.
Squared, per-element means are used for all three terms (as the authors' code does), so the
weights do not depend on resolution or latent size.

Legend (variable -> paper symbol): ``latent`` -> z (or w / w+), ``target`` -> x,
``l_vgg`` -> lambda_vgg, ``l_dom`` -> lambda_dom, ``E`` -> E.

``mask`` (optional, [N, 1, H, W] in [0, 1]) weights the pixel and perceptual terms; semantic
diffusion (ganinv.invert.semantic_diffusion) uses it to fit only the pasted region.

Optimiser.  The authors use Adam.  From the encoder's start the problem is small and smooth
(the DCGAN's Z has 100 dimensions), where a quasi-Newton method converges far faster, so the
default is L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search, run per image (the
images' problems are independent; one joint line search would couple them).  Its budget is
counted in evaluations of the loss and its gradient, the same unit of work as one Adam step,
and the best code seen is kept.  ``optimizer="adam"`` gives the authors' optimiser.

Domain weight.  ``l_dom`` trades reconstruction for in-domain codes: E(G(z)) = z holds only
as well as the encoder inverts G, so a large weight holds z away from an exact fit.  The default
0.001 is measured against the paper's 2 in docs/benchmarks.md ("Hybrid inversion per image").
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from ..latent import check_latent, render
from ..losses import image_metrics, perceptual_metric
from ..models.base import Generator
from .encoder import Encoder
from .optimize import InversionResult, perceptual_to
from ..settings import ProgressFn



def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    d = (a - b).square()
    if mask is None:
        return d.flatten(1).mean(1)
    return (d * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * a.shape[1]).clamp_min(1e-8)


def invert_hybrid(
    G: Generator,
    E: Encoder,
    target: torch.Tensor,
    *,
    num_steps: int = 100,              # optimisation steps after the encoder's start
    optimizer: str = "lbfgs",          # "lbfgs" (per image, strong Wolfe) | "adam" (the authors')
    lr: float = 0.03,                  # Adam learning rate (authors: 0.01; 0.03 converges faster here)
    l_rec: float = 1.0,                # weight of the pixel term ||x - G(z)||^2
    l_vgg: float = 1.0,                # lambda_vgg, perceptual term (0 turns it off)
    l_dom: float = 0.001,              # lambda_dom, domain regulariser ||z - E(G(z))||^2 (see above)
    perceptual: str = "auto",          # "auto" | "lpips" | "stlpips" (ganinv.losses)
    mask: torch.Tensor | None = None,  # [N, 1, H, W] pixel weights (1: fit, 0: ignore)
    init: torch.Tensor | None = None,  # start code instead of E(x)
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> InversionResult:
    """Invert ``target`` [N, C, H, W] in [-1, 1] at G's resolution into E's latent space."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "E", "target", "mask", "init", "progress", "t0")}
    space = E.space
    settings.update(space=space, masked=mask is not None, init="given" if init is not None else "encoder")
    assert target.ndim == 4 and target.shape[1:] == (G.img_channels, G.resolution, G.resolution), \
        f"target must be [N, {G.img_channels}, {G.resolution}, {G.resolution}], got {tuple(target.shape)}"
    if E.config.resolution != G.resolution or (E.config.model and E.config.model != G.name):
        raise ValueError(f"encoder trained for {E.config.model or 'another model'!r} "
                         f"({E.config.resolution} px) does not fit {G.name!r}")
    if num_steps < 0:
        raise ValueError("num_steps must be >= 0")
    device = G.device
    target = target.to(device, torch.float32)
    if mask is not None:
        mask = mask.to(device, torch.float32)
        assert mask.shape == (target.shape[0], 1, *target.shape[2:]), \
            f"mask must be [N, 1, H, W], got {tuple(mask.shape)}"
    E = E.to(device).eval().requires_grad_(False)
    percept = perceptual_metric(device, perceptual) if l_vgg > 0 else None

    # 1. Start from the encoder's code, z_0 = E(x) (the in-domain start).
    with torch.no_grad():
        start = E(target) if init is None else init.to(device)
    check_latent(G, start, space)
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if not torch.isfinite(target).all() or not torch.isfinite(start).all():
        raise ValueError("the target image or the start code contains NaN or Inf values")

    to_target: dict[tuple, Callable] = {}          # images (start, stop) -> their perceptual_to (target cached)

    def losses(latent: torch.Tensor, rows: slice) -> dict[str, torch.Tensor]:
        x, m = target[rows], None if mask is None else mask[rows]
        img = render(G, latent, space)
        # 2. Eq. 4: pixel + perceptual reconstruction, + domain regulariser through E(G(z)).
        l_pix = _masked_mse(img, x, m)
        if percept is not None:
            key = (rows.start, rows.stop)
            if key not in to_target:
                to_target[key] = perceptual_to(percept, x)
            l_p = to_target[key](img if m is None else img * m + x * (1 - m))
        else:
            l_p = torch.zeros_like(l_pix)
        l_d = (latent - E(img)).square().flatten(1).mean(1)
        return {"loss": l_rec * l_pix + l_vgg * l_p + l_dom * l_d, "mse": l_pix, "perceptual": l_p, "domain": l_d}

    if optimizer == "adam":
        out, history = _run_adam(losses, start, num_steps, lr, progress, progress_every)
    else:
        out, history = _run_lbfgs(losses, start, num_steps, progress, progress_every)

    with torch.no_grad():
        img = render(G, out, space)
        metrics = image_metrics(img, target, perceptual=percept or perceptual_metric(device))
    return InversionResult(latent=out, space=space, image=img, metrics=metrics, loss_history=history,
                           settings=settings, model=G.name, seconds=time.time() - t0)


def _row(step: int, terms: dict[str, torch.Tensor]) -> dict:
    return {"step": step, **{k: float(v.detach().mean()) for k, v in terms.items()}}


def _run_adam(losses, start, num_steps, lr, progress, progress_every):
    latent = start.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([latent], lr=lr)
    history: list[dict] = []
    for step in range(num_steps + 1):
        terms = losses(latent, slice(0, start.shape[0]))
        history.append(_row(step, terms))
        if step == num_steps:
            break                                  # row ``num_steps`` scores the final code
        opt.zero_grad(set_to_none=True)
        terms["loss"].sum().backward()             # summed: each image's Adam moments stay independent
        opt.step()
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {history[-1]['loss']:.4f}")
    return latent.detach(), history


class _BudgetSpent(Exception):
    pass


def _run_lbfgs(losses, start, num_steps, progress, progress_every):
    """Per-image L-BFGS with at most ``num_steps`` evaluations after the start; keeps the best code.

    History row s holds, averaged over the images, the terms of each image's best code after s
    evaluations (row 0 = the start), so ``steps_to_reach`` counts evaluations.
    """
    n = start.shape[0]
    per_image: list[list[dict]] = []
    best_codes = []
    for i in range(n):
        latent = start[i:i + 1].detach().clone().requires_grad_(True)
        rows: list[dict] = []
        best = {"loss": float("inf"), "code": latent.detach().clone()}

        def record(terms: dict[str, torch.Tensor], code: torch.Tensor) -> None:
            value = float(terms["loss"])
            if value == value and value < best["loss"]:          # NaN never becomes the best
                best.update(loss=value, code=code.detach().clone(),
                            terms={k: float(v) for k, v in terms.items()})
            rows.append(dict(best.get("terms") or {k: float(v) for k, v in terms.items()}))

        if num_steps == 0:
            with torch.no_grad():
                record(losses(latent, slice(i, i + 1)), latent)        # row 0 only: the start, E(x)
        else:
            opt = torch.optim.LBFGS([latent], lr=1.0, max_iter=num_steps, max_eval=num_steps + 1,
                                    history_size=min(100, num_steps), tolerance_grad=1e-12,
                                    tolerance_change=1e-14, line_search_fn="strong_wolfe")

            def closure():
                if len(rows) > num_steps:
                    raise _BudgetSpent                # a line search may ask past max_eval; stop here
                opt.zero_grad(set_to_none=True)
                terms = losses(latent, slice(i, i + 1))
                record({k: v.detach() for k, v in terms.items()}, latent)   # row 0: the start, E(x)
                k = len(rows) - 1
                if progress and k and (k % progress_every == 0 or k == num_steps):
                    progress((i * num_steps + k) / (n * num_steps),
                             f"image {i + 1}/{n}  evaluation {k}/{num_steps}  loss {best['loss']:.5f}")
                loss = terms["loss"].sum()
                loss.backward()
                return loss

            try:
                opt.step(closure)
            except _BudgetSpent:
                pass
        rows += [rows[-1]] * (num_steps + 1 - len(rows))          # converged early: the best stays
        per_image.append(rows[:num_steps + 1])
        best_codes.append(best["code"])
    history = [{"step": s, **{k: sum(r[s][k] for r in per_image) / n for k in per_image[0][0]}}
               for s in range(num_steps + 1)]
    return torch.cat(best_codes), history


def steps_to_reach(history: list[dict], value: float, key: str = "mse") -> int | None:
    """First step whose ``key`` is <= ``value`` (None if never): counts steps to a given quality.

    Rows are as written by ``invert_hybrid`` (row s = the code after s steps or evaluations) or by
    ``invert_optimize`` (row "step" s = the loss measured before update s, i.e. after s - 1).
    """
    for row in history:
        if row[key] <= value:
            return int(row["step"])
    return None


__all__ = ["invert_hybrid", "steps_to_reach"]
