"""StyleCLIP global directions: text -> an input-agnostic edit in StyleSpace S (StyleGAN2 only).

Patashnik et al., ICCV 2021, Sec. 6.  StyleSpace S (Wu et al., CVPR 2021) is the set of
per-layer style vectors s = A(w) that modulate the convolutions.  Two stages:

1. Precompute (once per generator and CLIP model).  For every style channel c, over a set
   of sampled images: set s_c to its mean, render with s_c = mean_c +/- k std_c, embed both
   images with CLIP, and average the normalised embedding differences (Sec. 6, "Channel-wise
   image directions"):

       Delta i_c = normalise( E_images[ normalise(E_I(G(s + k std_c e_c)) - E_I(G(s - k std_c e_c))) ] )

   The authors' released precomputation uses k = 5 and 100 images and leaves out the toRGB
   styles (6048 conv channels at 1024 px); those are our defaults.  It also *sets* the channel to
   its mean before perturbing: ``SingleChannel.py`` (both ``global_directions/`` and ``global_torch/``
   in orpatashnik/StyleCLIP) assigns ``dlatents[l][:, c] = code_mean[l][c]``, then
   ``Manipulator.EditOneC`` adds alpha * code_std[l][c] with alpha in (-5, 5), i.e. mean +/- 5 std for
   every image, as here.  (That assignment writes through a shallow copy into the sampled styles, so in
   their run the channels already processed stay at their means for the later ones; we do not copy
   that side effect: every channel is measured on the images' own styles.)
2. Edit (instant).  A text pair (neutral, target) gives Delta t (``prompts.text_direction``,
   80 templates averaged).  Channel relevance (Sec. 6, R_c(Delta i) = E[Delta i_c . Delta i]
   with Delta i ~ Delta t, as the paper assumes collinearity):

       R_c = < Delta i_c, Delta t >
       Delta s_c = R_c if |R_c| >= beta else 0                                      (beta: disentanglement)
       s' = s + alpha * std_c * Delta s_c / max_c |Delta s_c|                      (alpha: strength)

   The normalisation by max |R| and the scaling by each channel's std follow the authors'
   code: alpha = 1 moves the most relevant channel by one standard deviation.

Cost of stage 1: channels x images x 2 renders + CLIP encodes.  At 1024 px that is
6048 x 100 x 2 = 1.2 M generator + CLIP passes (GPU hours; CPU: impractical, weeks); at
256 px (4928 conv channels) with 20 images about 200 k passes.  Progress is reported per channel
and partial results are written atomically every ``save_every`` channels, so an
interrupted run resumes where it stopped.  Results are cached per (model, CLIP model) in
``checkpoints/styleclip-global/``.

Z-only models (the DCGAN) have no StyleSpace: ``GlobalDirectionUnsupported`` says so.

Legend: ``directions`` -> Delta i_c [C, D], ``delta_t`` -> Delta t [D], ``relevance`` ->
R_c [C], ``delta_s`` -> Delta s [C] (in style units, std and max-normalisation applied),
``perturb`` -> k.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_write
from ..latent import check_latent, to_ws
from ..models.base import Generator
from ..settings import RENDER_KWARGS, ProgressFn
from ..registry import checkpoints_dir
from .styleclip_optimize import resolve_clip
from .prompts import text_direction

if TYPE_CHECKING:
    from ..clip_models import ClipModel

FORMAT = "ganinv-styleclip-global/1"


class GlobalDirectionUnsupported(ValueError):
    """The model has no StyleSpace (e.g. the DCGAN)."""


class GlobalDirectionsError(ValueError):
    """A directions file is unreadable, incomplete or made for another model / CLIP / settings."""


def require_stylespace(G: Generator) -> None:
    if not G.supports("S") or not hasattr(G, "styles"):
        raise GlobalDirectionUnsupported(
            f"StyleCLIP global directions need a StyleGAN2 model (StyleSpace S); {G.name!r} has only "
            f"{'/'.join(G.spaces)}: use text-edit (latent optimisation) or a latent mapper instead")


@dataclass
class GlobalDirections:
    """Per-channel CLIP image directions Delta i_c for one (generator, CLIP model)."""

    model: str
    clip_model: str
    names: list[str]                            # style layers covered, synthesis order
    dims: list[int]                             # channels per layer
    mean: torch.Tensor                          # [C] channel means over sampled styles
    std: torch.Tensor                           # [C] channel stds
    directions: torch.Tensor                    # [C, D] unit Delta i_c (zeros where not done)
    done: torch.Tensor                          # [C] bool
    settings: dict = field(default_factory=dict)

    @property
    def num_channels(self) -> int:
        return int(sum(self.dims))

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat [..., C] -> {layer: [..., dim]}."""
        return dict(zip(self.names, flat.split(self.dims, dim=-1)))


