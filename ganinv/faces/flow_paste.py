"""Flow-guided edit transfer: the photo's own pixels moved the way the edit moves the face.

HFGI (Wang et al., "High-Fidelity GAN Inversion for Image Attribute Editing", CVPR 2022,
Sec. 3.2) writes the edited photo as G(w_e) + D' where D = x - G(w) is the distortion map and
D' is D re-aligned to the edited face by a learned consultation branch.  This is a
training-free counterpart, in four steps (legend: x -> the photo, T -> photo -> aligned
similarity, B = G'(w), A = G'(w + a n) the tuned generator's renders, F -> flow):

1. Motion.  A dense backward flow F on the renders, A(q) ~ B(q + F(q)): OpenCV's DIS optical flow
   (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016) on the renders
   upsampled 4x.  ``motion="landmarks"`` takes F inside the face from dlib's 68 points fitted on
   both renders (Kazemi & Sullivan, CVPR 2014), interpolated by a thin-plate spline (Bookstein,
   PAMI 1989), DIS around it: DIS on a 10-px mouth can explain a smile's lifted corners as a
   change of shading, the landmarks move them.  Over the 32 faces of bench/fidelity.py it did
   not raise the share of faces that smile and kept identity and pose on fewer
   (docs/benchmarks.md), so DIS stays the default.  F is faded to zero at the mask's edge, so the warp is the identity where the face meets the
   background.
2. Warp the photo at full resolution:  x_w(p) = x(T^-1(T(p) + F(T(p))))  (bicubic), so the
   photo's own detail (pores, hair, grain) follows the mouth corners and lids.
3. Appearance the motion does not explain:  R = A - B(q + F(q)), the residual of the warped
   render.  It is band-limited by construction (the generator resolves R px across the face),
   so it is upsampled smoothly and added.  With ``keep_tone`` its coarsest band over the skin
   (the mean colour change of cheeks, chin and forehead) is removed: the 64-px generator's
   global colour drift is not part of a smile.  New content (teeth, closed lids: large |R|)
   replaces the photo's old high frequencies there instead of lying over them.
4. Blend under the feathered face mask, widened by where the warp moved it.  x_w equals x
   where F is zero and R is smooth, so the blend has no high-frequency seam; pixels where
   the mask is zero are copied bit for bit, and ``B == A`` returns the photo exactly.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.interpolate import RBFInterpolator

from .align import Aligned
from .detect import BROWS, JAW, _standard_box, fit_landmarks
from .paste import _as_float_rgb, _mask_in_original, blend_into, border_fade, face_mask

FLOW_UPSAMPLE = 4            # renders are upsampled this much before DIS (64 px -> 256 px)
MIN_PHOTO_PX = 0.25          # photo-pixel motion below this is shrunk to zero (those pixels keep their values)
MIN_FLOW_PX = 0.02           # |F| below this many render pixels is noise: shrunk to zero
TONE_BAND = 6.0              # the drift band: Gaussian sigma = R / TONE_BAND render pixels
COARSE_BAND = 0.0            # >0: also drop the residual's band below Gaussian sigma R / COARSE_BAND everywhere
SHADING_EPS = 16.0           # 0..255 units added to both luminances of the shading gain (dark pixels stay stable)
SHADING_GAIN = (0.4, 2.5)    # the gain's range
NEW_COLOUR = 40.0            # |R| detail at which new content (teeth) takes the render's colour, not a gain
GRAIN_KEPT = 0.5             # share of the photo's own fine detail kept over new content (its grain)
NEW_CONTENT = 80.0           # |R| (0..255 units, luminance) at which the photo's old detail is fully replaced

LandmarkFn = Callable[[np.ndarray], "np.ndarray | None"]


def render_flow(before: np.ndarray, after: np.ndarray, *, upsample: int = FLOW_UPSAMPLE) -> np.ndarray:
    """Backward flow [R, R, 2] (x, y) in render pixels with  after(q) ~ before(q + F(q)).

    before / after: float [R, R, 3] in 0..255.  DIS (preset "medium") on the luminance upsampled
    ``upsample`` times; the result is averaged back down to R px.
    """
    r = before.shape[0]
    up = r * upsample

    def gray(img: np.ndarray) -> np.ndarray:
        g = np.clip(img @ np.array([0.299, 0.587, 0.114]), 0, 255).astype(np.uint8)
        return cv2.resize(g, (up, up), interpolation=cv2.INTER_CUBIC)

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(gray(after), gray(before), None)            # after(x) ~ before(x + flow(x))
    flow = cv2.resize(flow, (r, r), interpolation=cv2.INTER_AREA) / upsample
    mag = np.hypot(flow[..., 0], flow[..., 1])
    shrink = np.clip(1 - MIN_FLOW_PX / np.maximum(mag, 1e-12), 0, 1)
    return (flow * shrink[..., None]).astype(np.float32)


def landmark_flow(before: np.ndarray, after: np.ndarray, landmarks: LandmarkFn, *,
                  smoothing: float = 1.0) -> np.ndarray | None:
    """Backward flow [R, R, 2] from landmarks found on both renders, interpolated by a thin-plate
    spline (Bookstein, PAMI 1989); None when either render has no face.

    landmarks(rgb uint8 [R, R, 3]) -> [K, 2] points in render pixels (the same K on both), or None.
    """
    lb = landmarks(np.clip(before, 0, 255).astype(np.uint8))
    la = landmarks(np.clip(after, 0, 255).astype(np.uint8))
    if lb is None or la is None or len(lb) != len(la):
        return None
    r = before.shape[0]
    border = np.array([[x, y] for x in np.linspace(0, r, 9) for y in (0, r)] +
                      [[x, y] for y in np.linspace(0, r, 9)[1:-1] for x in (0, r)], float)
    move = lb - la                                              # where to read each point in the unedited render
    mag = np.hypot(move[:, 0], move[:, 1])
    move = move * np.clip(1 - MIN_FLOW_PX * 5 / np.maximum(mag, 1e-12), 0, 1)[:, None]   # fit noise: no motion
    src = np.concatenate([la, border])                          # where the edited face's points are
    disp = np.concatenate([move, np.zeros_like(border)])
    tps = RBFInterpolator(src, disp, kernel="thin_plate_spline", smoothing=smoothing)
    yy, xx = np.mgrid[0:r, 0:r] + 0.5
    return tps(np.c_[xx.ravel(), yy.ravel()]).reshape(r, r, 2).astype(np.float32)


def render_landmarks(aligned: Aligned) -> LandmarkFn:
    """dlib's 68 points on an aligned render (``landmarks`` of ``landmark_flow``): the fit starts from the
    box of the photo's own landmarks in aligned coordinates, so no detector runs on the small render."""
    def points(rgb: np.ndarray) -> np.ndarray | None:
        if aligned.landmarks is None:
            return None
        box = _standard_box(aligned.landmarks * (rgb.shape[0] / aligned.spec.size))
        return fit_landmarks(rgb, box)
    return points


