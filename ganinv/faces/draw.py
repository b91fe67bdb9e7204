"""Preview drawing: detected faces, their landmarks and alignment quads."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .detect import Face

_COLORS = [(0, 230, 118), (255, 193, 7), (41, 182, 246), (239, 83, 80)]   # one per face, cycled


def draw_landmarks(img: Image.Image, faces: Sequence[Face], *, quads: Sequence[np.ndarray] | None = None,
                   numbers: bool = True) -> Image.Image:
    """A copy of ``img`` with each face's box, 68 landmarks and (optionally) its alignment quad.

    Faces are numbered in list order (0 = largest), matching ``face_index``.
    """
    out = img.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    r = max(1.0, min(out.size) / 250)                       # dot radius scales with the picture
    width = max(1, int(round(r)))
    for i, face in enumerate(faces):
        color = _COLORS[i % len(_COLORS)]
        draw.rectangle([tuple(face.box[:2]), tuple(face.box[2:])], outline=color, width=width)
        for x, y in face.landmarks:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        if numbers:
            draw.text((face.box[0] + 2 * width, face.box[1] + 2 * width), str(i), fill=color)
        if quads is not None and i < len(quads):
            q = [tuple(p) for p in np.asarray(quads[i])]
            draw.line(q + [q[0]], fill=color, width=width)
    return out
