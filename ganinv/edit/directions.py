"""Latent directions as data: a vector file plus a JSON file of metadata beside it.

    directions/<model>/<name>.npy    float32 [dim] (or [num_ws, w_dim] for a per-layer W+ direction)
    directions/<model>/<name>.json   {"model", "space", "layers", "method", "attribute", "scorer",
                                      "num_samples", "accuracy_val", "accuracy_rest", "created", ...}

Sign convention: adding a positive multiple of the vector means "more of the attribute".
Vectors are loaded with ``allow_pickle=False`` and checked against the generator that
will use them (model name, latent space, dimension) before any edit.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import torch

from ..atomic import atomic_write
from ..io import npy_header, read_json
from ..models.base import Generator
from ..registry import REPO_ROOT

FORMAT = "ganinv-direction/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
MAX_DIRECTION_BYTES = 1 << 20                 # a per-layer W+ direction of a 1024 px StyleGAN2: 36 KB


class DirectionError(ValueError):
    """A direction file is unreadable or does not fit the model; the message says why."""


@dataclass
class Direction:
    """A unit latent direction and where it came from."""

    name: str                                   # file stem, e.g. "smile"
    model: str                                  # registry name of the generator it was found for
    space: str                                  # "Z" | "W" | "W+"
    vector: np.ndarray                          # float32 [dim] (or [num_ws, w_dim])
    method: str                                 # "interfacegan" | "interfacegan-conditional" | "sefa" | "ganspace"
    attribute: str | None = None                # what + means (None for unsupervised components)
    layers: list[int] | None = None             # W+ layers the edit applies to by default (None: all)
    scorer: str | None = None                   # attribute scorer used to label samples
    num_samples: int | None = None
    accuracy_val: float | None = None           # SVM accuracy on the held-out confident samples
    accuracy_rest: float | None = None          # SVM accuracy on the remaining (less confident) samples
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    extra: dict = field(default_factory=dict)   # method-specific figures (cosines, eigenvalue, seed ...)

    def tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.vector, dtype=np.float32)).to(device or "cpu")

    def meta(self) -> dict:
        d = asdict(self)
        d.pop("vector")
        return {"format": FORMAT, **d, "shape": list(self.vector.shape)}


def directions_root() -> str:
    return os.environ.get("GANINV_DIRECTIONS", os.path.join(REPO_ROOT, "directions"))


def _check_name(name: str) -> None:
    if not _NAME.match(name) or ".." in name:
        raise DirectionError(f"invalid direction name {name!r}: use letters, digits, '.', '_' or '-'")


def save_direction(d: Direction, root: str | None = None) -> str:
    """Write ``<root>/<model>/<name>.npy`` and ``.json``; returns the .npy path."""
    _check_name(d.name)
    folder = os.path.join(root or directions_root(), d.model)
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, d.name)
    vec = np.ascontiguousarray(d.vector, dtype=np.float32)
    if not np.isfinite(vec).all():
        raise DirectionError("the direction contains NaN or Inf values")
    with atomic_write(base + ".npy") as tmp, open(tmp, "wb") as f:
        np.save(f, vec, allow_pickle=False)
    with atomic_write(base + ".json") as tmp, open(tmp, "w") as f:
        json.dump(d.meta(), f, indent=1)
    return base + ".npy"


def _read(npy_path: str) -> Direction:
    json_path = os.path.splitext(npy_path)[0] + ".json"
    if not os.path.isfile(npy_path):
        raise DirectionError(f"no such direction file: {npy_path}")
    if not os.path.isfile(json_path):
        raise DirectionError(f"{os.path.basename(npy_path)} has no metadata file beside it ({json_path})")
    if os.path.getsize(npy_path) > MAX_DIRECTION_BYTES:
        raise DirectionError(f"direction file is larger than {MAX_DIRECTION_BYTES >> 10} KB")
    try:
        with open(npy_path, "rb") as fp:
            dtype, shape = npy_header(fp)          # checked before any data is read
        if (not np.issubdtype(dtype, np.floating) or len(shape) not in (1, 2)
                or dtype.itemsize * math.prod(shape) > MAX_DIRECTION_BYTES):
            raise DirectionError(f"unreadable direction {os.path.basename(npy_path)}: expected floats [dim] or "
                                 f"[num_ws, w_dim] of at most {MAX_DIRECTION_BYTES >> 10} KB, found {dtype} "
                                 f"{list(shape)}")
        vec = np.load(npy_path, allow_pickle=False)
        meta = read_json(json_path)
    except DirectionError:
        raise
    except ValueError as e:
        raise DirectionError(f"unreadable direction {os.path.basename(npy_path)}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DirectionError(f"{json_path} is not a ganinv direction (format {FORMAT!r} expected)")
    if not np.issubdtype(vec.dtype, np.floating) or not np.isfinite(vec).all():
        raise DirectionError(f"{npy_path}: the vector must hold finite floats")
    known = set(Direction.__dataclass_fields__) - {"vector"}
    kwargs = {k: v for k, v in meta.items() if k in known}
    kwargs.setdefault("name", os.path.splitext(os.path.basename(npy_path))[0])
    try:
        return Direction(vector=vec.astype(np.float32), **kwargs)
    except TypeError as e:
        raise DirectionError(f"{json_path}: incomplete metadata ({e})") from None


def direction_dim(G: Generator, space: str) -> int:
    return G.z_dim if space == "Z" else G.w_dim


def validate_direction(d: Direction, G: Generator) -> None:
    """Raise DirectionError unless ``d`` was made for ``G`` and fits its latent space."""
    if d.model != G.name:
        raise DirectionError(f"direction {d.name!r} was found for model {d.model!r}, not {G.name!r}: "
                             f"directions do not transfer between generators")
    if not G.supports(d.space):
        raise DirectionError(f"direction {d.name!r} lives in {d.space}, which {G.name!r} does not support "
                             f"(it supports {', '.join(G.spaces)})")
    dim = direction_dim(G, d.space)
    ok = d.vector.shape == (dim,) or (d.space == "W+" and d.vector.shape == (G.num_ws, G.w_dim))
    if not ok:
        raise DirectionError(f"direction {d.name!r} has shape {list(d.vector.shape)}, but {d.space} of "
                             f"{G.name!r} needs [{dim}]")
    if d.layers is not None and any(not 0 <= i < G.num_ws for i in d.layers):
        raise DirectionError(f"direction {d.name!r} names layers {d.layers}, but {G.name!r} has {G.num_ws} ws")


def load_direction(path_or_name: str, *, G: Generator | None = None, model: str | None = None,
                   root: str | None = None) -> Direction:
    """Load a direction by file path (``.npy``) or by name among ``model``'s (or ``G``'s) directions.

    With ``G`` the direction is validated against it (``DirectionError`` when it does not fit).
    """
    if path_or_name.endswith(".npy") or os.sep in path_or_name:
        d = _read(path_or_name if path_or_name.endswith(".npy") else path_or_name + ".npy")
    else:
        _check_name(path_or_name)
        owner = model or (G.name if G is not None else None)
        if owner is None:
            raise DirectionError("give a .npy path, or a model / generator to look the name up for")
        path = os.path.join(root or directions_root(), owner, path_or_name + ".npy")
        if not os.path.isfile(path):
            names = ", ".join(x.name for x in list_directions(owner, root=root)) or "none"
            raise DirectionError(f"no direction {path_or_name!r} for model {owner!r} (available: {names})")
        d = _read(path)
    if model is not None and d.model != model:
        raise DirectionError(f"direction {d.name!r} was found for model {d.model!r}, not {model!r}")
    if G is not None:
        validate_direction(d, G)
    return d


def list_directions(model: str | None = None, *, root: str | None = None) -> list[Direction]:
    """Every readable direction under ``root`` (optionally only ``model``'s), sorted by model and name."""
    root = root or directions_root()
    if not os.path.isdir(root):
        return []
    models = [model] if model else sorted(os.listdir(root))
    out = []
    for m in models:
        folder = os.path.join(root, m)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if f.endswith(".npy"):
                try:
                    out.append(_read(os.path.join(folder, f)))
                except DirectionError:
                    continue                     # a stray or broken file must not hide the others
    return out
