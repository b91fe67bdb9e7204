"""Latent sources for edit, discover, mix and text edit: the session record, a seed, or a file
(a .npz latent, or a photo that is inverted on the spot with the default inversion)."""
from __future__ import annotations

from typing import Sequence

import torch

from ..latent import default_space, seed_latent, to_ws
from ..models.base import Generator
from ..settings import INVERT_STEPS, ProgressFn
from .common import InputError, Source, check_source, session_latent
from .faces import prepare_image
from .invert import check_settings, run_method

# A photo given as a source (morph / mix / text edit) is inverted to a code alone: several sources share one
# generator, so a per-photo tuned generator (PTI, the Invert tab's default) cannot come along.
PHOTO_METHOD = "optimize"


def resolve_source(G: Generator, src: Source, *, invert_steps: int = INVERT_STEPS,
                   progress: ProgressFn | None = None) -> tuple[torch.Tensor, str, str]:
    """(latent [1, ...] on G's device, its space, a note saying where it came from)."""
    src = check_source(src)
    if src.kind == "session":
        latent, space = session_latent(G, src.record, src.label)
        return latent, space, f"{src.label}: session latent ({space})"
    if src.kind == "seed":
        space = default_space(G)
        return seed_latent(G, src.seed, space), space, f"{src.label}: seed {src.seed}"
    if not src.path:
        raise InputError(f"{src.label}: upload a .npz latent or a photo first.")
    if str(src.path).lower().endswith(".npz"):
        lf = src.latent_file(G)
        return lf.latent[:1].to(G.device), lf.space, f"{src.label}: latent file ({lf.space})"
    prep = prepare_image(src.path, G)
    settings = check_settings(G, method=PHOTO_METHOD, space=None, steps=invert_steps, perceptual_weight=1.0,
                              restarts=1, seed=0, n_codes=1, layer=None, l_dom=None)
    inv = run_method(G, prep, PHOTO_METHOD, settings, progress=progress)
    return (inv.latent.to(G.device), inv.space,
            f"{src.label}: photo inverted by optimisation, {settings['steps']} steps ({prep.note})")


def resolve_sources(G: Generator, sources: Sequence[Source], *, invert_steps: int = INVERT_STEPS,
                    progress: ProgressFn | None = None) -> tuple[list[torch.Tensor], str, list[str]]:
    """Several sources in one space: their own when they agree, else W+ (one code per layer)."""
    items = [resolve_source(G, s, invert_steps=invert_steps, progress=progress) for s in sources]
    spaces = {s for _, s, _ in items}
    notes = [n for _, _, n in items]
    if len(spaces) == 1:
        return [x for x, _, _ in items], spaces.pop(), notes
    if not G.supports("W+"):
        raise InputError(f"cannot combine latents in {sorted(spaces)} on {G.name!r}")
    with torch.no_grad():
        return [to_ws(G, x, s) for x, s, _ in items], "W+", notes


__all__ = ["resolve_source", "resolve_sources"]
