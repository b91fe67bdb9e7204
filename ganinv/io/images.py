"""Images users hand us: anything PIL reads, any mode, EXIF orientation applied, bounded pixel count
(decompression bombs are refused before decoding), first frame of animations; and tensor <-> PIL."""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = int(os.environ.get("GANINV_MAX_PIXELS", 50_000_000))   # ~ 7000 x 7000
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


class ImageLoadError(ValueError):
    """An input cannot be used as an image; the message says why in plain words."""


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
