"""StyleCLIP latent optimisation: edit a latent so the image matches a text prompt.

Patashnik et al., ICCV 2021, "StyleCLIP: Text-Driven Manipulation of StyleGAN Imagery",
Sec. 4, Eq. 1 and 2:

    argmin_{w in W+}  D_CLIP(G(w), t)  +  l_L2 ||w - w_s||_2  +  l_ID L_ID(w)         (1)
    L_ID(w) = 1 - < R(G(w_s)), R(G(w)) >                                            (2)

D_CLIP is the cosine distance of CLIP embeddings, R a face-recognition network (ArcFace in
the paper; here ArcFace, or SFace where ArcFace is not installed, via ``ganinv.identity.IdentityLoss``), w_s the source (inverted)
latent.  Paper defaults: 300 Adam steps, lr 0.1 with the StyleGAN2 projector schedule
(linear warm-up over 5 %, cosine ramp-down over the last 25 %), l_L2 = 0.008, l_ID = 0.005
for faces.  As in the authors' released code the L2 term is the *squared* distance summed
over the latent (its gradient vanishes at w_s, so small edits are cheap and large ones
are not).  W+ for StyleGAN models; Z for the Z-only DCGAN (where the L2 term also keeps
z near the Gaussian shell the generator was trained on).

Legend (variable -> paper symbol): ``start`` -> w_s, ``latent`` -> w, ``text_emb`` -> t,
``l2_weight`` -> l_L2, ``id_weight`` -> l_ID, ``identity`` -> R.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from ..latent import check_latent, latent_shape, to_ws
from ..models.base import Generator
from ..settings import RENDER_KWARGS, ProgressFn
from ..registry import ModelUnavailableError, get_spec
from ..identity import IdentityLoss
from ..clip_models import load_clip
from .prompts import text_embedding

if TYPE_CHECKING:
    from ..clip_models import ClipModel



@dataclass
class TextEditResult:
    latent: torch.Tensor                        # [N, *latent_shape(space)], the edited latent w
    space: str                                  # "W+" | "Z"
    image: torch.Tensor                         # [N, C, H, W] in [-1, 1], G(w)
    start_image: torch.Tensor                   # [N, C, H, W], G(w_s)
    prompt: str                                 # the text actually fed to CLIP (after cleaning/truncation)
    clip_distance_before: list[float]           # D_CLIP(G(w_s), t) per image
    clip_distance_after: list[float]            # D_CLIP(G(w), t) per image
    latent_distance: list[float]                # ||w - w_s||_2 per image
    loss_history: list[dict]                    # per step: step, loss, clip, l2, id, lr, seconds (batch means)
    identity_used: bool                         # was the L_ID term active
    identity_reason: str                        # why not (or which network) - shown to the user
    warnings: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    model: str = ""
    clip_model: str = ""
    seconds: float = 0.0


def synth(G: Generator, ws: torch.Tensor) -> torch.Tensor:
    """G.synthesis with StyleGAN2's fixed noise maps: random noise would make the CLIP loss
    noisy and the result irreproducible (other families ignore the keyword)."""
    return G.synthesis(ws, **RENDER_KWARGS)


def lr_at(t: float, base: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """StyleGAN2 projector / StyleCLIP schedule at progress t in [0, 1): warm-up, flat, cosine down."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if rampup > 0:
        ramp *= min(1.0, t / rampup)
    return base * ramp


def resolve_identity(G: Generator, id_weight: float, identity=None) -> tuple[object | None, str]:
    """The identity network R to use (or None) and a sentence saying which / why not.

    ``identity``: a module (x, y) -> [N] (used as is), ``None``/"auto" (ArcFace / SFace when the model
    is a face model and the weights load), or False (off).
    """
    if id_weight <= 0 or identity is False:
        return None, "identity term off (id_weight is 0)" if id_weight <= 0 else "identity term disabled"
    if identity not in (None, "auto"):
        return identity, f"identity network: {type(identity).__name__}"
    try:
        align = get_spec(G.name).align
    except ModelUnavailableError:
        align = "center"
    if align == "center":
        return None, f"identity term skipped: model {G.name!r} has no face alignment template (not a face model)"
    try:
        loss = IdentityLoss(align)
        return loss.to(G.device), f"identity network: {loss.network} (ganinv.identity.IdentityLoss)"
    except Exception as e:  # noqa: BLE001 - any failure to build R only drops the optional term
        return None, f"identity term skipped: the identity network did not load ({type(e).__name__}: {e})"


def resolve_clip(clip: ClipModel | None, device: torch.device | str) -> ClipModel:
    """The given ClipModel (which must sit on ``device``), or the default ViT-B-32 / openai there.

    Shared models are never moved: that would move them under other users' feet.
    """
    if clip is None:
        return load_clip(device=str(device))
    if torch.device(clip.device) != torch.device(device):
        raise ValueError(f"CLIP is on {clip.device} but the generator on {device}: "
                         f"use load_clip(..., device='{device}')")
    return clip


def optimization_space(G: Generator, space: str | None) -> str:
    """W+ when the model has it (the paper's space), else Z."""
    space = space or ("W+" if G.supports("W+") else "Z")
    latent_shape(G, space)
    return space