def face_weight(aligned: Aligned, r: int) -> np.ndarray | None:
    """[r, r] in 0..1: where landmark motion is trusted, the face's hull (jaw, brows raised by a third of the
    brow-chin distance) feathered by a tenth of the eye distance, in render px; None without landmarks."""
    if aligned.landmarks is None:
        return None
    lm = aligned.landmarks * (r / aligned.spec.size)
    hull = _face_hull(lm)
    img = Image.new("L", (r * 4, r * 4), 0)
    ImageDraw.Draw(img).polygon([tuple(p * 4) for p in hull], fill=255)
    w = np.asarray(img.resize((r, r), Image.BOX), np.float32) / 255
    eye_d = float(np.hypot(*(lm[45] - lm[36])))
    return np.clip(cv2.GaussianBlur(w, (0, 0), max(0.1 * eye_d, 0.5)) * 1.5 - 0.25, 0, 1)


def _sample(img: np.ndarray, mx: np.ndarray, my: np.ndarray, interp: int = cv2.INTER_CUBIC) -> np.ndarray:
    """img sampled at pixel-centre coordinates (mx, my) (cv2 remap, replicated border)."""
    return cv2.remap(img.astype(np.float32), (mx - 0.5).astype(np.float32), (my - 0.5).astype(np.float32),
                     interp, borderMode=cv2.BORDER_REPLICATE)


