"""The bad-input catalogue: files a user may throw at ganinv, each with the words the answer must contain.

Used by tests/test_bad_inputs.py (library and CLI) and tests/app/ (HTTP API) so every entry point is
held to the same cases.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _portrait() -> Image.Image:
    from skimage import data
    return Image.fromarray(data.astronaut())


def bad_images() -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, phrase the error message must contain)."""
    png = _save(_portrait(), "PNG")
    bomb = _save(Image.new("L", (12000, 12000)), "PNG")        # 144 MP, a few hundred KB compressed
    return {
        "empty": ("empty.png", b"", "empty"),
        "truncated": ("truncated.png", png[: len(png) // 3], "truncated"),
        "not_an_image": ("notes.png", b"hello, this is text\n" * 20, "not an image"),
        "html_as_jpg": ("page.jpg", b"<html><body>hi</body></html>", "not an image"),
        "bomb": ("bomb.png", bomb, "too large"),
    }


def odd_but_valid_images() -> dict[str, tuple[str, bytes]]:
    """Images that must work (converted, cropped), not be refused."""
    p = _portrait()
    small = p.resize((96, 96))
    exif = Image.Exif()
    exif[0x0112] = 8
    frames = [small, small.transpose(Image.FLIP_LEFT_RIGHT)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    sixteen = (np.asarray(small.convert("L"), dtype=np.uint16) * 257)
    return {
        "one_pixel": ("one.png", _save(Image.new("RGB", (1, 1), (200, 150, 120)), "PNG")),
        "very_wide": ("wide.png", _save(Image.new("RGB", (4000, 3), (20, 40, 60)), "PNG")),
        "sixteen_bit": ("grey16.png", _save(Image.fromarray(sixteen, "I;16"), "PNG")),
        "cmyk_jpeg": ("cmyk.jpg", _save(small.convert("CMYK"), "JPEG")),
        "palette": ("palette.png", _save(small.convert("P"), "PNG")),
        "rgba": ("alpha.png", _save(small.convert("RGBA"), "PNG")),
        "animated_gif": ("anim.gif", gif.getvalue()),
        "exif_rotated": ("rotated.jpg", _save(p.rotate(-90, expand=True), "JPEG", exif=exif.tobytes())),
        "png_named_jpg": ("actually_png.jpg", _save(small, "PNG")),
    }


def write(cases: dict, folder: str) -> dict[str, str]:
    os.makedirs(folder, exist_ok=True)
    out = {}
    for name, (fname, data, *_) in cases.items():
        path = os.path.join(folder, fname)
        with open(path, "wb") as f:
            f.write(data)
        out[name] = path
    return out


class Canary:
    """Pickling this object stores a call that would create ``path`` when unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))