def to_space(G: Generator, latent: torch.Tensor, space: str, target: str) -> torch.Tensor:
    """Express ``latent`` (in ``space``) in ``target`` ("Z" only from "Z"; anything -> "W+")."""
    if space == target:
        return latent
    if target == "W+":
        return to_ws(G, latent, space)
    raise ValueError(f"cannot express a {space} latent in {target}; optimise in W+ or pass a Z latent")


def text_edit_optimize(
    G: Generator,
    latent: torch.Tensor,
    prompt: str,
    *,
    latent_space: str = "Z",                            # space of ``latent`` ("Z" | "W" | "W+")
    space: str | None = None,                           # optimisation space; default W+ when supported, else Z
    clip: ClipModel | None = None,                      # default load_clip() (ViT-B-32 / openai)
    num_steps: int = 300,                               # paper: 300
    lr: float = 0.1,                                    # paper: 0.1, peak of the schedule
    lr_rampup: float = 0.05,
    lr_rampdown: float = 0.25,
    l2_weight: float = 0.008,                           # l_L2
    id_weight: float = 0.005,                           # l_ID (faces); 0 turns the term off
    identity: nn.Module | bool | str | None = None,     # None/"auto" | False | module (x, y) -> [N]
    templates: str | Sequence[str] = "none",            # prompt templates averaged into t ("none" as in the paper)
    on_overlong: str = "truncate",                      # "truncate" | "error" for prompts over 77 tokens
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> TextEditResult:
    """Eq. 1 from ``latent`` (w_s, a batch [N, ...]); returns the edited latent and loss curves.

    To cancel, raise from ``progress`` (it is called every ``progress_every`` steps).
    """
    t0 = time.time()
    settings = {k: v for k, v in locals().items()
                if k not in ("G", "latent", "clip", "identity", "progress", "t0", "text_embedding")}
    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")
    check_latent(G, latent, latent_space)
    space = optimization_space(G, space)
    settings["space"] = space
    device = G.device
    clip = resolve_clip(clip, device)            # nothing below is random: no seed needed

    # 1. Text embedding t (checked prompt) and the identity network R.
    text_emb, chk = text_embedding(clip, prompt, templates=templates, on_overlong=on_overlong)
    R, id_reason = resolve_identity(G, id_weight, identity)
    with torch.no_grad():
        start = to_space(G, latent.to(device, torch.float32), latent_space, space).detach()   # w_s
        start_img = synth(G, to_ws(G, start, space))
        id_ref = R.embed(start_img) if R is not None and hasattr(R, "embed") else start_img
        d_before = clip.distance(start_img, text_emb)

    # 2. Adam on w with the projector schedule; loss summed over images (independent edits).
    w = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    history: list[dict] = []
    n = w.shape[0]
    for step in range(num_steps):
        cur_lr = lr_at(step / num_steps, lr, lr_rampup, lr_rampdown)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        img = synth(G, to_ws(G, w, space))
        l_clip = clip.distance(img, text_emb)                                   # [N]
        l_l2 = (w - start).pow(2).flatten(1).sum(1)                             # [N]
        l_id = R(img, id_ref) if R is not None else torch.zeros_like(l_clip)    # [N]
        loss = (l_clip + l2_weight * l_l2 + id_weight * l_id).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step + 1, "loss": loss.item() / n, "clip": l_clip.detach().mean().item(),
                        "l2": l_l2.detach().mean().item(), "id": l_id.detach().mean().item(), "lr": cur_lr,
                        "seconds": time.time() - t0})
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            h = history[-1]
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  clip {h['clip']:.4f}  l2 {h['l2']:.3f}")

    # 3. Final image and figures.
    with torch.no_grad():
        w = w.detach()
        img = synth(G, to_ws(G, w, space))
        d_after = clip.distance(img, text_emb)
        dist = (w - start).flatten(1).norm(dim=1)
    warnings = list(chk.warnings)
    if getattr(clip, "random_init", False):
        warnings.append("CLIP has random weights (test model): the edit follows no real meaning")
    return TextEditResult(latent=w, space=space, image=img, start_image=start_img, prompt=chk.text,
                          clip_distance_before=d_before.tolist(), clip_distance_after=d_after.tolist(),
                          latent_distance=dist.tolist(), loss_history=history, identity_used=R is not None,
                          identity_reason=id_reason, warnings=warnings, settings=settings, model=G.name,
                          clip_model=clip.label, seconds=time.time() - t0)


def result_summary(result: TextEditResult) -> dict:
    """JSON-ready summary (no tensors)."""
    return {"model": result.model, "clip_model": result.clip_model, "prompt": result.prompt, "space": result.space,
            "clip_distance_before": result.clip_distance_before, "clip_distance_after": result.clip_distance_after,
            "latent_distance": result.latent_distance, "identity_used": result.identity_used,
            "identity_reason": result.identity_reason, "warnings": result.warnings,
            "seconds": round(result.seconds, 2), "settings": result.settings,
            "final_loss": result.loss_history[-1]["loss"] if result.loss_history else None}


__all__ = ["TextEditResult", "text_edit_optimize", "result_summary", "lr_at", "resolve_identity", "resolve_clip",
           "optimization_space", "to_space", "synth"]
