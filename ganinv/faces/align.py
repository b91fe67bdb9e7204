"""Face alignment templates and the warp into a generator's training crop.

A GAN inverts well only images framed like its training data, so a real photo is first
warped into that framing.  The FFHQ recipe (Karras et al., CVPR 2019, "A Style-Based
Generator Architecture for GANs", appendix A, and the FFHQ dataset script) builds an
oriented square from the eye and mouth landmarks:

    e  = mean of both eye centres        d_ee = right eye - left eye
    m  = midpoint of the mouth corners   d_em = m - e
    x  = d_ee - rot90(d_em), normalised, scaled to  max(eye_scale |d_ee|, mouth_scale |d_em|)
    y  = rot90(x)                        c = e + center_shift * d_em
    quad = (c - x - y, c - x + y, c + x + y, c + x - y)   # TL, BL, BR, TR corners

with (eye_scale, mouth_scale, center_shift) = (2.0, 1.8, 0.1) for FFHQ.  Parts of the quad
outside the photo are filled with a reflection that blurs and fades to the median colour
with distance from the border.  Other templates are the same recipe with other numbers
(``AlignSpec``), so every template is data.

Since the quad is a rotated square, the whole warp is one similarity transform, kept as a
3x3 matrix (original -> aligned continuous pixel coordinates) for ``paste_back``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from .detect import Face, detect_faces, pick_face, to_rgb_array


@dataclass(frozen=True)
class AlignSpec:
    """An alignment template: the output size and the quad recipe's numbers."""

    name: str
    size: int                    # output height == width, pixels
    recipe: str = "quad"         # "quad" (landmark quad above) | "center" (centre square, no detection)
    eye_scale: float = 2.0       # quad half-side >= eye_scale * eye distance
    mouth_scale: float = 1.8     # quad half-side >= mouth_scale * eye-to-mouth distance
    center_shift: float = 0.1    # quad centre = eye midpoint + center_shift * (eye -> mouth vector)
    pad_reflect: bool = True     # fill outside the photo with blurred reflection (else edge colour)

    def with_size(self, size: int) -> "AlignSpec":
        return replace(self, size=int(size))


# FFHQ (and MetFaces, which reused its alignment), for FFHQ-trained StyleGAN2/3.
FFHQ = AlignSpec("ffhq", 1024, eye_scale=2.0, mouth_scale=1.8, center_shift=0.1)
# The bundled CelebA-like DCGAN: numbers fitted to its samples (landmarks on 61 of 64 seeded
# samples): eyes at y ~ 0.52 and 0.22 of the width apart, mouth at y ~ 0.75.  Its crop is
# looser than the 108-px centre crop of CelebA often used with DCGANs.
CELEBA_DCGAN = AlignSpec("celeba-dcgan", 64, eye_scale=2.18, mouth_scale=2.12, center_shift=-0.1)
# No face template (animals, scenes): the centre square, resized.
CENTER = AlignSpec("center", 256, recipe="center")

ALIGN_SPECS: dict[str, AlignSpec] = {s.name: s for s in (FFHQ, CELEBA_DCGAN, CENTER)}


def get_align_spec(name: str, size: int | None = None) -> AlignSpec:
    """Template by name (``ModelSpec.align``), optionally at another output size."""
    if name not in ALIGN_SPECS:
        raise KeyError(f"unknown alignment template {name!r}; known: {sorted(ALIGN_SPECS)}")
    spec = ALIGN_SPECS[name]
    return spec.with_size(size) if size else spec


@dataclass(frozen=True, eq=False)
class Aligned:
    """An aligned crop and how it was made (everything ``paste_back`` needs)."""

    image: Image.Image                     # [size, size] RGB
    transform: np.ndarray                  # [3, 3] original -> aligned pixel coordinates
    quad: np.ndarray                       # [4, 2] TL, BL, BR, TR corners in the original
    landmarks: np.ndarray | None           # [68, 2] in aligned coordinates (None: no face used)
    spec: AlignSpec
    source_size: tuple[int, int]           # original (width, height)
    face: Face | None = None               # the face in original coordinates

    def to_aligned(self, pts: np.ndarray) -> np.ndarray:
        """[K, 2] original -> aligned coordinates."""
        return apply_transform(self.transform, pts)

    def to_original(self, pts: np.ndarray) -> np.ndarray:
        """[K, 2] aligned -> original coordinates."""
        return apply_transform(np.linalg.inv(self.transform), pts)


