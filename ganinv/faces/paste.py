"""Paste an edited aligned face back into the original photo.

Two ways, both through a feathered mask:

- ``paste_back``: the generator's edited crop replaces the face (warped back with the
  inverse of the alignment transform).  The face then has the generator's resolution.
- ``paste_edit``: only the edit's change ``after - before`` (edited minus unedited
  generator output) is added to the photo, so the photo's own detail, resolution and the
  part the inversion missed all stay; the GAN supplies just the edit.  In latent terms
  x + (G(w_e) - G(w)) = G(w_e) + D, with D = x - G(w) the "distortion map" of Wang et al.,
  "High-Fidelity GAN Inversion for Image Attribute Editing" (HFGI, CVPR 2022).  HFGI learns
  to re-align D to the edited face; here it is added as is, which suits edits that keep
  the face's geometry (expression, colour, texture) and ghosts on large pose changes.
  Strength 0 (``before == after``) returns the photo exactly.

The mask is built in aligned coordinates from the landmark hull (jaw line plus the
eyebrows raised to cover the forehead), or from the whole crop when no landmarks are
known, blurred for a soft seam, and cut to exactly zero below 1/255 so every pixel outside
it keeps its original value bit for bit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .align import Aligned
from .detect import BROWS, JAW

if TYPE_CHECKING:
    import torch


def face_mask(aligned: Aligned, *, feather: float = 0.04, region: str = "hull",
              forehead: float = 0.35) -> np.ndarray:
    """Soft mask [size, size] float32 in [0, 1] in aligned coordinates.

    feather: blur sigma as a fraction of the crop size (0 = hard edge).
    region: "hull" (landmark hull: jaw + raised brows) or "square" (the whole crop).
    forehead: how far the brows are raised, as a fraction of the brow-to-chin distance.
    """
    size = aligned.spec.size
    sigma = feather * size
    if region == "hull" and aligned.landmarks is not None:
        lm = aligned.landmarks
        chin = lm[8]                                    # chin tip
        brows = lm[BROWS]
        up = (brows.mean(0) - chin) * forehead          # brow -> forehead direction
        pts = np.concatenate([lm[JAW], brows[::-1] + up])
        # Grow the hull by ~1 sigma so that after blurring the jaw line itself is still
        # mostly (~84%) covered and the seam falls just outside the face.
        centre = pts.mean(0)
        pts = centre + (pts - centre) * (1 + 2 * sigma / max(np.ptp(pts[:, 0]), 1))
        img = Image.new("L", (size, size), 0)
        ImageDraw.Draw(img).polygon([tuple(p) for p in pts], fill=255)
        mask = np.asarray(img, np.float32) / 255
    elif region in ("hull", "square"):
        inset = int(round(2 * sigma))
        mask = np.zeros((size, size), np.float32)
        mask[inset:size - inset, inset:size - inset] = 1
    else:
        raise ValueError(f"region must be 'hull' or 'square', got {region!r}")
    if sigma > 0:
        mask = ndimage.gaussian_filter(mask, sigma)
    # The blur leaks to the crop border: fade it out there so the warped crop has no seam.
    mask = mask * border_fade(size, sigma)
    mask[mask < 1 / 255] = 0
    return mask.astype(np.float32)


def border_fade(size: int, sigma: float) -> np.ndarray:
    """[size, size] weights rising linearly from 0 at the crop's border to 1 at ``sigma`` pixels inside it."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / max(sigma, 1), 0, 1)
    return np.minimum.outer(ramp, ramp)


def paste_back(original: Image.Image, edited_aligned: Image.Image, aligned: Aligned, *,
               feather: float = 0.04, region: str = "hull") -> Image.Image:
    """Warp ``edited_aligned`` into ``original`` where ``aligned`` came from; returns a new image.

    ``edited_aligned`` may have another size than the template (e.g. a 256 px generator
    behind a 1024 px template): it is resized to the template first.  Pixels where the
    mask is zero are copied unchanged.
    """
    if original.size != aligned.source_size:
        raise ValueError(f"original is {original.size}, but the face was aligned in a "
                         f"{aligned.source_size} image")
    size = aligned.spec.size
    edited = edited_aligned.convert("RGB")
    if edited.size != (size, size):
        edited = edited.resize((size, size), Image.LANCZOS)
    mask = face_mask(aligned, feather=feather, region=region)

    alpha, (x0, y0, x1, y1), data = _mask_in_original(aligned, mask)
    if alpha is None:
        return original.convert("RGB")
    face = np.asarray(edited.transform((x1 - x0, y1 - y0), Image.AFFINE, data=data, resample=Image.BICUBIC),
                      np.float32)
    return Image.fromarray(blend_into(np.asarray(original.convert("RGB")), face, alpha, (x0, y0, x1, y1)))


