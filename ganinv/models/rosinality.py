"""rosinality/stylegan2-pytorch ``.pt`` checkpoints (``{"g_ema": state_dict, "latent_avg": ...}``), read
with ``torch.load(weights_only=True)`` and renamed to NVIDIA/ganinv names; and written back for tests.
"""
from __future__ import annotations

import argparse
import pickle
import re
import zipfile

import torch

from .safe_pickle import CheckpointFormatError, UnsafeCheckpointError
from .stylegan2 import StyleGAN2Config, StyleGAN2Generator, make_filter


def _ros_names(config: StyleGAN2Config) -> list[tuple[str, str]]:
    """(ours, rosinality) name pairs, excluding the FIR buffers (regenerated from the config)."""
    pairs = [(f"mapping.fc{i}.{p}", f"style.{i + 1}.{p}") for i in range(config.mapping_layers) for p in ("weight", "bias")]
    pairs.append(("synthesis.b4.const", "input.input"))

    def conv(ours: str, theirs: str, noise_idx: int) -> None:
        pairs.extend([(f"{ours}.weight", f"{theirs}.conv.weight"),
                      (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
                      (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
                      (f"{ours}.bias", f"{theirs}.activate.bias"),
                      (f"{ours}.noise_strength", f"{theirs}.noise.weight"),
                      (f"{ours}.noise_const", f"noises.noise_{noise_idx}")])

    def torgb(ours: str, theirs: str) -> None:
        pairs.extend([(f"{ours}.weight", f"{theirs}.conv.weight"),
                      (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
                      (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
                      (f"{ours}.bias", f"{theirs}.bias")])

    conv("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k, res in enumerate(config.block_resolutions[1:]):
        conv(f"synthesis.b{res}.conv0", f"convs.{2 * k}", 2 * k + 1)
        conv(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}")
    return pairs


def _ros_shape(ours_name: str, t: torch.Tensor) -> torch.Tensor:
    """Reshape one of our tensors to rosinality's layout."""
    if ours_name.endswith("noise_const"):
        return t.reshape(1, 1, *t.shape)                          # [1, 1, r, r]
    if ours_name.endswith(".const"):
        return t.unsqueeze(0)                                     # [1, C, 4, 4]
    if ours_name.endswith("noise_strength"):
        return t.reshape(1)
    if ours_name.endswith("torgb.bias"):
        return t.reshape(1, -1, 1, 1)
    if ours_name.endswith(".weight") and t.ndim == 4:
        return t.unsqueeze(0)                                     # [1, O, I, k, k]
    return t


def save_rosinality(G: StyleGAN2Generator, path: str) -> None:
    """Write G as a rosinality/stylegan2-pytorch checkpoint ``{"g_ema": ..., "latent_avg": ...}``."""
    c = G.config
    problems = [msg for bad, msg in [
        (not (c.z_dim == c.w_dim == (c.mapping_features or c.w_dim)), "z_dim, w_dim and mapping width must be equal"),
        (c.img_channels != 3, "img_channels must be 3"), (c.conv_clamp is not None, "conv_clamp must be None"),
        (c.mapping_lr_multiplier != 0.01, "mapping_lr_multiplier must be 0.01"),
        (c.mapping_activation != "lrelu" or c.synthesis_activation != "lrelu", "activations must be lrelu"),
        (not c.use_noise, "use_noise must be True")] if bad]
    if problems:
        raise ValueError("rosinality's format cannot represent this model: " + "; ".join(problems))
    sd = G.state_dict()
    out = {theirs: _ros_shape(ours, sd[ours]).clone() for ours, theirs in _ros_names(c)}
    fir = make_filter(c.resample_filter) * 4                      # rosinality stores the upsampling gain in the kernel
    for k in range(len(c.block_resolutions) - 1):
        out[f"convs.{2 * k}.conv.blur.kernel"] = fir.clone()
        out[f"to_rgbs.{k}.upsample.kernel"] = fir.clone()
    torch.save({"g_ema": out, "latent_avg": G.w_avg.detach().clone()}, path)


def _torch_load(path: str):
    try:
        # argparse.Namespace: rosinality's training checkpoints store their CLI args (plain data).
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            # Keep only torch's "Unsupported global ..." line: the rest of its message suggests
            # weights_only=False, which would run the file's code.
            detail = next((ln.strip() for ln in str(e).splitlines() if "global" in ln.lower()), "")
            raise UnsafeCheckpointError(f"{path}: refused: the file contains Python objects that could run code "
                                        f"when loaded ({detail or 'not plain tensors'}). It was not loaded.") from None
        raise CheckpointFormatError(f"{path}: cannot read the torch checkpoint (truncated or corrupt?): {e}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointFormatError(f"{path}: cannot read the torch checkpoint (truncated or corrupt?): "
                                    f"{type(e).__name__}: {e}") from None


def _ros_config(g: dict[str, torch.Tensor]) -> StyleGAN2Config:
    """Infer the architecture from tensor shapes (rosinality stores no config)."""
    try:
        n_mlp = sum(1 for k in g if re.fullmatch(r"style\.\d+\.weight", k))
        w_dim, z_dim = g["style.1.weight"].shape
        n_blocks = 1 + sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        resolution = 4 * 2 ** (n_blocks - 1)
        chans = {4: g["conv1.conv.weight"].shape[1]}
        for k in range(n_blocks - 1):
            chans[8 * 2 ** k] = g[f"convs.{2 * k}.conv.weight"].shape[1]
    except KeyError as e:
        raise CheckpointFormatError(f"not a rosinality StyleGAN2 generator: missing {e}") from None
    cmax = max(chans.values())
    candidates = [c * r for r, c in chans.items() if c < cmax] or [cmax * resolution]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in chans.items()):
            break
    else:
        raise CheckpointFormatError(f"channel counts {chans} do not follow min(base // res, max)")
    fir = g.get("convs.0.conv.blur.kernel")
    if fir is not None and not torch.allclose(fir, make_filter((1, 3, 3, 1)) * 4):
        raise CheckpointFormatError("only the [1, 3, 3, 1] blur kernel is supported")
    return StyleGAN2Config(z_dim=z_dim, w_dim=w_dim, resolution=resolution, mapping_layers=n_mlp,
                           channel_base=base, channel_max=cmax, img_channels=g["to_rgb1.bias"].shape[1])


def load_rosinality(path: str, *, w_avg_samples: int = 10_000) -> StyleGAN2Generator:
    """Generator from a rosinality/stylegan2-pytorch ``.pt`` (key ``g_ema``), loaded with weights_only=True.

    Without a stored ``latent_avg`` (training checkpoints), w_avg is estimated from
    ``w_avg_samples`` z's with a fixed seed, as rosinality's ``mean_latent`` does.
    """
    ckpt = _torch_load(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        raise CheckpointFormatError(f"{path}: no 'g_ema' state_dict (not a rosinality checkpoint)")
    g = ckpt["g_ema"]
    config = _ros_config(g)
    pairs = _ros_names(config)
    G = StyleGAN2Generator(config)
    ours = G.state_dict()
    missing = [t for _, t in pairs if t not in g]
    known = {t for _, t in pairs} | {k for k in g if k.endswith((".blur.kernel", ".upsample.kernel"))}
    extra = sorted(set(g) - known)
    if missing or extra:
        raise CheckpointFormatError(f"{path}: rosinality keys do not match the inferred architecture "
                                    f"(missing {missing[:5]}, unexpected {extra[:5]})")
    sd = {o: g[t].reshape(ours[o].shape) for o, t in pairs}
    sd.update({k: v for k, v in ours.items() if k.endswith("resample_filter")})
    sd["mapping.w_avg"] = ckpt["latent_avg"].reshape(config.w_dim).float() if "latent_avg" in ckpt else ours["mapping.w_avg"]
    G.load_state_dict(sd, strict=True)
    if "latent_avg" not in ckpt:
        with torch.no_grad():
            z = torch.randn(w_avg_samples, config.z_dim, generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z).mean(0))
    return G.eval().requires_grad_(False)


__all__ = ["load_rosinality", "save_rosinality"]
