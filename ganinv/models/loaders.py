"""StyleGAN2 checkpoints of any supported format, told apart by their first bytes (not the extension):

- NVIDIA pickles (``nvidia``, through the restricted unpickler of ``safe_pickle``: no code from the file runs);
- rosinality/stylegan2-pytorch ``.pt`` (``rosinality``, ``torch.load(weights_only=True)``);
- ganinv's own ``.safetensors``: the state_dict plus the config as JSON in the metadata (here).
"""
from __future__ import annotations

import json
import os

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .nvidia import load_nvidia_pkl
from .rosinality import load_rosinality, save_rosinality
from .safe_pickle import CheckpointFormatError, PersistentStub, UnsafeCheckpointError, safe_unpickle
from .stylegan2 import StyleGAN2Config, StyleGAN2Generator


SAFETENSORS_FAMILY_KEY = "ganinv_family"


def save_safetensors(G: StyleGAN2Generator, path: str) -> None:
    """state_dict -> ``path`` (.safetensors) with the config JSON in the file's metadata."""
    tensors = {k: v.detach().contiguous().clone() for k, v in G.state_dict().items()}
    meta = {SAFETENSORS_FAMILY_KEY: G.family, "config": json.dumps(G.config.to_dict()), "name": G.name}
    save_file(tensors, path, metadata=meta)


def load_safetensors(path: str) -> StyleGAN2Generator:
    """StyleGAN2Generator from a file written by ``save_safetensors`` (strict load)."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointFormatError(f"{path}: cannot read safetensors file (truncated or corrupt?): {e}") from None
    if meta.get(SAFETENSORS_FAMILY_KEY) != "stylegan2" or "config" not in meta:
        raise CheckpointFormatError(f"{path}: not a ganinv StyleGAN2 safetensors file (no config metadata)")
    try:
        config = StyleGAN2Config.from_dict(json.loads(meta["config"]))
    except (ValueError, TypeError) as e:
        raise CheckpointFormatError(f"{path}: invalid config metadata: {e}") from None
    G = StyleGAN2Generator(config, name=meta.get("name", "stylegan2"))
    G.load_state_dict(tensors, strict=True)
    return G.eval().requires_grad_(False)


# --------------------------------------------------------------------------- dispatch
_TORCH_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def sniff_format(path: str) -> str:
    """'nvidia-pkl' | 'torch' | 'safetensors' from the file's first bytes."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise CheckpointFormatError(f"{path} is empty")
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head[:1] == b"\x80" and head[2:4] == b"\x8a\x0a" and head[4:14] == _TORCH_LEGACY_MAGIC:
        return "torch"                                            # torch.save legacy (non-zip) format
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "nvidia-pkl"
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if n + 8 <= size:
            return "safetensors"
        raise CheckpointFormatError(f"{path}: safetensors header claims {n} bytes but the file has {size} "
                                    "(truncated?)")
    raise CheckpointFormatError(f"{path}: unrecognised checkpoint format (expected an NVIDIA .pkl, a rosinality "
                                ".pt or a ganinv .safetensors)")


def load_stylegan2(path: str, *, name: str | None = None) -> StyleGAN2Generator:
    """Load any supported StyleGAN2 checkpoint as an eval-mode, grad-free StyleGAN2Generator."""
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        G = load_safetensors(path)
    elif kind == "torch":
        G = load_rosinality(path)
    else:
        config, state = load_nvidia_pkl(path)
        G = StyleGAN2Generator(config)
        try:
            G.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise CheckpointFormatError(f"{path}: parameters do not match the pickled configuration: {e}") from None
        G = G.eval().requires_grad_(False)
    G.name = name or os.path.splitext(os.path.basename(path))[0]
    return G


__all__ = ["UnsafeCheckpointError", "CheckpointFormatError", "PersistentStub", "safe_unpickle", "load_nvidia_pkl",
           "load_rosinality", "save_rosinality", "save_safetensors", "load_safetensors", "sniff_format",
           "load_stylegan2"]
