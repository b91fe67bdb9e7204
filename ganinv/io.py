"""Reading images and reading / writing latent codes, safely.

Images: anything PIL reads, any mode, EXIF orientation applied, bounded pixel count
(decompression bombs are refused before decoding), first frame of animations.
Latents: ``.npz`` holding a float32 array ``latent`` and a JSON ``meta`` (model, space,
shape) stored as bytes; loaded with ``allow_pickle=False`` so no code can ever run.  A record
of a pivotal-tuning inversion also holds the generator's weight delta as float16 arrays
``delta/<parameter name>`` (format ``ganinv-latent/2``).  A small .npz can inflate to gigabytes
(a zip of zeros), so a latent file's directory, metadata and every array header are checked against
caps and the model before any array data is read.  Directions, mappers and encoders use
``npy_header`` and ``read_json`` to do the same for their files.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write
from .latent import latent_shape

MAX_PIXELS = int(os.environ.get("GANINV_MAX_PIXELS", 50_000_000))   # ~ 7000 x 7000
MAX_LATENT_BYTES = 16 << 20                     # one latent array: 455 W+ codes of a 1024 px StyleGAN2
MAX_META_BYTES = 1 << 20                        # JSON metadata (a 1024 px record's delta list: ~40 KB)
LATENT_FORMAT = "ganinv-latent/1"
LATENT_DELTA_FORMAT = "ganinv-latent/2"        # /1 plus a tuned-generator weight delta
MAX_DELTA_BYTES = 192 << 20                     # fp16 delta of StyleGAN2 1024 px synthesis: 57 MB
MAX_LATENT_FILE_BYTES = MAX_LATENT_BYTES + MAX_META_BYTES + MAX_DELTA_BYTES
MAX_NPZ_MEMBERS = 4096                          # latent, meta and one member per tuned parameter (1024 px: ~400)
MAX_NPZ_DIRECTORY_BYTES = 1 << 20               # the zip's central directory: ~100 bytes per member
DELTA_PREFIX = "delta/"
_EOCD_SIGNATURE, _EOCD_SIZE = b"PK\x05\x06", 22   # a zip's end-of-central-directory record
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,200}$")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class ImageLoadError(ValueError):
    """An input cannot be used as an image; the message says why in plain words."""


class LatentFileError(ValueError):
    """A latent file is unreadable or does not fit the model; the message says why."""


# --------------------------------------------------------------------------- images
def load_image(src, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``src`` (path, bytes, file object, PIL image or HxWxC array) as an RGB PIL image."""
    if isinstance(src, Image.Image):
        img = src
    elif isinstance(src, np.ndarray):
        img = Image.fromarray(_array_to_uint8(src))
    else:
        img = _open(src, max_pixels)
    if img.width * img.height > max_pixels:
        raise ImageLoadError(f"the image is {img.width}x{img.height} = {img.width * img.height:,} pixels; "
                             f"the limit is {max_pixels:,}. Downscale it first.")
    if img.width < 1 or img.height < 1:
        raise ImageLoadError("the image is empty (zero width or height)")
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)                                    # animations: use the first frame
    try:
        img = ImageOps.exif_transpose(img)
        return to_rgb(img)
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageLoadError(f"the image file is damaged or truncated ({e})") from None


def _open(src, max_pixels: int) -> Image.Image:
    if isinstance(src, (bytes, bytearray)):
        if not src:
            raise ImageLoadError("the file is empty")
        src = io.BytesIO(src)
    elif isinstance(src, (str, os.PathLike)):
        if not os.path.isfile(src):
            raise ImageLoadError(f"no such file: {src}")
        if os.path.getsize(src) == 0:
            raise ImageLoadError(f"the file is empty: {os.path.basename(src)}")
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(src)
            img.load()
        return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"the image is too large (over {max_pixels:,} pixels): refused before decoding") from None
    except UnidentifiedImageError:
        raise ImageLoadError("this file is not an image PIL can read (expected PNG, JPEG, WebP, BMP, TIFF, GIF ...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageLoadError(f"the image file is damaged or truncated ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _array_to_uint8(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageLoadError(f"expected an HxW or HxWxC (C = 1, 3, 4) array, got shape {a.shape}")
    if a.dtype == np.uint8:
        out = a
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageLoadError("the image contains NaN or Inf values")
        out = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8) if a.max() <= 1.0 else np.clip(a, 0, 255).astype(np.uint8)
    else:
        info = np.iinfo(a.dtype)
        out = ((a.astype(np.float64) - max(info.min, 0)) / (info.max - max(info.min, 0)) * 255 + 0.5).astype(np.uint8)
    return out[..., 0] if out.shape[2] == 1 else out


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: alpha composited on white, 16/32-bit scaled, CMYK and palettes converted."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if img.mode.startswith("I;16") else (float(a.min()), float(a.max()))
        a = ((a - lo) / max(hi - lo, 1e-12) * 255 + 0.5).clip(0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB")


def list_images(path: str) -> list[str]:
    """``path`` itself if it is a file, else the image files in the folder (sorted, not recursive)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ImageLoadError(f"no such file or folder: {os.path.basename(os.path.normpath(path)) or path}")
    return sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))


def center_crop_resize(img: Image.Image, size: int) -> Image.Image:
    """Largest centred square, resized to ``size`` x ``size`` (Lanczos)."""
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s)).resize((size, size), Image.LANCZOS)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL -> [1, 3, H, W] float32 in [-1, 1]."""
    a = np.asarray(to_rgb(img), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()


def tensor_to_pil(x: torch.Tensor) -> Image.Image | list[Image.Image]:
    """[C, H, W] or [N, C, H, W] in [-1, 1] -> PIL image(s)."""
    x = x.detach().float().cpu()
    if x.ndim == 4:
        return [tensor_to_pil(t) for t in x]
    a = ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)


def image_grid(images: list[Image.Image], cols: int | None = None, pad: int = 2) -> Image.Image:
    """Images of equal size side by side (one row unless ``cols`` is given)."""
    cols = cols or len(images)
    rows = (len(images) + cols - 1) // cols
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w + (cols - 1) * pad, rows * h + (rows - 1) * pad), (255, 255, 255))
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * (w + pad), (i // cols) * (h + pad)))
    return grid


# --------------------------------------------------------------------------- latents
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


# --------------------------------------------------------------------------- other files users hand us
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