def blend_into(photo: np.ndarray, face: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A copy of ``photo`` [H, W, 3] uint8 with ``face`` (float, the box's size) blended in under ``alpha``;
    pixels where alpha is 0 keep their values bit for bit."""
    x0, y0, x1, y1 = box
    out = photo.copy()
    region_px = out[y0:y1, x0:x1].astype(np.float32)
    blended = np.clip(np.round(region_px + (face - region_px) * alpha[..., None]), 0, 255).astype(np.uint8)
    keep = alpha == 0
    blended[keep] = out[y0:y1, x0:x1][keep]
    out[y0:y1, x0:x1] = blended
    return out


def paste_edit(original: Image.Image, before: torch.Tensor | Image.Image, after: torch.Tensor | Image.Image,
               aligned: Aligned, *, feather: float = 0.04, region: str = "hull") -> Image.Image:
    """Add the edit ``after - before`` (aligned crops, e.g. 64x64) to the face in ``original``.

    before / after: the generator's unedited and edited outputs for this face, each a tensor
      [3, R, R] or [1, 3, R, R] in [-1, 1] or an RGB PIL image, at any resolution R.
    The difference is kept in floating point, resized (bicubic) to the face's size in the
    photo, warped back through the inverse alignment transform (cubic spline, subpixel), and
    added under the feathered mask of ``face_mask``; the photo keeps its full resolution.
    Pixels where the mask is zero are copied unchanged; ``before == after`` returns the photo.
    """
    if original.size != aligned.source_size:
        raise ValueError(f"original is {original.size}, but the face was aligned in a "
                         f"{aligned.source_size} image")
    b, a = _as_float_rgb(before), _as_float_rgb(after)
    if a.shape != b.shape:
        raise ValueError(f"before and after must have the same size, got {b.shape[:2]} and {a.shape[:2]}")
    alpha, box, _ = _mask_in_original(aligned, face_mask(aligned, feather=feather, region=region))
    out = np.asarray(original.convert("RGB")).copy()
    if alpha is None:
        return Image.fromarray(out)
    x0, y0, x1, y1 = box
    delta = _warp_difference(a - b, aligned, box)                       # [bh, bw, 3], 0..255 units
    region_px = out[y0:y1, x0:x1]
    blended = np.clip(np.round(region_px + delta * alpha[..., None]), 0, 255).astype(np.uint8)
    keep = alpha == 0
    blended[keep] = region_px[keep]
    out[y0:y1, x0:x1] = blended
    return Image.fromarray(out)


def _as_float_rgb(img: torch.Tensor | Image.Image) -> np.ndarray:
    """Tensor [3, R, R] / [1, 3, R, R] in [-1, 1] or PIL -> float64 [R, R, 3] in 0..255 units (not clipped)."""
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"), np.float64)
    x = img.detach().cpu().double()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a tensor [3, H, W] or [1, 3, H, W] in [-1, 1], got {tuple(img.shape)}")
    return ((x + 1) * 127.5).permute(1, 2, 0).numpy()


def _warp_difference(diff: np.ndarray, aligned: Aligned, box: tuple[int, int, int, int]) -> np.ndarray:
    """The aligned-space difference [R, R, 3] resampled onto the photo's pixels in ``box``.

    1. Resize to the face's size in the photo (bicubic on floats: smooth, no uint8 clipping;
       antialiased if the face is smaller than R), so step 2 resamples at about 1:1.
    2. For each photo pixel centre p, read the resized difference at T(p) (T: photo ->
       aligned) with a cubic B-spline: subpixel accurate for any rotation.
    """
    size = aligned.spec.size
    face_px = size / np.sqrt(abs(np.linalg.det(aligned.transform[:2, :2])))   # quad side in the photo
    u = max(int(round(face_px)), 1)
    resized = np.stack([np.asarray(Image.fromarray(diff[..., c].astype(np.float32), mode="F")
                                   .resize((u, u), Image.BICUBIC), np.float64) for c in range(3)], -1)
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5                               # photo pixel centres
    q = aligned.to_aligned(np.c_[xx.ravel(), yy.ravel()]) * (u / size) - 0.5   # -> resized array indices
    coords = [q[:, 1], q[:, 0]]                                          # (row, col) for scipy
    return np.stack([ndimage.map_coordinates(resized[..., c], coords, order=3, mode="nearest")
                     .reshape(y1 - y0, x1 - x0) for c in range(3)], -1)


def paste_mask(aligned: Aligned, *, feather: float = 0.04, region: str = "hull") -> np.ndarray:
    """The blending mask of ``paste_back`` in original coordinates, [H, W] float32 in [0, 1]."""
    w, h = aligned.source_size
    full = np.zeros((h, w), np.float32)
    alpha, (x0, y0, x1, y1), _ = _mask_in_original(aligned, face_mask(aligned, feather=feather, region=region))
    if alpha is not None:
        full[y0:y1, x0:x1] = alpha
    return full


def _mask_in_original(aligned: Aligned, mask: np.ndarray):
    """Warp an aligned-space mask into the quad's bounding box of the original.

    Only that box is touched: the rest of the photo is never resampled.
    Returns (alpha [bh, bw] or None, box (x0, y0, x1, y1), PIL affine data box -> aligned).
    """
    w, h = aligned.source_size
    x0, y0 = np.maximum(np.floor(aligned.quad.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(aligned.quad.max(0)).astype(int), (w, h))
    box = (int(x0), int(y0), int(x1), int(y1))
    if x1 <= x0 or y1 <= y0:
        return None, box, None
    box_to_aligned = aligned.transform @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], float)
    data = tuple(box_to_aligned[:2].ravel())                 # PIL maps output (box) -> input (aligned)
    alpha = np.asarray(Image.fromarray(mask.astype(np.float32)).transform((x1 - x0, y1 - y0), Image.AFFINE, data=data,
                                                                 resample=Image.BILINEAR), np.float32)
    return np.where(alpha < 1 / 255, 0.0, np.clip(alpha, 0, 1)).astype(np.float32), box, data
