"""Task: combine latents: morph, crossover (style mixing), expression transfer, semantic diffusion.

Papers: slerp (White 2016); Image2StyleGAN (Abdal et al., ICCV 2019) crossover (Sec. 6.1) and
expression transfer w1 + lambda (w3 - w2) (eq. 5); In-Domain GAN Inversion (Zhu et al., ECCV
2020) semantic diffusion (Sec. 4.3).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..edit.mixing import (REGIONS, crossover as crossover_wplus_layers, expression_transfer, feature_crossover,
                           ffmpeg_path, morph as morph_frames, save_gif, save_mp4)
from ..invert.semantic_diffusion import center_box_mask, semantic_diffusion
from ..io import image_grid, save_latent, tensor_to_pil
from ..latent import render, to_ws
from ..models.base import Generator
from ..settings import (DEFAULT_MODEL, DOMAIN_WEIGHT_MAX, INVERT_STEPS, MAX_FRAMES, MORPH_FPS, MORPH_FRAMES,
                        RENDER_KWARGS, STRENGTH_LIMIT, ProgressFn)
from .common import source_generator, InputError, Source, check_layer, check_source, check_steps, choice, generator, layer_list, number, seed as check_seed
from .faces import prepare_image
from .invert_methods import method_encoder
from .sources import resolve_source, resolve_sources

MORPH_METHODS = ("lerp", "slerp")
FEATURE_MODES = ("spatial", "channel")
MIX_MODES = ("crossover", "feature", "expression")   # W+ layer crossover, feature crossover, expression transfer
CROSSOVER_LAYERS = "0-3"                    # W+ layers taken from B: the coarse styles (pose, face shape)
REGION = "bottom"                           # feature crossover: where B's features go
FRACTION = 0.5                              # feature crossover: share of the region / channels from B


@dataclass
class MorphOutput:
    frames: torch.Tensor                        # [F, C, H, W]
    strip: Image.Image                          # up to 8 frames side by side
    gif: str
    mp4: str | None                             # None when ffmpeg is missing or not asked for
    method: str
    notes: list[str]


@dataclass
class MixOutput:
    image: torch.Tensor                         # [1, C, H, W]
    inputs: list[torch.Tensor]                  # the source images, [1, C, H, W] each
    note: str
    latent: torch.Tensor | None = None          # the result's code, when it has one
    space: str | None = None
    model: str | None = None                    # the generator the code belongs to


def _render(G: Generator, latents: torch.Tensor, space: str) -> torch.Tensor:
    with torch.no_grad():
        return render(G, latents.to(G.device), space, **RENDER_KWARGS).cpu()


def _steps(invert_steps) -> int:
    return check_steps(invert_steps, "Inversion steps for photos")


def morph(a: Source, b: Source, *, folder: str, model: str = DEFAULT_MODEL, num_frames: int = MORPH_FRAMES,
          fps: float = MORPH_FPS, method: str | None = None, mp4: bool = True, boomerang: bool = True,
          invert_steps: int = INVERT_STEPS, min_size: int = 256, stem: str = "morph", device: str | None = None,
          progress: ProgressFn | None = None) -> MorphOutput:
    """Morph a -> b (slerp in Z, lerp in W / W+ by default), saved as <stem>.gif (+ <stem>.mp4 with ffmpeg)
    in ``folder``; frames upscaled (nearest) to at least ``min_size`` pixels; ``boomerang`` plays them back."""
    n = number(num_frames, "Number of frames", 2, MAX_FRAMES, whole=True)
    fps = number(fps, "Frames per second", 1, 60)
    min_size = number(min_size, "Minimum size", 1, 4096, whole=True)
    if method is not None:
        choice(method, "Interpolation", MORPH_METHODS)
    if not stem or os.path.basename(stem) != stem or stem.startswith("."):
        raise InputError(f"The file name stem must be a plain name, got {str(stem)[:40]!r}.")
    G = generator(model, device)
    G = source_generator(G, a, b)
    (la, lb), space, notes = resolve_sources(G, [a, b], invert_steps=_steps(invert_steps), progress=progress)
    r = morph_frames(G, la, lb, space, num_frames=n, **({"method": method} if method else {}))
    frames = r.images.cpu()
    os.makedirs(folder, exist_ok=True)
    pil = tensor_to_pil(frames)
    scale = max(1, -(-min_size // max(pil[0].size)))
    gif = save_gif([im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in pil],
                   os.path.join(folder, stem + ".gif"), fps=fps, boomerang=boomerang)
    video = save_mp4(frames, os.path.join(folder, stem + ".mp4"), fps=fps, boomerang=boomerang) \
        if mp4 and ffmpeg_path() else None
    pick = np.unique(np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int))
    strip = image_grid(tensor_to_pil(frames[pick]), cols=len(pick))
    return MorphOutput(frames, strip, gif, video, r.method, notes)


def crossover(a: Source, b: Source, *, model: str = DEFAULT_MODEL, layers: str | Sequence[int] | None = None,
              layer: str | None = None, mode: str = FEATURE_MODES[0], region: str = REGION,
              fraction: float = FRACTION, seed: int = 0, invert_steps: int = INVERT_STEPS, device: str | None = None,
              progress: ProgressFn | None = None) -> MixOutput:
    """Image2StyleGAN crossover: W+ ``layers`` (e.g. "0-3") from b (StyleGAN2), or, for single-code models
    (the DCGAN) or without ``layers``, b's feature maps mixed into a's at ``layer`` (region or channels;
    default: the middle layer)."""
    G = generator(model, device)
    G = source_generator(G, a, b)
    wlayers = layer_list(layers, G.num_ws) if layers not in (None, "") and G.num_ws > 1 else None
    seed = check_seed(seed)
    if wlayers is None:
        layer = check_layer(G, layer, "Feature layer") or G.layer_names[len(G.layer_names) // 2]
        choice(mode, "Mode", FEATURE_MODES)
        choice(region, "Region", REGIONS)
        fraction = number(fraction, "Fraction from B", 0.01, 1)
    (la, lb), space, notes = resolve_sources(G, [a, b], invert_steps=_steps(invert_steps), progress=progress)
    with torch.no_grad():
        wa, wb = to_ws(G, la, space), to_ws(G, lb, space)
        if wlayers is not None:
            img = crossover_wplus_layers(G, wa, wb, wlayers)
            note = f"W+ layers {wlayers} from B, the rest from A"
        else:
            img = feature_crossover(G, wa, wb, layer=layer, mode=mode, region=region, fraction=fraction,
                                    seed=seed).image
            what = f"the {region} {fraction:.0%}" if mode == "spatial" else f"{fraction:.0%} of the channels"
            note = f"features at {layer}: {what} from B, the rest from A"
    return MixOutput(img.cpu(), [_render(G, la, space), _render(G, lb, space)], "; ".join(notes + [note]))


def expression(w1: Source, w2: Source, w3: Source, *, model: str = DEFAULT_MODEL, strength: float = 1.0,
               threshold: float = 0.0, invert_steps: int = INVERT_STEPS, device: str | None = None,
               progress: ProgressFn | None = None) -> MixOutput:
    """Image2StyleGAN expression transfer w1 + strength (w3 - w2), channels with |w3 - w2| < threshold zeroed."""
    lam = number(strength, "Lambda", -STRENGTH_LIMIT, STRENGTH_LIMIT)
    thr = number(threshold, "Threshold", 0, 100)
    G = generator(model, device)
    G = source_generator(G, w1, w2, w3)
    (l1, l2, l3), space, notes = resolve_sources(G, [w1, w2, w3], invert_steps=_steps(invert_steps),
                                                 progress=progress)
    r = expression_transfer(l1, l2, l3, strength=lam, threshold=thr)
    return MixOutput(_render(G, r.latent, space), [_render(G, x, space) for x in (l1, l2, l3)],
                     "; ".join(notes + [f"kept {r.kept_fraction:.0%} of the difference's channels"]),
                     latent=r.latent.detach().cpu(), space=space, model=G.name)


def mix(sources: Sequence[Source], *, mode: str = "feature", model: str = DEFAULT_MODEL,
        layers: str | Sequence[int] | None = CROSSOVER_LAYERS, layer: str | None = None,
        feature_mode: str = FEATURE_MODES[0], region: str = REGION, fraction: float = FRACTION, seed: int = 0,
        strength: float = 1.0, threshold: float = 0.0, invert_steps: int = INVERT_STEPS, device: str | None = None,
        progress: ProgressFn | None = None) -> MixOutput:
    """One of MIX_MODES on 2 sources (3 for expression):

    crossover   W+ ``layers`` from B, the rest from A (StyleGAN2; "all" takes every layer);
    feature     B's feature maps at ``layer`` mixed into A's (``feature_mode``, ``region``, ``fraction``);
    expression  w1 + ``strength`` (w3 - w2), channels below ``threshold`` zeroed.
    """
    choice(mode, "Mix mode", MIX_MODES)
    need = 3 if mode == "expression" else 2
    sources = list(sources or [])
    if len(sources) != need:
        raise InputError(f"Mode {mode!r} combines {need} latents, got {len(sources)}.")
    if mode == "expression":
        return expression(*sources, model=model, strength=strength, threshold=threshold, invert_steps=invert_steps,
                          device=device, progress=progress)
    if mode == "feature":
        return crossover(*sources, model=model, layers=None, layer=layer, mode=feature_mode, region=region,
                         fraction=fraction, seed=seed, invert_steps=invert_steps, device=device, progress=progress)
    G = generator(model, device)
    if G.num_ws < 2:
        raise InputError(f"Layer crossover swaps W+ codes, and {G.name} has a single code: use mode 'feature'.")
    wlayers = layer_list(layers, G.num_ws) or list(range(G.num_ws))
    return crossover(*sources, model=model, layers=wlayers, seed=seed, invert_steps=invert_steps, device=device,
                     progress=progress)


def source_image(G: Generator, src: Source) -> tuple[torch.Tensor, str]:
    """The image [1, C, R, R] a source stands for: a photo's model-sized crop as it is (no
    inversion), or the rendering of a session latent, seed or latent file."""
    src = check_source(src)
    if src.kind == "file" and src.path and not str(src.path).lower().endswith(".npz"):
        prep = prepare_image(src.path, G)
        return prep.tensor[:1].to(G.device), f"{src.label}: photo ({prep.note})"
    latent, space, note = resolve_source(G, src)
    return _render(G, latent, space).to(G.device), note


def diffusion(context: Source, target: Source, *, model: str = DEFAULT_MODEL, box: float = 0.5, feather: int = 2,
              num_steps: int = INVERT_STEPS, l_dom: float = 0.1, encoder: str | None = None,
              device: str | None = None, progress: ProgressFn | None = None) -> MixOutput:
    """Semantic diffusion: the centre box (side ``box`` x R) of ``target`` pasted into ``context``, then
    inverted in-domain so the generator blends it.  ``inputs`` are context, target and the composite."""
    box = number(box, "Pasted box", 0.1, 0.9)
    feather = number(feather, "Feather", 0, 64, whole=True)
    steps = check_steps(num_steps, "Evaluations")
    l_dom = number(l_dom, "Domain weight", 0, DOMAIN_WEIGHT_MAX)
    G = generator(model, device)
    E = method_encoder(G, encoder, True)
    shown = source_generator(G, context, target)      # a tuned session latent is drawn with its own weights
    ctx, n_ctx = source_image(shown, context)
    tgt, n_tgt = source_image(shown, target)
    mask = center_box_mask(G.resolution, box, feather=feather, device=G.device)
    r = semantic_diffusion(G, E, tgt, ctx, mask=mask, num_steps=steps, l_dom=l_dom, progress=progress)
    inside = (r.mask > 0.999).expand_as(tgt)
    err = float((r.image - tgt)[inside].square().mean())
    psnr_in = 10 * math.log10(4.0 / max(err, 1e-12))
    note = (f"centre {box:.0%} box of the target pasted into the context and inverted in-domain "
            f"({steps} evaluations, domain weight {l_dom:g}); PSNR inside the box {psnr_in:.2f} dB")
    return MixOutput(r.image.detach().cpu(), [ctx.cpu(), tgt.cpu(), r.composite.detach().cpu()],
                     "; ".join([n_ctx, n_tgt, note]), latent=r.inversion.latent.detach().cpu(),
                     space=r.inversion.space, model=G.name)


def save_mix(path: str, out: MixOutput, *, method: str) -> str:
    """A result's code as a ganinv .npz (``method`` and the note in the metadata)."""
    if out.latent is None or out.model is None:
        raise InputError("This result is an image only: there is no latent to save.")
    return save_latent(path, out.latent, model=out.model, space=out.space,
                       extra={"method": method, "source": "mix", "note": out.note})


__all__ = ["MORPH_METHODS", "FEATURE_MODES", "MIX_MODES", "CROSSOVER_LAYERS", "REGIONS", "MorphOutput", "MixOutput",
           "morph", "crossover", "expression", "mix", "source_image", "diffusion", "save_mix", "ffmpeg_path"]
