"""Morphing, animation export, crossover and expression transfer.

Morphs: frames along lerp(a, b, t) (W / W+) or slerp (Z, whose Gaussian codes live near a
sphere; White 2016) -- ``ganinv.latent`` holds both.

Crossover (Abdal et al., "Image2StyleGAN", ICCV 2019, Sec. 6.1; StyleGAN style mixing,
Karras et al. 2019 Sec. 3.1): take ws[i..j] of the W+ code of image B, the other layers
from A.  This needs one code per layer (num_ws > 1).  A DCGAN reads its single z once, so
there is nothing per layer to swap; ``feature_crossover`` instead mixes the two images'
feature maps at a chosen layer (spatially: a region from B; or by channels) and runs the
rest of the generator on the mix (``G.features`` / ``G.synthesis_from``).

Expression transfer (Image2StyleGAN Sec. 6.3, Eq. 5): w = w1 + lambda (w3 - w2), where w2
and w3 are the same face neutral and with an expression.  The difference also carries
noise in the channels where it is small; those channels are set to zero
(|w3 - w2| < threshold), as the paper does.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..latent import check_latent, lerp, render, slerp
from ..models.base import Generator
from ..settings import RENDER_KWARGS
from ..io import tensor_to_pil


# --------------------------------------------------------------------------- morph
@dataclass
class MorphResult:
    latents: torch.Tensor                       # [F, *latent shape]
    images: torch.Tensor                        # [F, C, H, W] in [-1, 1] (empty if not rendered)
    ts: list[float]
    method: str                                 # "lerp" | "slerp"


def morph_latents(a: torch.Tensor, b: torch.Tensor, *, num_frames: int = 16, method: str = "lerp") -> tuple[torch.Tensor, list[float]]:
    """Codes a [1, ...] -> b [1, ...] in ``num_frames`` steps, endpoints included."""
    if a.shape != b.shape or a.shape[0] != 1:
        raise ValueError(f"morph needs two single codes of equal shape, got {list(a.shape)} and {list(b.shape)}")
    if num_frames < 2:
        raise ValueError("num_frames must be >= 2")
    fn = {"lerp": lerp, "slerp": slerp}.get(method)
    if fn is None:
        raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
    ts = [i / (num_frames - 1) for i in range(num_frames)]
    frames = [a.clone() if t == 0 else b.clone() if t == 1 else fn(a, b, t) for t in ts]
    return torch.cat(frames), ts


def morph(G: Generator, a: torch.Tensor, b: torch.Tensor, space: str, *, num_frames: int = 16,
          method: str | None = None, batch_size: int = 16) -> MorphResult:
    """Render a morph between latents ``a`` and ``b`` (each [1, ...] in ``space``).

    ``method`` defaults to slerp in Z and lerp in W / W+.
    """
    check_latent(G, a, space)
    check_latent(G, b, space)
    method = method or ("slerp" if space == "Z" else "lerp")
    lat, ts = morph_latents(a, b, num_frames=num_frames, method=method)
    with torch.no_grad():
        imgs = torch.cat([render(G, lat[i:i + batch_size], space, **RENDER_KWARGS) for i in range(0, len(lat), batch_size)])
    return MorphResult(lat, imgs, ts, method)


# --------------------------------------------------------------------------- export
def _pil_frames(frames) -> list[Image.Image]:
    if isinstance(frames, torch.Tensor):
        frames = tensor_to_pil(frames) if frames.ndim == 4 else [tensor_to_pil(frames)]
    frames = list(frames)
    if not frames:
        raise ValueError("no frames")
    return [f.convert("RGB") for f in frames]


def save_gif(frames, path: str, *, fps: float = 12.0, loop: int = 0, boomerang: bool = False) -> str:
    """Frames (PIL list or [F, C, H, W] tensor in [-1, 1]) -> animated GIF; ``boomerang`` plays back too."""
    pil = _pil_frames(frames)
    if boomerang and len(pil) > 2:
        pil = pil + pil[-2:0:-1]
    pil[0].save(path, save_all=True, append_images=pil[1:], duration=max(int(round(1000 / fps)), 20),
                loop=loop, optimize=False, disposal=2)
    return path


def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


def save_mp4(frames, path: str, *, fps: float = 24.0, boomerang: bool = False, crf: int = 18,
             min_size: int = 256) -> str:
    """Frames -> H.264 MP4 with the system ffmpeg (RuntimeError when it is missing).

    Frames smaller than ``min_size`` are upscaled (nearest) so players show them sharply;
    sides are made even as yuv420p requires.
    """
    exe = ffmpeg_path()
    if exe is None:
        raise RuntimeError("MP4 export needs ffmpeg on PATH (apt-get install ffmpeg); GIF export works without it")
    pil = _pil_frames(frames)
    if boomerang and len(pil) > 2:
        pil = pil + pil[-2:0:-1]
    w, h = pil[0].size
    scale = max(1, -(-min_size // max(w, h)))
    W, H = (w * scale + 1) // 2 * 2, (h * scale + 1) // 2 * 2
    raw = b"".join(np.asarray(f.resize((W, H), Image.NEAREST), dtype=np.uint8).tobytes() for f in pil)
    cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
           "-r", str(fps), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf),
           "-movflags", "+faststart", path]
    proc = subprocess.run(cmd, input=raw, capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
    return path


def save_animation(frames, path: str, *, fps: float = 12.0, boomerang: bool = False) -> str:
    """GIF or MP4 by the file extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gif":
        return save_gif(frames, path, fps=fps, boomerang=boomerang)
    if ext == ".mp4":
        return save_mp4(frames, path, fps=fps, boomerang=boomerang)
    raise ValueError(f"unsupported animation format {ext!r}: use .gif or .mp4")


