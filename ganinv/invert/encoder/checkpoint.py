"""Encoder checkpoints: ``<stem>.safetensors`` (weights, config in the header), ``<stem>.json`` (config +
training metadata), ``<stem>.log.json`` and, for resuming, ``<stem>.state.safetensors`` (discriminators,
optimiser moments, RNG).  Every file is written atomically; a config read from a file is bounded and checked
against the stored shapes before anything is allocated."""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ...atomic import atomic_write
from ...io.files import MAX_META_BYTES, load_checked_module, safetensors_header
from ...models.safe_pickle import CheckpointFormatError
from ...models.base import Generator
from ...registry import checkpoints_dir
from .networks import MAX_RESOLUTION, MAX_WIDTH, MAX_WS, Encoder, EncoderConfig

FORMAT = "ganinv-encoder/1"


# --------------------------------------------------------------------------- checkpoints
def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    with atomic_write(path) as tmp:
        write(tmp)


def _write_json(path: str, obj) -> None:
    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
    _atomic_write(path, w)


def checkpoint_paths(path: str) -> dict[str, str]:
    """The files of a checkpoint, from its ``.safetensors`` path (or stem)."""
    stem = path[:-len(".safetensors")] if path.endswith(".safetensors") else path
    return {"weights": stem + ".safetensors", "config": stem + ".json", "log": stem + ".log.json",
            "state": stem + ".state.safetensors"}


def save_encoder(E: Encoder, path: str, *, metadata: dict | None = None, log: list[dict] | None = None) -> dict:
    """Write the encoder's weights (+ config in the header), its JSON config and its log."""
    paths = checkpoint_paths(path)
    config = {"format": FORMAT, "config": asdict(E.config), **(metadata or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in E.state_dict().items()}
    _atomic_write(paths["weights"], lambda tmp: save_file(state, tmp, metadata={"ganinv": json.dumps(config)}))
    _write_json(paths["config"], config)
    if log is not None:
        _write_json(paths["log"], log)
    return paths


def encoder_path(name_or_path: str) -> str:
    """A registry name (``celeba-dcgan-64``) -> ``checkpoints/encoder-<name>.safetensors``; paths pass through."""
    if name_or_path.endswith(".safetensors") or os.sep in name_or_path:
        return name_or_path
    return os.path.join(checkpoints_dir(), f"encoder-{name_or_path}.safetensors")


def load_encoder(name_or_path: str, *, G: Generator | None = None, device: str | torch.device = "cpu") -> Encoder:
    """Load an encoder checkpoint (safetensors: no code runs); with ``G``, check it fits that model.

    The config in the header decides what is allocated, so it is bounded (``_check_config``) and
    the stored tensors' shapes are compared with the ones it builds on the meta device before any
    real layer exists or any weight is read.
    """
    path = encoder_path(name_or_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no encoder checkpoint at {path}; train one with `python -m ganinv train-encoder`")
    name = os.path.basename(path)
    header, stored = safetensors_header(path, CheckpointFormatError, f"{name} is not a readable encoder checkpoint")
    text = header.get("ganinv", "{}")
    try:
        meta = json.loads(text) if len(text) <= MAX_META_BYTES else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointFormatError(f"{name} is not a ganinv encoder checkpoint")
    config = _check_config(meta.get("config"), name)
    if G is not None:
        _check_fits(config, G)
    E = load_checked_module(lambda: Encoder(config), path, stored, CheckpointFormatError, f"{name} (encoder)")
    E.metadata = meta
    return E.to(device).eval().requires_grad_(False)


def _check_config(config: object, name: str) -> EncoderConfig:
    """An encoder config from a file, within bounds (a crafted one could ask for gigabytes of weights)."""
    try:
        c = EncoderConfig(**config)
        ints = (c.resolution, c.img_channels, c.latent_dim, c.num_ws, c.channel_base, c.channel_max)
        ok = (all(type(v) is int for v in ints) and type(c.e4e) is bool and isinstance(c.model, str)
              and 4 <= c.resolution <= MAX_RESOLUTION and c.resolution & (c.resolution - 1) == 0
              and 1 <= c.img_channels <= 4 and c.space in ("Z", "W", "W+") and 1 <= c.latent_dim <= MAX_WIDTH
              and 1 <= c.num_ws <= MAX_WS and 1 <= c.channel_base <= MAX_WIDTH and 1 <= c.channel_max <= MAX_WIDTH)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CheckpointFormatError(f"{name}: the encoder's config is malformed or out of bounds")
    return c


def _check_fits(config: EncoderConfig, G: Generator) -> None:
    want = EncoderConfig.for_generator(G, space=config.space, e4e=config.e4e)
    if (config.resolution, config.latent_dim, config.num_ws) != (want.resolution, want.latent_dim, want.num_ws):
        raise CheckpointFormatError(f"this encoder was trained for {config.model!r} ({config.resolution} px, {config.space} "
                         f"dim {config.latent_dim}); it does not fit {G.name!r}")


def _flatten_opt(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous()
               for i, s in sd["state"].items() for k, v in s.items()}
    return tensors, sd["param_groups"]


def _unflatten_opt(prefix: str, tensors: dict[str, torch.Tensor], groups: list, opt: torch.optim.Optimizer) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_state(path: str, step: int, elapsed: float, E, D, Dw, opt_E, opt_D, opt_Dw, gen: torch.Generator) -> None:
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, list] = {}
    for prefix, m in (("E", E), ("D", D), ("Dw", Dw)):
        if m is not None:
            tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in m.state_dict().items()})
    for prefix, opt in (("optE", opt_E), ("optD", opt_D), ("optDw", opt_Dw)):
        if opt is not None:
            t, g = _flatten_opt(prefix, opt)
            tensors.update(t)
            groups[prefix] = g
    tensors["rng"] = gen.get_state()
    meta = {"step": step, "elapsed": elapsed, "param_groups": groups}
    header = {"ganinv": json.dumps(meta)}
    _atomic_write(checkpoint_paths(path)["state"], lambda tmp: save_file(tensors, tmp, metadata=header))


def load_state(path: str, E, D, Dw, opt_E, opt_D, opt_Dw, gen: torch.Generator) -> tuple[int, float, list]:
    paths = checkpoint_paths(path)
    with safe_open(paths["state"], "pt") as f:
        meta = json.loads(f.metadata()["ganinv"])
    tensors = load_file(paths["state"])
    for prefix, m in (("E", E), ("D", D), ("Dw", Dw)):
        if m is not None:
            m.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")},
                              strict=True)
    for prefix, opt in (("optE", opt_E), ("optD", opt_D), ("optDw", opt_Dw)):
        if opt is not None:
            _unflatten_opt(prefix, tensors, meta["param_groups"][prefix], opt)
    gen.set_state(tensors["rng"])
    log = json.load(open(paths["log"])) if os.path.isfile(paths["log"]) else []
    return int(meta["step"]), float(meta["elapsed"]), log


__all__ = ["FORMAT", "checkpoint_paths", "save_encoder", "encoder_path", "load_encoder", "save_state", "load_state"]
