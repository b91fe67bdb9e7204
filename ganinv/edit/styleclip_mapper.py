"""StyleCLIP latent mapper: a network trained per prompt that predicts the edit step in one pass.

Patashnik et al., ICCV 2021, "StyleCLIP: Text-Driven Manipulation of StyleGAN Imagery",
Sec. 5 ("Latent Mapper").  The W+ code is split into coarse, medium and fine layer groups
(StyleGAN's 1024 px layout: ws[0:4], ws[4:8], ws[8:]); each group has its own MLP (4
equalised-lr fully connected layers, like a short StyleGAN mapping network, lr multiplier
0.01) applied to every w of the group:

    M_t(w) = (M_t^c(w_c), M_t^m(w_m), M_t^f(w_f)),   w_edited = w + alpha * M_t(w)

trained on sampled latents with the paper's Sec. 5 losses

    L_CLIP(w) = D_CLIP(G(w + M_t(w)), t)
    L(w)      = L_CLIP(w) + l_L2 ||M_t(w)||_2 + l_ID L_ID(w)
    L_ID(w)   = 1 - < R(G(w)), R(G(w + M_t(w))) >        (Eq. 2 with w_s -> w, w -> w + M_t(w))

with l_L2 = 0.8 and l_ID = 0.1 (paper).  Following the authors' code the step is scaled by
``step_scale`` = 0.1 (w + 0.1 M(w)) and the L2 term is the mean squared step.  Deviations,
stated: Adam instead of Ranger (not in torch), latents sampled from the mapping network
(optionally truncated) instead of e4e inversions of CelebA-HQ, and the last MLP layer is
linear (a residual step needs both signs; the authors end with a leaky ReLU).

Z-only models (the DCGAN) have no layer groups: the mapper is one MLP over z, and the L2
term keeps the edited z near z.  ``alpha`` (strength) 0 is exactly the identity.

Legend: ``delta`` -> M_t(w) * step_scale, ``strength`` -> alpha, ``l2_weight`` -> l_L2,
``id_weight`` -> l_ID.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn
from safetensors.torch import save_file

from ..atomic import atomic_write
from ..io.files import load_checked_module, read_json, safetensors_header
from ..latent import check_latent, to_ws
from ..models.base import Generator
from ..models.stylegan2 import FullyConnectedLayer, normalize_2nd_moment
from .styleclip_optimize import optimization_space, resolve_clip, resolve_identity, synth, to_space
from ..settings import ProgressFn, call_settings
from .prompts import text_embedding
from ..registry import checkpoints_dir

if TYPE_CHECKING:
    from ..clip_models import ClipModel

FORMAT = "ganinv-styleclip-mapper/1"
GROUP_BOUNDS = {"coarse": (0, 4), "medium": (4, 8), "fine": (8, None)}   # ws indices at 1024 px (18 ws)


MAX_DIM, MAX_WS, MAX_LAYERS = 4096, 64, 16          # bounds on a mapper config read from a file
MAX_CONFIG_CHARS = 1 << 16


class MapperError(ValueError):
    """A mapper file is unreadable or does not fit the model; the message says why."""


@dataclass(frozen=True)
class MapperConfig:
    """The mapper's architecture: equal configs build identical parameter shapes."""

    space: str                                  # "W+" (three groups) | "Z" (one MLP over z)
    dim: int                                    # w_dim (W+) or z_dim (Z)
    num_ws: int                                 # ws per code (1 for Z)
    groups: dict = field(default_factory=dict)  # group name -> list of ws indices ({"all": [0]} for Z)
    num_layers: int = 4                         # fully connected layers per MLP
    lr_multiplier: float = 0.01                 # equalised-lr multiplier (StyleGAN mapping network's)
    step_scale: float = 0.1                     # w + step_scale * MLP(w), the authors' 0.1

    @classmethod
    def for_generator(cls, G: Generator, space: str | None = None,
                      groups: tuple[str, ...] = ("coarse", "medium", "fine")) -> "MapperConfig":
        space = optimization_space(G, space)
        if space == "Z":
            return cls("Z", G.z_dim, 1, {"all": [0]})
        if space != "W+":
            raise ValueError("the mapper works in W+ (StyleGAN) or Z (DCGAN)")
        return cls("W+", G.w_dim, G.num_ws, layer_groups(G.num_ws, groups))