def _face_hull(lm: np.ndarray) -> np.ndarray:
    """The face's outline from 68 points: the jaw, then the brows raised by 0.3 of the brow-to-chin distance."""
    up = (lm[BROWS].mean(0) - lm[8]) * 0.3
    return np.concatenate([lm[JAW], lm[BROWS][::-1] + up])


def skin_region(aligned: Aligned, size: int) -> np.ndarray | None:
    """[size, size] bool: cheeks, chin and forehead in aligned coordinates at ``size`` px (the
    face hull minus eyes, brows, nose and mouth), or None without landmarks."""
    if aligned.landmarks is None:
        return None
    lm = aligned.landmarks * (size / aligned.spec.size)
    hull = _face_hull(lm)
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    d.polygon([tuple(p) for p in hull], fill=255)
    eye_d = np.hypot(*(lm[45] - lm[36]))
    for part in (slice(36, 42), slice(42, 48), slice(48, 60), slice(27, 36), BROWS):
        pts = lm[part]
        c = pts.mean(0)
        grown = c + (pts - c) * 1.5
        if len(pts) >= 3:
            d.polygon([tuple(p) for p in grown], fill=0)
        for p in pts:                                               # margin around each part
            rr = 0.08 * eye_d
            d.ellipse([p[0] - rr, p[1] - rr, p[0] + rr, p[1] + rr], fill=0)
    return np.asarray(img) > 0


