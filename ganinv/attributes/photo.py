"""Scores of a face where the user sees it: in the whole photo, at its own resolution.

An edit pasted into a photo is judged on that photo, not on the generator's 64-px render.
``face_box`` is the square around a face in the photo; ``photo_scores`` runs the MediaPipe
landmarker (blendshapes, head pose) on that crop; ``skin_change`` compares the skin of two
versions of the photo over one fixed region read from the first one's 478-point MediaPipe
mesh (cheeks, chin, forehead), which is a different region and landmark source from the
68-point region the skin-tone hold uses (``ganinv.attributes.skin``):

    ITA = atan2(L* - 50, b*)  (Chardon et al. 1991)    Delta E = |Lab_mean(after) - Lab_mean(before)|  (CIE76)

Image quality of a paste: ``sharpness`` is the variance of the Laplacian in the face box;
``seam_energy`` is the mean gradient magnitude on the mask's transition band.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from . import get_scorer
from ..identity import arcface_similarity
from .age_gender import crops_from_observations
from .landmarker import LandmarkerScorer, observation_scores
from .skin import ita_degrees, srgb_to_lab

# MediaPipe face-mesh vertices in the skin the scores read: cheeks (both), chin, forehead.
# Each is the centre of a disk of radius SKIN_DISK x the eye distance.
SKIN_VERTICES = {"cheek_right": (50, 101, 205, 187, 123), "cheek_left": (280, 330, 425, 411, 352),
                 "chin": (199, 175, 200), "forehead": (151, 108, 337, 9)}
SKIN_DISK = 0.12
_EYES = (33, 263)                           # outer eye corners


def face_box(aligned, *, margin: float = 0.15) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the aligned quad's bounding box grown by ``margin``, inside the photo."""
    w, h = aligned.source_size
    lo, hi = aligned.quad.min(0), aligned.quad.max(0)
    pad = (hi - lo) * margin
    x0, y0 = np.maximum(np.floor(lo - pad), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + pad), (w, h)).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _observe(scorer: LandmarkerScorer, photo: Image.Image, box):
    crop = np.asarray(photo.convert("RGB").crop(box))
    return scorer.observe_uint8(crop), crop


def photo_scores(photo: Image.Image, box, scorer: LandmarkerScorer | None = None) -> dict[str, float]:
    """Landmarker scores (smile, mouth_open, eyes_closed, yaw, pitch) of the face in ``box``; NaN without a face."""
    obs, _ = _observe(scorer or _default(), photo, box)
    return observation_scores(obs)


def photo_age_gender(photo: Image.Image, box, scorer=None) -> dict[str, float]:
    """face-api.js AgeGenderNet on the face in ``box`` at the photo's resolution: {"age", "male"}."""
    return _age_gender(*_observe(scorer or _default(), photo, box))


def face_figures(photo: Image.Image, box, scorer: LandmarkerScorer | None = None) -> tuple[dict[str, float], object,
                                                                                            np.ndarray]:
    """``photo_scores`` and ``photo_age_gender`` from one landmarker pass, with that observation and the crop."""
    obs, crop = _observe(scorer or _default(), photo, box)
    return {**observation_scores(obs), **_age_gender(obs, crop)}, obs, crop


def _age_gender(obs, crop: np.ndarray) -> dict[str, float]:
    out = get_scorer("age_gender").model.score_crops(crops_from_observations([crop], [obs]))
    return {k: float(v[0]) for k, v in out.items()}


def skin_pixels(crop: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """[H, W] bool skin region of ``crop`` from a MediaPipe mesh [478, >=2] in image fractions."""
    h, w = crop.shape[:2]
    pts = mesh[:, :2] * (w, h)
    eye_d = float(np.hypot(*(pts[_EYES[0]] - pts[_EYES[1]])))
    r = SKIN_DISK * eye_d
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    region = np.zeros((h, w), bool)
    for ids in SKIN_VERTICES.values():
        for i in ids:
            region |= (xx - pts[i, 0]) ** 2 + (yy - pts[i, 1]) ** 2 <= r * r
    return region


def skin_change(before: Image.Image, after: Image.Image, box, scorer: LandmarkerScorer | None = None) -> dict:
    """ITA of both photos and the CIE76 Delta E of their mean skin colour, over the skin region that the
    landmarker finds in ``before`` (the same pixels are read in ``after``); NaN without a face."""
    obs, crop = _observe(scorer or _default(), before, box)
    return _skin_compare(obs, crop, np.asarray(after.convert("RGB").crop(box)))


def _skin_compare(obs, crop: np.ndarray, crop_after: np.ndarray) -> dict:
    if obs is None:
        return {"ita_before": math.nan, "ita_after": math.nan, "delta_ita": math.nan, "delta_e": math.nan}
    region = skin_pixels(crop, obs.landmarks)
    lab_b = srgb_to_lab(crop[region].astype(np.float64) / 255).mean(0)
    lab_a = srgb_to_lab(crop_after[region].astype(np.float64) / 255).mean(0)
    ita_b, ita_a = float(ita_degrees(lab_b[0], lab_b[2])), float(ita_degrees(lab_a[0], lab_a[2]))
    return {"ita_before": ita_b, "ita_after": ita_a, "delta_ita": ita_a - ita_b,
            "delta_e": float(np.linalg.norm(lab_a - lab_b)), "delta_l": float(lab_a[0] - lab_b[0])}


def sharpness(photo: Image.Image, box) -> float:
    """Variance of the Laplacian (4-neighbour) of the luminance in ``box``."""
    g = np.asarray(photo.convert("L").crop(box), np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def seam_energy(photo: Image.Image, mask: np.ndarray, *, band: tuple[float, float] = (0.05, 0.95)) -> float:
    """Mean gradient magnitude of the luminance where the paste mask [H, W] is in its transition band."""
    g = np.asarray(photo.convert("L"), np.float64)
    gy, gx = np.gradient(g)
    sel = (mask > band[0]) & (mask < band[1])
    return float(np.hypot(gx, gy)[sel].mean()) if sel.any() else 0.0


def score_photo(original: Image.Image, pasted: Image.Image, aligned) -> tuple[dict[str, tuple[float, float]], dict]:
    """Scores of the face in ``original`` and in ``pasted`` (the same photo with an edit pasted in), read at full
    resolution around the aligned face: blendshapes and pose, age / P(male), skin ITA and Delta E; and the
    ArcFace similarity of the two faces (``photo_arcface_similarity``)."""
    box = face_box(aligned)                    # one landmarker pass per photo serves every figure
    (before, obs, crop), (after, _, crop_after) = (face_figures(im, box) for im in (original, pasted))
    out = {k: (before[k], after[k]) for k in before}
    skin = _skin_compare(obs, crop, crop_after)
    out["ita"] = (skin["ita_before"], skin["ita_after"])
    out["skin_delta_e"] = (0.0, skin["delta_e"])
    return out, {"photo_arcface_similarity": arcface_similarity(crop, crop_after)}


def _default() -> LandmarkerScorer:
    """The shared landmarker (``ganinv.attributes.get_scorer``), which reads any image size as it is."""
    return get_scorer("landmarker")


__all__ = ["face_box", "score_photo", "face_figures", "photo_scores", "photo_age_gender", "skin_change", "skin_pixels", "sharpness", "seam_energy", "SKIN_VERTICES"]
