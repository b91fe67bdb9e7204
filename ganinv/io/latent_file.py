"""Latent files: ``.npz`` holding a float32 array ``latent`` and a JSON ``meta`` (model, space, shape) stored
as bytes; loaded with ``allow_pickle=False`` so no code can ever run.  A record of a pivotal-tuning inversion
also holds the generator's weight delta as float16 arrays ``delta/<parameter name>`` (format
``ganinv-latent/2``).  A small .npz can inflate to gigabytes (a zip of zeros), so a latent file's directory,
metadata and every array header are checked against caps and the model before any array data is read.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import torch

from ..atomic import atomic_write
from ..latent import latent_shape
from .files import MAX_META_BYTES, npy_header

MAX_LATENT_BYTES = 16 << 20                     # one latent array: 455 W+ codes of a 1024 px StyleGAN2
LATENT_FORMAT = "ganinv-latent/1"
LATENT_DELTA_FORMAT = "ganinv-latent/2"        # /1 plus a tuned-generator weight delta
MAX_DELTA_BYTES = 192 << 20                     # fp16 delta of StyleGAN2 1024 px synthesis: 57 MB
MAX_LATENT_FILE_BYTES = MAX_LATENT_BYTES + MAX_META_BYTES + MAX_DELTA_BYTES
MAX_NPZ_MEMBERS = 4096                          # latent, meta and one member per tuned parameter (1024 px: ~400)
MAX_NPZ_DIRECTORY_BYTES = 1 << 20               # the zip's central directory: ~100 bytes per member
DELTA_PREFIX = "delta/"
_EOCD_SIGNATURE, _EOCD_SIZE = b"PK\x05\x06", 22   # a zip's end-of-central-directory record
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,200}$")


class LatentFileError(ValueError):
    """A latent file is unreadable or does not fit the model; the message says why."""


@dataclass
class LatentFile:
    latent: torch.Tensor                       # [N, *latent_shape(space)]
    model: str
    space: str
    meta: dict
    delta: dict[str, torch.Tensor] | None = None  # tuned-generator weight delta (float32), None: the model as is


def save_latent(path: str, latent: torch.Tensor, *, model: str, space: str, extra: dict | None = None,
                delta: dict[str, torch.Tensor] | None = None) -> str:
    """Write ``latent`` with its metadata to ``path`` (.npz, no pickle); atomic rename.

    ``delta`` (pivotal tuning's {parameter name: tuned - original}) is stored beside it as
    float16 arrays ``delta/<name>``, listed with their shapes in the metadata.
    """
    a = latent.detach().float().cpu().numpy()
    meta = {"format": LATENT_FORMAT, "model": model, "space": space, "shape": list(a.shape),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {})}
    arrays = {"latent": a}
    if delta:
        arrays.update(_delta_arrays(delta))
        # A reader that ignored the delta would silently render another face: new format version.
        meta.update(format=LATENT_DELTA_FORMAT, delta={"dtype": "float16",
                                                       "params": {n: list(t.shape) for n, t in delta.items()}})
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return path


def _delta_arrays(delta: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    out = {}
    for name, t in delta.items():
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
            raise ValueError(f"invalid parameter name in the delta: {name!r}")
        h = t.detach().cpu().to(torch.float16).numpy()
        if not np.isfinite(h).all():
            raise ValueError(f"delta {name!r} is not finite in float16 (values beyond +-65504?)")
        out[DELTA_PREFIX + name] = h
    return out


def load_latent(src, *, G=None, model: str | None = None) -> LatentFile:
    """Read a latent file; with ``G`` (or ``model``) check it fits that model.

    Never unpickles: object arrays in the file are refused.  A small file can inflate to
    gigabytes (a zip of zeros), so everything is checked before any array data is read: the
    zip's directory (member count and size), every member's .npy header (dtype, shape, size),
    the metadata (size-capped, read first), the latent's shape against ``G`` and the weight
    delta's names and shapes against ``G``'s parameters.
    """
    try:
        with _open_npz(src) as f:
            headers = {key: _header(f, key) for key in f.files}
            if "latent" not in headers or "meta" not in headers:
                raise LatentFileError("not a ganinv latent file (missing 'latent' or 'meta')")
            meta = _read_meta(f, headers["meta"])
            _check_latent_header(headers["latent"], meta, G=G, model=model)
            delta = _read_delta(f, meta, G, headers) if "delta" in meta else None
            a = f["latent"]
    except LatentFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise LatentFileError("the latent file contains pickled objects; refused (never unpickled)") from None
        raise LatentFileError(f"not a readable .npz latent file ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, UnicodeDecodeError, RecursionError) as e:
        raise LatentFileError(f"not a readable .npz latent file ({type(e).__name__})") from None
    latent = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    if not torch.isfinite(latent).all():
        raise LatentFileError("the latent contains NaN or Inf values")
    return LatentFile(latent=latent, model=meta["model"], space=meta["space"], meta=meta, delta=delta)


@contextmanager
def _open_npz(src):
    """``np.load`` of a .npz after the checks zipfile itself does not make: total size, and the
    central directory's member count and byte size, read from its end record before zipfile
    parses it (a 20 MB upload can list 400,000 nameless members: ~90 MB of Python objects and
    seconds of parsing); then only ``latent``, ``meta`` and ``delta/...`` .npy members, each once."""
    fh = open(src, "rb") if isinstance(src, (str, os.PathLike)) else src
    try:
        size = fh.seek(0, os.SEEK_END)
        if size > MAX_LATENT_FILE_BYTES:
            raise LatentFileError(f"latent file is larger than {MAX_LATENT_FILE_BYTES >> 20} MB")
        fh.seek(0)
        if fh.read(4) != b"PK\x03\x04":                # .npz is a zip archive
            raise LatentFileError("not a readable .npz latent file (expected a .npz written by ganinv)")
        members, directory = _zip_directory(fh, size)
        if members > MAX_NPZ_MEMBERS or directory > MAX_NPZ_DIRECTORY_BYTES:
            raise LatentFileError(f"the latent file lists too many members (a ganinv latent has at most "
                                  f"{MAX_NPZ_MEMBERS})")
        fh.seek(0)
        with np.load(fh, allow_pickle=False) as f:
            names = f.zip.namelist()
            if len(set(names)) != len(names):
                raise LatentFileError("not a ganinv latent file (a member is listed twice)")
            odd = [n for n in names if not n.endswith(".npy")
                   or n[:-4] not in ("latent", "meta") and not n.startswith(DELTA_PREFIX)]
            if odd:
                raise LatentFileError(f"not a ganinv latent file (unexpected member {odd[0][:40]!r})")
            yield f
    finally:
        if fh is not src:
            fh.close()


def _zip_directory(fh, size: int) -> tuple[int, int]:
    """(member count, central directory bytes) from the zip's end record, found as zipfile finds it
    (the last 22 bytes, else the last signature in the trailing comment).  A zip64 archive reports
    0xFFFF / 0xFFFFFFFF here, which the caps refuse: no ganinv latent needs zip64."""
    tail_len = min(size, _EOCD_SIZE + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = len(tail) - _EOCD_SIZE
    if at < 0 or tail[at:at + 4] != _EOCD_SIGNATURE or tail[-2:] != b"\0\0":
        at = tail.rfind(_EOCD_SIGNATURE)
    record = tail[at:at + _EOCD_SIZE] if at >= 0 else b""
    if len(record) != _EOCD_SIZE:
        raise LatentFileError("not a readable .npz latent file (truncated or not a zip archive)")
    fields = struct.unpack("<4s4H2LH", record)
    return fields[4], fields[5]


def _read_meta(f, header: tuple[np.dtype, tuple[int, ...]]) -> dict:
    """The JSON metadata, after its header says it is a small byte string."""
    dtype, shape = header
    if dtype != np.uint8 or len(shape) != 1:
        raise LatentFileError("the latent file's metadata is missing or not a ganinv latent")
    if shape[0] > MAX_META_BYTES:
        raise LatentFileError(f"the latent file's metadata is larger than {MAX_META_BYTES >> 10} KB")
    try:
        meta = json.loads(f["meta"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        meta = None
    if (not isinstance(meta, dict) or meta.get("format") not in (LATENT_FORMAT, LATENT_DELTA_FORMAT)
            or not {"model", "space"} <= set(meta) or not isinstance(meta["model"], str)
            or not isinstance(meta["space"], str)):
        raise LatentFileError("the latent file's metadata is missing or not a ganinv latent")
    return meta


def _check_latent_header(header: tuple[np.dtype, tuple[int, ...]], meta: dict, *, G, model: str | None) -> None:
    """Model, dtype and shape of the latent from its header: [N, *latent_shape(G, space)], N >= 1."""
    dtype, shape = header
    want = model or (G.name if G is not None else None)
    if want is not None and meta["model"] != want:
        raise LatentFileError(f"this latent was made for model {meta['model']!r}, not {want!r}: "
                              f"select {meta['model']!r} to use it")
    if not np.issubdtype(dtype, np.floating):
        raise LatentFileError(f"latent values must be floats, got {dtype}")
    if G is not None:
        try:
            code = latent_shape(G, meta["space"])
        except ValueError as e:
            raise LatentFileError(str(e)) from None
        if len(shape) != 1 + len(code) or tuple(shape[1:]) != code or shape[0] < 1:
            raise LatentFileError(f"a {meta['space']} latent for {G.name!r} has shape "
                                  f"[N, {', '.join(map(str, code))}], got {list(shape)}")
    elif len(shape) < 2 or 0 in shape:
        raise LatentFileError(f"a latent has shape [N, ...] with N >= 1, got {list(shape)}")
    if dtype.itemsize * math.prod(shape) > MAX_LATENT_BYTES:
        raise LatentFileError(f"the latent array is larger than {MAX_LATENT_BYTES >> 20} MB")


def _header(f, key: str) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of an .npz member from its .npy header, without reading its data."""
    with f.zip.open(key + ".npy") as fp:
        dtype, shape = npy_header(fp)
    if dtype.hasobject:
        raise LatentFileError("the latent file contains pickled objects; refused (never unpickled)")
    return dtype, shape


def _read_delta(f, meta: dict, G, headers: dict) -> dict[str, torch.Tensor]:
    """The float32 delta of a tuned generator, after every check that needs no data."""
    info = meta["delta"]
    params = info.get("params") if isinstance(info, dict) else None
    if meta.get("format") != LATENT_DELTA_FORMAT or not isinstance(params, dict) or not params:
        raise LatentFileError("the latent file's weight delta metadata is malformed")
    members = {k[len(DELTA_PREFIX):] for k in headers if k.startswith(DELTA_PREFIX)}
    if members != set(params):
        raise LatentFileError("the latent file's weight delta does not match its metadata")
    shapes = {n: p.shape for n, p in G.named_parameters()} if G is not None else None
    total = 0
    for name, shape in params.items():
        dtype, stored = headers[DELTA_PREFIX + name]
        if dtype != np.float16 or list(stored) != shape:
            raise LatentFileError(f"delta {name!r}: expected float16 {shape}, found {dtype} {list(stored)}")
        if shapes is not None and (name not in shapes or tuple(shapes[name]) != tuple(stored)):
            raise LatentFileError(f"the weight delta does not fit {G.name!r}: parameter {name!r} "
                                  + ("is unknown" if name not in shapes else f"has shape {list(shapes[name])}"))
        total += 2 * math.prod(stored)
    if total > MAX_DELTA_BYTES:
        raise LatentFileError(f"the weight delta is larger than {MAX_DELTA_BYTES >> 20} MB")
    delta = {n: torch.from_numpy(f[DELTA_PREFIX + n].astype(np.float32)) for n in params}
    if not all(torch.isfinite(t).all() for t in delta.values()):
        raise LatentFileError("the weight delta contains NaN or Inf values")
    return delta