def animation_bytes(frames, fmt: str = "gif", *, fps: float = 12.0, boomerang: bool = False) -> bytes:
    """The encoded animation as bytes (for apps that serve files from memory)."""
    with tempfile.TemporaryDirectory() as d:
        p = save_animation(frames, os.path.join(d, f"anim.{fmt}"), fps=fps, boomerang=boomerang)
        with open(p, "rb") as f:
            return f.read()


# --------------------------------------------------------------------------- crossover
class CrossoverError(ValueError):
    """The requested crossover is impossible for this model; the message offers the alternative."""


def crossover_wplus(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """ws_a [N, num_ws, w_dim] with ws[:, layers] taken from ws_b (a new tensor)."""
    if ws_a.shape != ws_b.shape or ws_a.ndim != 3:
        raise ValueError(f"two W+ codes of equal shape expected, got {list(ws_a.shape)} and {list(ws_b.shape)}")
    num_ws = ws_a.shape[1]
    if num_ws < 2:
        raise CrossoverError("layer crossover needs one code per layer (W+, num_ws > 1); this model reads a "
                             "single latent once: use feature_crossover (mix feature maps at a layer) instead")
    idx = sorted(set(int(i) for i in layers))
    if not idx or idx[0] < 0 or idx[-1] >= num_ws:
        raise ValueError(f"layers must be within 0..{num_ws - 1}, got {list(layers)}")
    mask = torch.zeros(1, num_ws, 1, device=ws_a.device, dtype=ws_a.dtype)
    mask[:, idx] = 1
    return ws_a * (1 - mask) + ws_b * mask


def crossover(G: Generator, ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Image of ``crossover_wplus`` (W+ models only; raises CrossoverError on a DCGAN)."""
    if not G.supports("W+") or G.num_ws < 2:
        raise CrossoverError(f"{G.name!r} has no per-layer latent (W+): layer crossover is impossible. "
                             f"Use feature_crossover at one of its layers ({', '.join(G.layer_names[1:-1])})")
    with torch.no_grad():
        return G.synthesis(crossover_wplus(ws_a, ws_b, layers), **RENDER_KWARGS)


REGIONS = ("left", "right", "top", "bottom", "center", "border")


def region_mask(region: str, height: int, width: int, *, fraction: float = 0.5) -> torch.Tensor:
    """[H, W] float mask, 1 where image B's features are used."""
    m = torch.zeros(height, width)
    fh, fw = max(1, round(height * fraction)), max(1, round(width * fraction))
    if region == "left":
        m[:, :fw] = 1
    elif region == "right":
        m[:, width - fw:] = 1
    elif region == "top":
        m[:fh, :] = 1
    elif region == "bottom":
        m[height - fh:, :] = 1
    elif region in ("center", "border"):
        t, l = (height - fh) // 2, (width - fw) // 2
        m[t:t + fh, l:l + fw] = 1
        if region == "border":
            m = 1 - m
    else:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    return m


@dataclass
class FeatureCrossoverResult:
    image: torch.Tensor                         # [N, C, H, W] in [-1, 1]
    mask: torch.Tensor                          # [1 or C, h, w] at the feature layer: 1 = from B
    layer: str
    mode: str


def feature_crossover(G: Generator, ws_a: torch.Tensor, ws_b: torch.Tensor, *, layer: str,
                      mode: str = "spatial", region: str = "bottom", fraction: float = 0.5,
                      mask: torch.Tensor | None = None, seed: int = 0) -> FeatureCrossoverResult:
    """Mix the feature maps of A and B at ``layer`` and finish synthesis from the mix.

    mode "spatial": B inside ``region`` (or a given [h, w] ``mask`` in [0, 1]); "channel": a
    seeded random ``fraction`` of the channels from B.  Early layers mix shape, late ones
    texture and colour.
    """
    if layer not in G.layer_names[1:-1]:
        raise ValueError(f"choose a hidden layer: {', '.join(G.layer_names[1:-1])}")
    with torch.no_grad():
        fa, fb = G.features(ws_a, layer, **RENDER_KWARGS), G.features(ws_b, layer, **RENDER_KWARGS)  # [N, C, h, w]
        C, h, w = fa.shape[1:]
        if mode == "spatial":
            m = (mask.float() if mask is not None else region_mask(region, h, w, fraction=fraction))
            if m.shape != (h, w):
                m = torch.nn.functional.interpolate(m[None, None], size=(h, w), mode="bilinear",
                                                    align_corners=False)[0, 0]
            m = m[None].to(fa)                                          # [1, h, w]
        elif mode == "channel":
            g = torch.Generator().manual_seed(seed)
            pick = torch.randperm(C, generator=g)[:max(1, round(C * fraction))]
            m = torch.zeros(C, 1, 1)
            m[pick] = 1
            m = m.to(fa)
        else:
            raise ValueError(f"mode must be 'spatial' or 'channel', got {mode!r}")
        mixed = fa * (1 - m) + fb * m
        img = G.synthesis_from(mixed, layer, ws_a, **RENDER_KWARGS)
    return FeatureCrossoverResult(img, m.cpu(), layer, mode)


# --------------------------------------------------------------------------- expression transfer
@dataclass
class ExpressionResult:
    latent: torch.Tensor                        # w1 + strength * masked (w3 - w2)
    delta: torch.Tensor                         # the masked difference
    kept_fraction: float                        # share of channels above the threshold


def expression_transfer(w1: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor, *, strength: float = 1.0,
                        threshold: float = 0.0) -> ExpressionResult:
    """w1 + strength * (w3 - w2), zeroing the channels where |w3 - w2| < ``threshold``.

    All three codes share one shape ([N, dim] or [N, num_ws, w_dim]); w2 / w3 may have
    N = 1 to transfer one expression to a batch of w1.
    """
    if w2.shape != w3.shape or w1.shape[1:] != w2.shape[1:]:
        raise ValueError(f"codes must share a shape, got {list(w1.shape)}, {list(w2.shape)}, {list(w3.shape)}")
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    d = w3 - w2
    keep = d.abs() >= threshold
    delta = torch.where(keep, d, torch.zeros_like(d))
    return ExpressionResult(w1 + strength * delta, delta, float(keep.float().mean()))