# --------------------------------------------------------------------------- stage 1
def style_layers(G: Generator, *, include_torgb: bool = False) -> tuple[list[str], list[int]]:
    """Style layer names and channel counts (toRGB styles left out by default, as the authors do)."""
    require_stylespace(G)
    items = [(k, d) for k, d in G.style_dims.items() if include_torgb or not k.endswith("torgb")]
    return [k for k, _ in items], [d for _, d in items]


@torch.no_grad()
def style_stats(G: Generator, names: list[str], *, num_samples: int = 10000, seed: int = 0,
                chunk: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std [C] of each style channel over ``num_samples`` mapped z (no synthesis needed)."""
    z = G.sample_z(num_samples, seed=seed)
    total = total_sq = None
    for zc in z.split(chunk):                  # running sums: 10k x 9088 styles need not sit in memory
        st = G.styles(to_ws(G, zc, "Z"))
        s = torch.cat([st[k] for k in names], dim=1).double()                # [chunk, C]
        total = s.sum(0) if total is None else total + s.sum(0)
        total_sq = s.square().sum(0) if total_sq is None else total_sq + s.square().sum(0)
    mean = total / num_samples
    var = (total_sq - num_samples * mean.square()).clamp_min(0) / max(1, num_samples - 1)
    return mean.float(), var.sqrt().float()


def default_directions_path(model: str, clip_label: str) -> str:
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "-", t).strip("-") for t in (model, clip_label)]   # e.g. "local:x" -> "local-x"
    return os.path.join(checkpoints_dir(), "styleclip-global", f"{safe[0]}--{safe[1]}.safetensors")


def _save(gd: GlobalDirections, path: str) -> None:
    """Write atomically (temp file in the same folder, then rename): a crash never leaves a torn file."""
    meta = {"format": FORMAT, "model": gd.model, "clip_model": gd.clip_model, "names": json.dumps(gd.names),
            "dims": json.dumps(gd.dims), "settings": json.dumps(gd.settings),
            "progress": f"{int(gd.done.sum())}/{gd.num_channels}"}
    tensors = {"directions": gd.directions.float().cpu().contiguous(), "done": gd.done.to(torch.uint8).cpu(),
               "mean": gd.mean.float().cpu().contiguous(), "std": gd.std.float().cpu().contiguous()}
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def load_global_directions(path: str, *, G: Generator | None = None, clip: ClipModel | None = None,
                           require_complete: bool = True) -> GlobalDirections:
    """Read a directions file; with ``G`` / ``clip`` check it belongs to them."""
    if not os.path.isfile(path):
        raise GlobalDirectionsError(f"no global directions at {path}: run `ganinv global-directions` first")
    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            t = {k: f.get_tensor(k) for k in f.keys()}
        gd = GlobalDirections(meta["model"], meta["clip_model"], json.loads(meta["names"]), json.loads(meta["dims"]),
                              t["mean"], t["std"], t["directions"], t["done"].bool(), json.loads(meta["settings"]))
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise GlobalDirectionsError(f"{path} is not a readable global-directions file ({type(e).__name__})") from None
    if meta.get("format") != FORMAT:
        raise GlobalDirectionsError(f"{path} is not a ganinv global-directions file")
    if G is not None:
        require_stylespace(G)
        dims = [G.style_dims.get(n) for n in gd.names]
        if gd.model != G.name or dims != gd.dims:
            raise GlobalDirectionsError(f"{path} was computed for model {gd.model!r}, not {G.name!r}")
    if clip is not None and gd.clip_model != clip.label:
        raise GlobalDirectionsError(f"{path} was computed with CLIP {gd.clip_model}, not {clip.label}")
    if require_complete and not gd.complete:
        raise GlobalDirectionsError(f"{path} is {int(gd.done.sum())}/{gd.num_channels} channels done: run "
                                    "`ganinv global-directions` again to resume")
    return gd


def _channel_direction(G: Generator, clip: ClipModel, ws: torch.Tensor, base: dict[str, torch.Tensor], name: str,
                       j: int, lo: float, hi: float, batch: int) -> torch.Tensor:
    """Delta i for channel j of layer ``name`` over the images of ``ws`` [N, num_ws, w_dim], [D]."""
    diffs = []
    for a in range(0, ws.shape[0], batch):
        w = ws[a:a + batch]
        s = base[name][a:a + batch]
        s_lo, s_hi = s.clone(), s.clone()
        s_lo[:, j], s_hi[:, j] = lo, hi
        styles = {k: torch.cat([v[a:a + batch]] * 2) for k, v in base.items()}
        styles[name] = torch.cat([s_lo, s_hi])
        img = G.synthesis(torch.cat([w, w]), styles=styles, **RENDER_KWARGS)
        e = clip.encode_image(img)                                           # unit [2n, D]
        e_lo, e_hi = e.chunk(2)
        diffs.append(F.normalize(e_hi - e_lo, dim=-1))
    return F.normalize(torch.cat(diffs).mean(0), dim=0)


@torch.no_grad()
def precompute_global_directions(
    G: Generator,
    clip: ClipModel | None = None,                      # default load_clip() (ViT-B-32 / openai)
    *,
    path: str | None = None,                            # default: checkpoints/styleclip-global/<model>--<clip>
    num_images: int = 100,                              # images averaged per channel (authors: 100)
    perturb: float = 5.0,                               # k: channel set to mean +/- k std (authors: 5)
    include_torgb: bool = False,                        # authors leave toRGB styles out
    num_stats: int = 10000,                             # samples for the channel mean / std
    batch_size: int = 8,                                # image pairs per forward pass
    save_every: int = 64,                               # channels between atomic partial saves
    max_channels: int | None = None,                    # stop after this many new channels (split the work over runs)
    resume: bool = True,                                # continue a matching partial file; False starts over
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> GlobalDirections:
    """Stage 1 (see module docstring); resumable.  Returns the (possibly partial) directions.

    ``max_channels`` and the periodic atomic saves let a long run be split or interrupted; a
    later call with the same settings continues with the channels not yet done.
    """
    require_stylespace(G)
    clip = resolve_clip(clip, G.device)
    names, dims = style_layers(G, include_torgb=include_torgb)
    settings = {"num_images": num_images, "perturb": perturb, "include_torgb": include_torgb,
                "num_stats": num_stats, "seed": seed}
    path = path or default_directions_path(G.name, clip.label)
    gd = None
    if resume and os.path.isfile(path):
        gd = load_global_directions(path, require_complete=False)
        if (gd.model, gd.clip_model, gd.names, gd.dims, gd.settings) != (G.name, clip.label, names, dims, settings):
            raise GlobalDirectionsError(
                f"{path} holds directions for other settings ({gd.model}, {gd.clip_model}, {gd.settings}); "
                "pass another path or resume=False to start over")
    if gd is None:
        mean, std = style_stats(G, names, num_samples=num_stats, seed=seed)
        C = int(sum(dims))
        gd = GlobalDirections(G.name, clip.label, names, dims, mean.cpu(), std.cpu(),
                              torch.zeros(C, clip.embed_dim), torch.zeros(C, dtype=torch.bool), settings)
    ws = to_ws(G, G.sample_z(num_images, seed=seed + 1), "Z")             # [N, num_ws, w_dim]
    base = G.styles(ws)
    offsets = torch.tensor([0, *dims]).cumsum(0).tolist()
    todo = (~gd.done).nonzero().flatten().tolist()
    if max_channels is not None:
        todo = todo[:max_channels]
    t0, total = time.time(), gd.num_channels
    for i, c in enumerate(todo):
        layer = max(k for k in range(len(names)) if offsets[k] <= c)
        name, j = names[layer], c - offsets[layer]
        m, s = float(gd.mean[c]), float(gd.std[c])
        gd.directions[c] = _channel_direction(G, clip, ws, base, name, j, m - perturb * s, m + perturb * s,
                                              batch_size).cpu()
        gd.done[c] = True
        if (i + 1) % save_every == 0:
            _save(gd, path)
        if progress:
            n_done = int(gd.done.sum())
            eta = (time.time() - t0) / (i + 1) * (len(todo) - i - 1)
            progress(n_done / total, f"channel {n_done}/{total} ({name}[{j}])  ~{eta:.0f} s left in this run")
    _save(gd, path)
    gd.settings = dict(gd.settings, path=path)
    return gd


# --------------------------------------------------------------------------- stage 2
def channel_relevance(directions: torch.Tensor, delta_t: torch.Tensor) -> torch.Tensor:
    """R_c = <Delta i_c, Delta t>, [C]."""
    assert directions.ndim == 2 and delta_t.shape == directions.shape[1:], \
        f"directions [C, D] and delta_t [D] expected, got {tuple(directions.shape)}, {tuple(delta_t.shape)}"
    return directions @ delta_t.to(directions)


def style_delta(gd: GlobalDirections, delta_t: torch.Tensor, *, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Delta s [C] (style units: std-scaled, max-normalised, zero where |R_c| < beta) and R [C]."""
    rel = channel_relevance(gd.directions, delta_t)
    ds = torch.where(rel.abs() >= beta, rel, torch.zeros_like(rel))
    peak = ds.abs().max()
    if peak > 0:
        ds = ds / peak
    return ds * gd.std.to(ds), rel


@dataclass
class GlobalEditResult:
    image: torch.Tensor                         # [N, C, H, W] in [-1, 1]
    start_image: torch.Tensor                   # [N, C, H, W] unedited
    styles: dict[str, torch.Tensor]             # edited styles, layer -> [N, dim]
    delta_s: torch.Tensor                       # [C] style change per unit alpha
    relevance: torch.Tensor                     # [C] R_c
    num_channels: int                           # channels with |R_c| >= beta
    channels_per_layer: dict[str, int]
    neutral: str
    target: str
    alpha: float
    beta: float
    warnings: list[str] = field(default_factory=list)


def apply_style_delta(G: Generator, ws: torch.Tensor, gd: GlobalDirections, delta_s: torch.Tensor,
                      alpha: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """s' = s + alpha * Delta s on the layers of ``gd``; returns (image, edited styles)."""
    styles = G.styles(ws)
    for name, d in gd.split(delta_s.to(ws.device)).items():
        styles[name] = styles[name] + alpha * d
    return G.synthesis(ws, styles=styles, **RENDER_KWARGS), styles


_LOADED: dict[tuple[str, float], GlobalDirections] = {}
_LOCK = threading.Lock()


def _cached_directions(path: str, G: Generator, clip: ClipModel) -> GlobalDirections:
    key = (os.path.abspath(path), os.path.getmtime(path) if os.path.isfile(path) else 0.0)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_global_directions(path, G=G, clip=clip)
        return _LOADED[key]


@torch.no_grad()
def global_edit(
    G: Generator,
    latent: torch.Tensor,
    neutral: str,
    target: str,
    *,
    latent_space: str = "Z",                            # space of ``latent``
    directions: GlobalDirections | str | None = None,   # object, file path, or the cached default file
    clip: ClipModel | None = None,                      # default load_clip(); must match the directions
    alpha: float = 4.0,                                 # strength (negative reverses the edit)
    beta: float = 0.15,                                 # disentanglement threshold on |R_c|
    templates: str | Sequence[str] = "imagenet",
    on_overlong: str = "truncate",
) -> GlobalEditResult:
    """Stage 2: edit ``latent`` [N, ...] by the text pair (neutral -> target)."""
    require_stylespace(G)
    check_latent(G, latent, latent_space)
    clip = resolve_clip(clip, G.device)
    if not isinstance(directions, GlobalDirections):
        path = directions or default_directions_path(G.name, clip.label)
        directions = _cached_directions(path, G, clip)
    elif not directions.complete:
        raise GlobalDirectionsError("the global directions are incomplete: finish the precomputation first")
    delta_t, warnings = text_direction(clip, neutral, target, templates=templates, on_overlong=on_overlong)
    delta_s, rel = style_delta(directions, delta_t, beta=beta)
    kept = rel.abs() >= beta
    if not kept.any():
        warnings.append(f"no channel reaches beta = {beta:g} (largest |R_c| = {float(rel.abs().max()):.3f}): "
                        "the image is unchanged; lower beta")
    ws = to_ws(G, latent.to(G.device, torch.float32), latent_space)
    start = G.synthesis(ws, **RENDER_KWARGS)
    img, styles = apply_style_delta(G, ws, directions, delta_s, alpha)
    per_layer = {k: int(v.sum()) for k, v in directions.split(kept).items()}
    if getattr(clip, "random_init", False):
        warnings.append("CLIP has random weights (test model): the edit follows no real meaning")
    return GlobalEditResult(img, start, styles, delta_s, rel, int(kept.sum()), per_layer, neutral, target,
                            alpha, beta, warnings)


__all__ = ["GlobalDirections", "GlobalEditResult", "GlobalDirectionUnsupported", "GlobalDirectionsError",
           "precompute_global_directions", "load_global_directions", "global_edit", "channel_relevance",
           "style_delta", "apply_style_delta", "style_layers", "style_stats", "default_directions_path",
           "require_stylespace"]