def apply_transform(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 (or 2x3) affine matrix to points [K, 2]."""
    pts = np.asarray(pts, float)
    return pts @ m[:2, :2].T + m[:2, 2]


def face_quad(face: Face, spec: AlignSpec) -> np.ndarray:
    """The oriented square (TL, BL, BR, TR) [4, 2] of the quad recipe for a detected face."""
    return quad_from_points(face.eye_left, face.eye_right, face.mouth, spec)


def quad_from_points(eye_l: np.ndarray, eye_r: np.ndarray, mouth: np.ndarray, spec: AlignSpec) -> np.ndarray:
    """The quad recipe (module docstring) from eye centres and the mouth-corner midpoint."""
    eye_avg = (eye_l + eye_r) / 2
    d_ee, d_em = eye_r - eye_l, mouth - eye_avg
    x = d_ee - _rot90(d_em)      # blend of the eye line and the face's vertical axis
    x = x / np.hypot(*x) * max(np.hypot(*d_ee) * spec.eye_scale, np.hypot(*d_em) * spec.mouth_scale)
    y = _rot90(x)
    c = eye_avg + d_em * spec.center_shift
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def _rot90(v: np.ndarray) -> np.ndarray:
    """Rotate by +90 degrees in image coordinates (y down): (x, y) -> (-y, x)."""
    return np.array([-v[1], v[0]])


def center_quad(width: int, height: int) -> np.ndarray:
    """The largest centred square as a quad."""
    s = min(width, height)
    x0, y0 = (width - s) / 2, (height - s) / 2
    return np.array([[x0, y0], [x0, y0 + s], [x0 + s, y0 + s], [x0 + s, y0]], float)


def quad_transform(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 similarity taking the square ``quad`` onto [0, size]^2 (TL -> (0, 0), TR -> (size, 0))."""
    tl, tr, bl = quad[0], quad[3], quad[1]
    ex, ey = (tr - tl) / size, (bl - tl) / size          # aligned unit steps in the original
    inv = np.array([[ex[0], ey[0], tl[0]], [ex[1], ey[1], tl[1]], [0, 0, 1]])
    return np.linalg.inv(inv)


def align_face(img: Image.Image | np.ndarray, face: Face, spec: AlignSpec = FFHQ) -> Aligned:
    """Warp ``face`` of ``img`` into the template ``spec``."""
    rgb = to_rgb_array(img)
    quad = face_quad(face, spec) if spec.recipe == "quad" else center_quad(rgb.shape[1], rgb.shape[0])
    out, m = warp_quad(rgb, quad, spec.size, reflect=spec.pad_reflect)
    return Aligned(image=out, transform=m, quad=quad, landmarks=apply_transform(m, face.landmarks),
                   spec=spec, source_size=(rgb.shape[1], rgb.shape[0]), face=face)


def align(img: Image.Image | np.ndarray, spec: AlignSpec = FFHQ, *, face_index: int = 0,
          fallback_center_crop: bool = False, **detect_kwargs) -> Aligned:
    """Detect faces, pick the ``face_index``-th largest and align it to ``spec``.

    fallback_center_crop: when no face is found, return the centre square instead of
      raising ``NoFaceError`` (``landmarks`` and ``face`` are then None); a ``face_index``
      beyond the faces found is an error either way.
    """
    rgb = to_rgb_array(img)
    if spec.recipe == "center":
        return _center_aligned(rgb, spec)
    faces = detect_faces(rgb, **detect_kwargs)
    if not faces and fallback_center_crop:
        return _center_aligned(rgb, spec)
    return align_face(rgb, pick_face(faces, face_index, (rgb.shape[1], rgb.shape[0])), spec)


def _center_aligned(rgb: np.ndarray, spec: AlignSpec) -> Aligned:
    quad = center_quad(rgb.shape[1], rgb.shape[0])
    out, m = warp_quad(rgb, quad, spec.size, reflect=spec.pad_reflect)
    return Aligned(image=out, transform=m, quad=quad, landmarks=None, spec=spec,
                   source_size=(rgb.shape[1], rgb.shape[0]))


# --------------------------------------------------------------------------- warping
def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], float)


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def warp_quad(rgb: np.ndarray, quad: np.ndarray, size: int, *, reflect: bool = True
              ) -> tuple[Image.Image, np.ndarray]:
    """Resample the square ``quad`` of ``rgb`` [H, W, 3] to size x size.

    Steps (each is a matrix, so the total original -> aligned transform stays exact):
    1. crop the quad's bounding box plus a border (only those pixels are touched),
    2. shrink with an antialiasing filter if the quad is larger than the output,
    3. pad where the quad leaves the photo (blurred reflection),
    4. one bicubic similarity warp.
    Returns (image, [3, 3] original -> aligned matrix).
    """
    h, w = rgb.shape[:2]
    m_total = quad_transform(quad, size)
    qsize = np.hypot(*(quad[3] - quad[0]))
    border = max(int(np.ceil(qsize * 0.1)), 3)
    x0, y0 = np.floor(quad.min(0)).astype(int) - border
    x1, y1 = np.ceil(quad.max(0)).astype(int) + border
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError("the alignment quad lies entirely outside the image")
    crop = rgb[cy0:cy1, cx0:cx1]
    m_prep = _translate(-cx0, -cy0)                                    # 1. crop
    k = size / qsize
    if k < 1.0:                                                        # 2. antialiased shrink
        cw, ch = max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))
        m_prep = _scale(cw / crop.shape[1], ch / crop.shape[0]) @ m_prep
        crop = np.asarray(Image.fromarray(crop).resize((cw, ch), Image.LANCZOS))
    # 3. pad: how far the (scaled) box reaches past each side of the photo
    sx, sy = m_prep[0, 0], m_prep[1, 1]
    pads = [int(np.ceil(max(v, 0) * s)) for v, s in
            ((cx0 - x0, sx), (cy0 - y0, sy), (x1 - cx1, sx), (y1 - cy1, sy))]   # left, top, right, bottom
    if any(pads):
        crop = _pad_blurred(crop, pads, blur=qsize * min(k, 1.0) * 0.02, reflect=reflect)
        m_prep = _translate(pads[0], pads[1]) @ m_prep
    warp = m_total @ np.linalg.inv(m_prep)                             # prepared -> aligned
    inv = np.linalg.inv(warp)                                          # PIL wants output -> input
    out = Image.fromarray(crop).transform((size, size), Image.AFFINE, data=tuple(inv[:2].ravel()),
                                         resample=Image.BICUBIC)
    return out, m_total


