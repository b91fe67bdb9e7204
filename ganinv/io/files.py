"""Other files users hand us (directions, mappers, encoders): a .npy header read without its data, a
size-capped JSON reader, and safetensors modules whose stored shapes are checked before anything is built."""
from __future__ import annotations

import json
import os
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

MAX_META_BYTES = 1 << 20                        # JSON metadata (a 1024 px record's delta list: ~40 KB)


def npy_header(fp) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape from the header of the .npy stream ``fp``, without reading its data
    (ValueError when it is not a .npy header numpy writes for plain arrays)."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy format version {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    return dtype, tuple(shape)


def read_json(path: str, *, max_bytes: int = MAX_META_BYTES):
    """A JSON metadata file of at most ``max_bytes`` (ValueError, naming only the file, when it is
    larger, not UTF-8, malformed or nested too deeply)."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{os.path.basename(path)} is larger than {max_bytes >> 10} KB")
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{os.path.basename(path)} is not valid JSON") from None


def safetensors_header(path: str, error: type[Exception], what: str) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """(metadata, {tensor name: shape}) of a safetensors file, no tensor read; ``error("<what> (<why>)")`` when
    the file cannot be read at all."""
    try:
        with safe_open(path, "pt") as f:
            return dict(f.metadata() or {}), {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a corrupt file in any way is one user error
        raise error(f"{what} ({type(e).__name__})") from None


def load_checked_module(build: Callable[[], torch.nn.Module], path: str, stored: dict[str, tuple[int, ...]],
                        error: type[Exception], what: str) -> torch.nn.Module:
    """``build()`` loaded strictly from ``path`` once its state's shapes equal ``stored`` (compared on the meta
    device, so a crafted config allocates nothing); else ``error`` naming ``what``."""
    with torch.device("meta"):                              # shapes only: no memory
        want = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    if stored != want:
        raise error(f"{what}: the stored weights do not match the config")
    module = build()
    module.load_state_dict(load_file(path), strict=True)
    return module


__all__ = ["MAX_META_BYTES", "npy_header", "read_json", "safetensors_header", "load_checked_module"]