def paste_flow(original: Image.Image, before, after, aligned: Aligned, *, feather: float = 0.04,
               region: str = "hull", keep_tone: bool = True, motion: str = "dis",
               landmarks: LandmarkFn | None = None, residual: str = "shading") -> Image.Image:
    """The photo with the edit ``before -> after`` (aligned renders, tensors in [-1, 1] or PIL, any
    size R) transferred by flow (module docstring).  ``motion``: "dis" (DIS alone) or "landmarks" (inside the
    face, the thin-plate spline of dlib's 68 points on both renders, or of ``landmarks``; DIS around it, and
    everywhere when a render has no face).  ``keep_tone``: drop the
    residual's mean colour change over the skin.  Pixels where the mask is zero are unchanged;
    ``before == after`` returns the photo."""
    if original.size != aligned.source_size:
        raise ValueError(f"original is {original.size}, but the face was aligned in a "
                         f"{aligned.source_size} image")
    b, a = _as_float_rgb(before), _as_float_rgb(after)
    if a.shape != b.shape or a.shape[0] != a.shape[1]:
        raise ValueError(f"before and after must be square and the same size, got {b.shape[:2]} and {a.shape[:2]}")
    photo = np.asarray(original.convert("RGB"))
    if np.array_equal(a, b):
        return Image.fromarray(photo.copy())
    r, size = a.shape[0], aligned.spec.size
    mask_al = face_mask(aligned, feather=feather, region=region)                  # [size, size]
    mask_r = cv2.resize(mask_al, (r, r), interpolation=cv2.INTER_AREA)

    # 1. motion, faded out at the mask's edge: the landmarks' inside the face, DIS around it (hair, ears)
    flow = render_flow(b, a)
    if motion not in ("landmarks", "dis"):
        raise ValueError(f"motion must be 'landmarks' or 'dis', got {motion!r}")
    lm_flow = landmark_flow(b, a, landmarks or render_landmarks(aligned)) if motion == "landmarks" else None
    weight = face_weight(aligned, r) if lm_flow is not None else None
    if weight is not None:
        flow = lm_flow * weight[..., None] + flow * (1 - weight[..., None])
    flow = flow * mask_r[..., None]
    # 3. residual the motion does not explain, in render pixels
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) + 0.5
    b_warp = _sample(b, xx + flow[..., 0], yy + flow[..., 1])
    resid = (a - b_warp) * mask_r[..., None]
    if keep_tone:                      # drop the residual's coarsest band over the skin: colour drift, not the edit
        skin = skin_region(aligned, r)
        if skin is not None and skin.sum() >= 8:
            sig = r / TONE_BAND
            wsum = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), sig)
            drift = cv2.GaussianBlur(resid * skin[..., None], (0, 0), sig) / np.maximum(wsum, 1e-3)[..., None]
            resid = resid - drift * np.clip(wsum / max(wsum.max(), 1e-6) * 2, 0, 1)[..., None] * mask_r[..., None]
            resid = resid - np.median(resid[skin], axis=0) * mask_r[..., None]
    if COARSE_BAND:                    # the residual's coarse band everywhere: lighting and hair drift, not the edit
        resid = resid - cv2.GaussianBlur(resid, (0, 0), r / COARSE_BAND) * mask_r[..., None]
    detail = resid - cv2.GaussianBlur(resid, (0, 0), 1.5)          # the residual's own structure (teeth, lids)
    # where the photo is touched: the mask, widened to where the warp moved the face, M(q + F(q))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    f_al = cv2.resize(flow, (size, size), interpolation=cv2.INTER_LINEAR) * (size / r)
    moved = _sample(mask_al, xs + f_al[..., 0], ys + f_al[..., 1], cv2.INTER_LINEAR)
    moved = np.clip(moved, 0, 1) * border_fade(size, feather * size)            # fades out at the crop's border
    alpha, box, _ = _mask_in_original(aligned, np.maximum(mask_al, np.where(moved < 1 / 255, 0, moved)))
    if alpha is None:
        return Image.fromarray(photo.copy())
    x0, y0, x1, y1 = box
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    q = aligned.to_aligned(np.c_[px.ravel(), py.ravel()])                          # aligned px (0..size)
    h, w = y1 - y0, x1 - x0
    qx, qy = (q[:, 0] * (r / size)).reshape(h, w), (q[:, 1] * (r / size)).reshape(h, w)   # render px (0..r)
    fx = _sample(flow[..., 0], qx, qy, cv2.INTER_LINEAR).ravel() * (size / r)
    fy = _sample(flow[..., 1], qx, qy, cv2.INTER_LINEAR).ravel() * (size / r)
    # 2. the photo's own pixels moved along F, at full resolution
    # motion under MIN_PHOTO_PX photo pixels is left out (soft shrink): resampling a still pixel only blurs it
    per_px = np.sqrt(abs(np.linalg.det(aligned.transform[:2, :2])))               # aligned px per photo px
    mag = np.hypot(fx, fy) / per_px
    keep = np.clip(1 - MIN_PHOTO_PX / np.maximum(mag, 1e-12), 0, 1)
    fx, fy = fx * keep, fy * keep
    src = aligned.to_original(q + np.c_[fx, fy])
    src[keep == 0] = np.c_[px.ravel(), py.ravel()][keep == 0]                      # exactly the pixel centre
    warped = _sample(photo, src[:, 0].reshape(h, w), src[:, 1].reshape(h, w), cv2.INTER_LANCZOS4)
    res_px = _sample(resid, qx, qy, cv2.INTER_CUBIC)
    # new content: the photo's old detail gives way where the render changed a lot
    det_px = _sample(detail, qx, qy, cv2.INTER_CUBIC)
    sigma = max(size / per_px / r, 1.0)                            # one render pixel, in photo pixels
    change = ndimage.gaussian_filter(np.abs(det_px @ np.array([0.299, 0.587, 0.114])), sigma)
    low = cv2.GaussianBlur(warped, (0, 0), sigma)
    new = np.clip(change / NEW_CONTENT, 0, 1)[..., None]
    kept = warped - new * (1 - GRAIN_KEPT) * (warped - low)       # the photo's detail, thinned over new content
    if residual == "shading":          # the change as a luminance gain on the photo's own colours
        luma = np.array([0.299, 0.587, 0.114], np.float32)
        base_px = _sample(b_warp, qx, qy, cv2.INTER_CUBIC) @ luma
        gain = np.clip((base_px + res_px @ luma + SHADING_EPS) / (base_px + SHADING_EPS), *SHADING_GAIN)
        colour = np.clip(change / NEW_COLOUR, 0, 1)[..., None]     # new content (teeth) in the render's colour
        composite = kept * gain[..., None] * (1 - colour) + (kept + res_px) * colour
    else:
        composite = kept + res_px
    return Image.fromarray(blend_into(photo, composite, alpha, box))           # 4. under the widened feathered mask


__all__ = ["paste_flow", "render_flow", "landmark_flow", "render_landmarks", "face_weight", "skin_region", "FLOW_UPSAMPLE"]