def layer_groups(num_ws: int, groups: tuple[str, ...] = ("coarse", "medium", "fine")) -> dict[str, list[int]]:
    """Coarse / medium / fine ws indices for ``num_ws`` layers; empty groups (small models) are dropped."""
    unknown = set(groups) - set(GROUP_BOUNDS)
    if unknown:
        raise ValueError(f"unknown layer groups {sorted(unknown)}; use coarse, medium, fine")
    out = {}
    for g in groups:
        a, b = GROUP_BOUNDS[g]
        idx = list(range(a, num_ws if b is None else min(b, num_ws)))
        if idx:
            out[g] = idx
    if not out:
        raise ValueError(f"no layers left in groups {groups} for a model with {num_ws} ws")
    return out


class _MLP(nn.Sequential):
    """Pixel-normalised input, ``num_layers`` equalised-lr FC layers, lrelu between, linear last."""

    def __init__(self, dim: int, num_layers: int, lr_multiplier: float):
        acts = ["lrelu"] * (num_layers - 1) + ["linear"]
        super().__init__(*[FullyConnectedLayer(dim, dim, activation=a, lr_multiplier=lr_multiplier) for a in acts])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(normalize_2nd_moment(x))


class LatentMapper(nn.Module):
    """latent [N, num_ws, dim] (W+) or [N, dim] (Z) -> step delta of the same shape."""

    def __init__(self, config: MapperConfig):
        super().__init__()
        self.config = config
        self.mlps = nn.ModuleDict({g: _MLP(config.dim, config.num_layers, config.lr_multiplier)
                                   for g in config.groups})

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.space == "Z":
            assert latent.ndim == 2 and latent.shape[1] == c.dim, f"expected [N, {c.dim}], got {tuple(latent.shape)}"
            return self.mlps["all"](latent) * c.step_scale
        assert latent.ndim == 3 and latent.shape[1:] == (c.num_ws, c.dim), \
            f"expected [N, {c.num_ws}, {c.dim}], got {tuple(latent.shape)}"
        delta = torch.zeros_like(latent)                                   # layers outside the groups stay put
        for g, idx in c.groups.items():
            x = latent[:, idx]                                             # [N, len(idx), dim]
            delta[:, idx] = self.mlps[g](x.reshape(-1, c.dim)).view_as(x) * c.step_scale
        return delta

    def edit(self, latent: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        """w + strength * delta(w) (Sec. 5); a new tensor."""
        return latent + strength * self(latent)


@dataclass
class MapperTrainResult:
    mapper: LatentMapper
    prompt: str                                 # text fed to CLIP
    loss_history: list[dict]                    # per step: step, loss, clip, l2, id, lr, seconds
    identity_used: bool
    identity_reason: str
    warnings: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    model: str = ""
    clip_model: str = ""
    seconds: float = 0.0

    def metadata(self) -> dict:
        """What ``save_mapper`` writes beside the weights."""
        h = self.loss_history
        return {"format": FORMAT, "prompt": self.prompt, "model": self.model, "clip_model": self.clip_model,
                "config": asdict(self.mapper.config), "steps": len(h), "settings": self.settings,
                "identity_used": self.identity_used, "identity_reason": self.identity_reason,
                "first_loss": h[0] if h else None, "final_loss": h[-1] if h else None,
                "loss_curve": [round(r["loss"], 5) for r in h[:: max(1, len(h) // 200)]],
                "warnings": self.warnings, "seconds": round(self.seconds, 1),
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


@torch.no_grad()
def sample_latents(G: Generator, n: int, space: str, *, truncation_psi: float = 0.7,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Training codes: z ~ N(0, I) (Z) or truncated mapped ws (W+)."""
    z = torch.randn(n, G.z_dim, generator=generator).to(G.device)
    if space == "Z":
        return z
    return to_ws(G, z, "Z", truncation_psi=truncation_psi)


def train_mapper(
    G: Generator,
    prompt: str,
    *,
    clip: ClipModel | None = None,                      # default load_clip() (ViT-B-32 / openai)
    space: str | None = None,                           # W+ (StyleGAN) or Z (DCGAN); default by model
    groups: tuple[str, ...] = ("coarse", "medium", "fine"),
    num_steps: int = 5000,                              # authors: 50k at batch 2 on a GPU; CPU: see bench/styleclip.py
    batch_size: int = 2,                                # authors: 2
    lr: float = 0.5,                                    # authors' value (equalised lr: weights are stored x100)
    l2_weight: float = 0.8,                             # l_L2
    id_weight: float = 0.1,                             # l_ID; 0 turns the term off
    identity: nn.Module | bool | str | None = None,     # None/"auto" | False | module
    truncation_psi: float = 0.7,                        # spread of the sampled training latents (W+ only)
    templates: str | Sequence[str] = "none",
    on_overlong: str = "truncate",
    mapper: LatentMapper | None = None,                 # continue training this mapper
    seed: int = 0,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> MapperTrainResult:
    """Train M_t for ``prompt`` with Eq. 3 on freshly sampled latents each step."""
    settings = call_settings(locals(), "G", "clip", "identity", "mapper", "text_embedding")
    t0 = time.time()
    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")
    clip = resolve_clip(clip, G.device)
    config = MapperConfig.for_generator(G, space, tuple(groups))
    settings["space"] = config.space
    gen = torch.Generator().manual_seed(seed)                                   # training latents
    text_emb, chk = text_embedding(clip, prompt, templates=templates, on_overlong=on_overlong)
    R, id_reason = resolve_identity(G, id_weight, identity)
    if mapper is None:
        with torch.random.fork_rng(devices=[]):                                  # seeded init, global RNG restored
            torch.manual_seed(seed)
            mapper = LatentMapper(config)
    mapper = mapper.to(G.device).train()
    if mapper.config != config:
        raise MapperError(f"the mapper to continue was built for {mapper.config}, not {config}")
    opt = torch.optim.Adam(mapper.parameters(), lr=lr, betas=(0.95, 0.999))
    history = []
    for step in range(num_steps):
        w = sample_latents(G, batch_size, config.space, truncation_psi=truncation_psi, generator=gen)
        delta = mapper(w)
        img = synth(G, to_ws(G, w + delta, config.space))
        l_clip = clip.distance(img, text_emb)                                       # [B]
        l_l2 = delta.pow(2).flatten(1).mean(1)                                      # [B]
        if R is not None:
            with torch.no_grad():
                src = synth(G, to_ws(G, w, config.space))
                ref = R.embed(src) if hasattr(R, "embed") else src
            l_id = R(img, ref)
        else:
            l_id = torch.zeros_like(l_clip)
        loss = (l_clip + l2_weight * l_l2 + id_weight * l_id).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step + 1, "loss": loss.item(), "clip": l_clip.detach().mean().item(),
                        "l2": l_l2.detach().mean().item(), "id": l_id.detach().mean().item(), "lr": lr,
                        "seconds": time.time() - t0})
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            h = history[-1]
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {h['loss']:.4f}  clip {h['clip']:.4f}")
    mapper.eval().requires_grad_(False)
    warnings = list(chk.warnings)
    if getattr(clip, "random_init", False):
        warnings.append("CLIP has random weights (test model): the mapper learns no real meaning")
    return MapperTrainResult(mapper=mapper, prompt=chk.text, loss_history=history, identity_used=R is not None,
                             identity_reason=id_reason, warnings=warnings, settings=settings, model=G.name,
                             clip_model=clip.label, seconds=time.time() - t0)


@torch.no_grad()
def mapper_loss(G: Generator, mapper: LatentMapper, clip: ClipModel, prompt: str, latents: torch.Tensor, *,
                l2_weight: float = 0.8) -> float:
    """Eq. 3 without the identity term on fixed ``latents`` (for comparing mappers)."""
    text_emb, _ = text_embedding(clip, prompt)
    delta = mapper(latents)
    img = synth(G, to_ws(G, latents + delta, mapper.config.space))
    return float((clip.distance(img, text_emb) + l2_weight * delta.pow(2).flatten(1).mean(1)).mean())


# --------------------------------------------------------------------------- files
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "prompt"


def default_mapper_path(model: str, prompt: str) -> str:
    """checkpoints/mapper-<model>-<prompt slug>.safetensors (the registry ignores mapper-* files)."""
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-")          # "local:x.pkl" -> "local-x.pkl"
    return os.path.join(checkpoints_dir(), f"mapper-{model}-{slug(prompt)}.safetensors")


def save_mapper(result: MapperTrainResult, path: str | None = None) -> str:
    """Write the weights (safetensors) and ``<path>.json`` metadata, each atomically; returns path."""
    path = path or default_mapper_path(result.model, result.prompt)
    if not path.endswith(".safetensors"):
        raise MapperError("mapper files are safetensors: give a path ending in .safetensors")
    meta = result.metadata()
    state = {k: v.detach().cpu().contiguous() for k, v in result.mapper.state_dict().items()}
    with atomic_write(path) as tmp:
        save_file(state, tmp, metadata={"format": FORMAT, "config": json.dumps(meta["config"])})
    with atomic_write(json_path(path)) as tmp, open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    return path


def json_path(path: str) -> str:
    return os.path.splitext(path)[0] + ".json"


def load_mapper(path: str, *, G: Generator | None = None) -> tuple[LatentMapper, dict]:
    """Read a mapper (never unpickles) and its metadata; with ``G`` check it fits that model.

    Nothing is built or read before the config (from the safetensors header) passes ``_check_config``
    and the stored tensors' shapes equal the ones that config builds: a crafted config could
    otherwise ask for gigabytes of weights from a small file.
    """
    if not os.path.isfile(path):
        raise MapperError(f"no mapper file at {os.path.basename(path)}")
    name = os.path.basename(path)
    header, stored = safetensors_header(path, MapperError, f"{name} is not a readable safetensors mapper")
    if header.get("format") != FORMAT:
        raise MapperError(f"{name} is not a ganinv StyleCLIP mapper (format {str(header.get('format'))[:40]!r})")
    try:
        meta = read_json(json_path(path)) if os.path.isfile(json_path(path)) else {}
    except ValueError as e:
        raise MapperError(f"{name}: {e}") from None
    if not isinstance(meta, dict):
        raise MapperError(f"{name}: the metadata beside it is not a JSON object")
    if G is not None and meta.get("model") not in (None, "", G.name):
        raise MapperError(f"this mapper was trained for model {str(meta['model'])[:80]!r}, not {G.name!r}")
    config = _check_config(header.get("config"), G, name)
    mapper = load_checked_module(lambda: LatentMapper(config), path, stored, MapperError, f"{name} (mapper)")
    mapper.eval().requires_grad_(False)
    return mapper.to(G.device if G is not None else "cpu"), meta


def _check_config(text, G: Generator | None, name: str) -> MapperConfig:
    """The header's config, within bounds and (with ``G``) fitting G's latent space, before anything is built."""
    try:
        if not isinstance(text, str) or len(text) > MAX_CONFIG_CHARS:
            raise ValueError
        config = MapperConfig(**json.loads(text))
        numbers = (config.dim, config.num_ws, config.num_layers, config.lr_multiplier, config.step_scale)
        ok = (all(type(v) is int for v in numbers[:3]) and all(type(v) in (int, float) for v in numbers[3:])
              and config.lr_multiplier > 0
              and config.space in ("Z", "W+") and 1 <= config.dim <= MAX_DIM and 1 <= config.num_ws <= MAX_WS
              and 1 <= config.num_layers <= MAX_LAYERS and 1 <= len(config.groups) <= config.num_ws
              and all(isinstance(g, str) and isinstance(idx, list) and idx
                      and all(type(i) is int and 0 <= i < config.num_ws for i in idx)
                      for g, idx in config.groups.items()))
    except (TypeError, ValueError, AttributeError, RecursionError):
        ok = False
    if not ok:
        raise MapperError(f"{name}: the mapper's config is malformed or out of bounds")
    if G is not None:
        if not G.supports(config.space):
            raise MapperError(f"this mapper works in {config.space}, which {G.name!r} does not support")
        want = (G.z_dim, 1) if config.space == "Z" else (G.w_dim, G.num_ws)
        if want != (config.dim, config.num_ws):
            raise MapperError(f"mapper shape ({config.num_ws} x {config.dim}) does not fit {G.name!r} "
                              f"({want[1]} x {want[0]})")
    return config


# --------------------------------------------------------------------------- apply
@dataclass
class MapperEditResult:
    latent: torch.Tensor                        # [N, *latent_shape(space)], w + strength * M(w)
    space: str
    image: torch.Tensor                         # [N, C, H, W] in [-1, 1]
    strength: float
    step_norm: list[float]                      # ||strength * M(w)|| per image


@torch.no_grad()
def apply_mapper(G: Generator, mapper: LatentMapper, latent: torch.Tensor, *, latent_space: str = "Z",
                 strength: float = 1.0) -> MapperEditResult:
    """One forward pass: w -> w + strength * M(w) -> image.  ``latent`` is in ``latent_space``."""
    check_latent(G, latent, latent_space)
    space = mapper.config.space
    w = to_space(G, latent.to(G.device, torch.float32), latent_space, space)
    mapper = mapper.to(G.device)
    step = strength * mapper(w)
    edited = w + step
    img = synth(G, to_ws(G, edited, space))
    return MapperEditResult(edited, space, img, strength, step.flatten(1).norm(dim=1).tolist())


__all__ = ["MapperConfig", "LatentMapper", "MapperTrainResult", "MapperEditResult", "MapperError", "layer_groups",
           "train_mapper", "apply_mapper", "save_mapper", "load_mapper", "default_mapper_path", "mapper_loss",
           "sample_latents"]
