"""Skin tone as the individual typology angle (ITA) over the face's skin.

ITA (Chardon, Cretois & Hourseau, "Skin colour typology and suntanning pathways",
Int. J. Cosmetic Science 13(4), 1991) is the angle of a skin colour in the L*-b* plane of
CIELAB, seen from (L* = 50, b* = 0):

    ITA = arctan((L* - 50) / b*) * 180 / pi          degrees; larger = lighter skin

Del Bino et al. ("Relationship between skin response to ultraviolet exposure and skin
color type", Pigment Cell Research 19(6), 2006) name the ranges: very light > 55, light
41..55, intermediate 28..41, tan 10..28, brown -30..10, dark < -30.  We evaluate the
formula as atan2(L* - 50, b*): identical for b* > 0 (every skin colour), +-90 for grey
images (finite, so a grey face is never mistaken for a missing one), beyond +-90 for
blue-tinted ones.  The angle measures the picture's colours, so lighting and white
balance move it as much as the skin does.

Region: both cheeks and a forehead band, built from the 68 iBUG landmarks and kept clear
of the eyes, brows, nose, mouth and jaw line (``skin_mask``).  L* and b* are the medians
over that region (robust to specular highlights, shadows and stray hair), and ITA is taken
of the medians: per-pixel angles jump by up to 180 degrees where b* is near 0.
sRGB -> CIELAB follows IEC 61966-2-1 (sRGB) and CIE 15 (D65 white point).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .base import check_images, to_uint8_hwc
from .landmarker import FaceObservation, LandmarkerScorer

ATTRIBUTES = ("ita",)

# sRGB (linear) -> CIE XYZ, D65 (IEC 61966-2-1), and the D65 reference white.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])

# iBUG 68 polygons (image-left cheek = subject's right): jaw, mouth corner, nose wing, lower lid.
_CHEEK_LEFT = [1, 2, 3, 4, 48, 31, 40, 41, 36]
_CHEEK_RIGHT = [15, 14, 13, 12, 54, 35, 47, 46, 45]
CHEEK_SHRINK = 0.75          # polygons shrunk towards their centre: stays off eyes, nose, mouth, jaw edge
FOREHEAD = (0.06, 0.22)      # band above the brows, as fractions of the brow-to-chin distance

# The MediaPipe face-mesh vertex nearest to each iBUG point (median over 275 DCGAN samples
# and the astronaut; scripts/fit_mesh68.py): median error 0.06 of the eye distance (max
# 0.14, jaw), so the scorers get the 68-point regions without running dlib as well.
MESH_TO_IBUG68 = (127, 227, 177, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 401, 447, 356, 70, 63, 52,
                  65, 55, 285, 295, 282, 293, 300, 168, 197, 5, 4, 240, 97, 164, 326, 460, 7, 160, 158, 155, 153, 144,
                  382, 385, 387, 249, 373, 380, 61, 74, 72, 11, 302, 272, 291, 321, 314, 17, 84, 181, 77, 82, 13, 312,
                  308, 317, 14, 87)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] [..., 3] -> CIELAB [..., 3] (L* in [0, 100]), D65."""
    rgb = np.asarray(rgb, np.float64)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    t = (lin @ _RGB_TO_XYZ.T) / _WHITE_D65
    eps, kappa = (6 / 29) ** 3, (29 / 6) ** 2 / 3      # CIE's linear segment near black
    f = np.where(t > eps, np.cbrt(t), kappa * t + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def ita_degrees(lightness: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    """ITA = arctan((L* - 50) / b*) in degrees (atan2 form; see the module docstring)."""
    return np.degrees(np.arctan2(np.asarray(lightness, np.float64) - 50, b))


def skin_mask(size: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """bool [H, W] of cheek and forehead skin for one face; ``size`` = (W, H), landmarks [68, 2] in pixels."""
    lm = np.asarray(landmarks, np.float64)
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    for idx in (_CHEEK_LEFT, _CHEEK_RIGHT):
        pts = lm[idx]
        c = pts.mean(0)
        draw.polygon([tuple(p) for p in c + (pts - c) * CHEEK_SHRINK], fill=255)
    brows = lm[17:27]
    up = brows.mean(0) - lm[8]                          # chin -> brows: "up" along the face
    lo, hi = FOREHEAD
    # Only the middle of the brow line (points 18..25): above the brows' outer ends is temple hair.
    band = np.concatenate([brows[1:-1] + lo * up, (brows[1:-1] + hi * up)[::-1]])
    draw.polygon([tuple(p) for p in band], fill=255)
    return np.asarray(img) > 0


def face_ita(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """ITA (degrees) of one face: uint8 [H, W, 3] sRGB, landmarks [68, 2]; NaN if the region is empty.

    One median over all region pixels.  Per-region angles combined by a median (to drop a
    forehead under bangs) were less stable: between dlib's and the mesh's landmarks on 54
    DCGAN faces the pooled median differs by at most 8.8 degrees, the median of three
    regions by up to 47 (a region whose b* is near 0 swings its angle).  The price: a
    shadowed forehead pulls the value down (astronaut: cheeks alone 56, all regions 45).
    """
    mask = skin_mask((rgb.shape[1], rgb.shape[0]), landmarks)
    if mask.sum() < 4:
        return math.nan
    lab = srgb_to_lab(rgb[mask] / 255.0)
    return float(ita_degrees(np.median(lab[:, 0]), np.median(lab[:, 2])))


def ibug68_from_mesh(mesh: np.ndarray, width: int, height: int) -> np.ndarray:
    """[68, 2] iBUG-style landmarks in pixels from MediaPipe's [478, 2+] mesh (image fractions)."""
    return np.asarray(mesh)[list(MESH_TO_IBUG68), :2] * [width, height]


def ita_from_observations(rgb: np.ndarray, observations: list[FaceObservation | None]) -> np.ndarray:
    """[N] ITA for uint8 images [N, H, W, 3] and the landmarker's observation of each (None: NaN)."""
    return np.array([face_ita(im, ibug68_from_mesh(o.landmarks, im.shape[1], im.shape[0])) if o is not None
                     else math.nan for im, o in zip(rgb, observations, strict=True)], dtype=np.float64)


class SkinToneScorer:
    """ITA of the face behind the scorer interface.

    Faces are found by the MediaPipe landmarker on the image upsampled to ``size`` (as the
    other scorers do: 64 px GAN faces are found far more often so), and the 68 points come
    from its mesh (``MESH_TO_IBUG68``), so this scorer and the "ita" of ``FaceScorer`` agree
    exactly and cost ~1 ms per image beyond the landmarker.
    """

    name = "mediapipe-face-landmarker+ita"
    names = ATTRIBUTES

    def __init__(self, *, size: int = 256, min_confidence: float = 0.3):
        self.landmarker = LandmarkerScorer(size=size, min_confidence=min_confidence)

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        big = to_uint8_hwc(images, self.landmarker.size)
        return {"ita": ita_from_observations(big, [self.landmarker.observe_uint8(a) for a in big])}