def _pad_blurred(crop: np.ndarray, pads: list[int], *, blur: float, reflect: bool) -> np.ndarray:
    """Pad [H, W, 3] by (left, top, right, bottom); the fill blurs and fades to the median colour.

    A plain reflection would mirror sharp features (a second ear, a doubled shoulder) that
    the generator then tries to reproduce; blurring and fading with distance keeps only the
    colours.
    """
    left, top, right, bottom = pads
    img = crop.astype(np.float32)
    mode = "reflect" if reflect and min(crop.shape[:2]) > max(pads) else "edge"
    img = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode=mode)
    hh, ww = img.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    # 0 inside the photo, rising to 1 at the outer edge of the padding
    fx = np.maximum((left - xx) / max(left, 1), (xx - (ww - 1 - right)) / max(right, 1))
    fy = np.maximum((top - yy) / max(top, 1), (yy - (hh - 1 - bottom)) / max(bottom, 1))
    fade = np.clip(np.maximum(fx, fy), 0, 1)[..., None]
    blurred = ndimage.gaussian_filter(img, sigma=(max(blur, 0.5), max(blur, 0.5), 0))
    img = img + (blurred - img) * np.clip(fade * 3, 0, 1)
    img = img + (np.median(crop.reshape(-1, 3), axis=0) - img) * fade
    return np.clip(img.round(), 0, 255).astype(np.uint8)
