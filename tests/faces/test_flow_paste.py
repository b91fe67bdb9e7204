"""Flow-guided paste (ganinv.faces.flow_paste): the photo's own pixels follow the edit's motion, nothing outside
the face region changes, strength 0 returns the photo, and the residual's skin-colour drift is dropped."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganinv.faces import paste_flow, render_flow
from ganinv.faces.paste import _mask_in_original


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def _disk(centre, r=5, size=64, bg=180.0, fg=40.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    img = np.full((size, size, 3), bg)
    img[(xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= r * r] = fg
    return img


def test_dis_flow_of_a_shifted_disk_points_back_by_the_shift():
    b, a = _disk((30, 34)), _disk((33, 34))                   # the edit moves the disk 3 px right
    flow = render_flow(b, a)
    inside = flow[31:37, 30:36]                               # on the moved disk: after(q) = before(q + F(q))
    assert np.allclose(np.median(inside[..., 0]), -3, atol=0.6) and abs(np.median(inside[..., 1])) < 0.6


def test_strength_zero_returns_the_photo_bit_for_bit(astronaut, dcgan_crop):
    x = _tensor(np.asarray(dcgan_crop.image))
    out = paste_flow(astronaut, x, x.clone(), dcgan_crop)
    assert np.array_equal(np.asarray(out), np.asarray(astronaut))


def test_nothing_changes_outside_the_face_region(astronaut, dcgan_crop):
    before = _disk((30, 40))
    out = np.asarray(paste_flow(astronaut, _tensor(before), _tensor(_disk((33, 38)) + 20), dcgan_crop))
    x0, y0, x1, y1 = (int(v) for v in _mask_in_original(dcgan_crop, np.ones((64, 64), np.float32))[1])
    outside = np.ones(out.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], np.asarray(astronaut)[outside])
    assert np.abs(out.astype(int) - np.asarray(astronaut)).max() > 10        # but the face did change


def test_the_photo_moves_where_the_render_moved(dcgan_crop):
    """A photo whose face region shows a disk, edited by renders where the disk moves 3 aligned px right: the
    photo's disk moves by the alignment's scale times 3 (hand computation through the similarity transform)."""
    w, h = dcgan_crop.source_size
    inv = np.linalg.inv(dcgan_crop.transform)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    q = np.c_[xx.ravel(), yy.ravel()] @ dcgan_crop.transform[:2, :2].T + dcgan_crop.transform[:2, 2]
    centre = np.array([30.0, 40.0])
    dark = (np.hypot(*(q - centre).T) <= 6).reshape(h, w)
    photo = np.full((h, w, 3), 180, np.uint8)
    photo[dark] = 40
    out = np.asarray(paste_flow(Image.fromarray(photo), _tensor(_disk(centre, 6)), _tensor(_disk(centre + (3, 0), 6)),
                                dcgan_crop, keep_tone=False))
    moved = out[..., 0] < 110

    def centroid(m):
        ys, xs = np.nonzero(m)
        return np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    expected = (inv[:2, :2] @ (centre + (3, 0)) + inv[:2, 2]) - (inv[:2, :2] @ centre + inv[:2, 2])
    assert np.allclose(centroid(moved) - centroid(dark), expected, atol=0.25 * np.hypot(*expected))


def test_keep_tone_drops_a_uniform_colour_drift_of_the_render(astronaut, dcgan_crop):
    base = np.asarray(dcgan_crop.image, np.float64)
    lighter = np.clip(base + np.array([18.0, 12.0, 6.0]), 0, 255)            # the render only got lighter
    held = np.asarray(paste_flow(astronaut, _tensor(base), _tensor(lighter), dcgan_crop), np.float64)
    drift = np.asarray(paste_flow(astronaut, _tensor(base), _tensor(lighter), dcgan_crop, keep_tone=False), np.float64)
    photo = np.asarray(astronaut, np.float64)
    alpha = _mask_in_original(dcgan_crop, np.ones((64, 64), np.float32))[1]
    x0, y0, x1, y1 = alpha
    region = (slice(y0 + (y1 - y0) // 3, y1 - (y1 - y0) // 3), slice(x0 + (x1 - x0) // 3, x1 - (x1 - x0) // 3))
    assert (drift[region] - photo[region]).mean() > 6                          # without: the face lightens
    assert abs((held[region] - photo[region]).mean()) < 1.5                    # with: the skin keeps its colour


def test_landmark_motion_moves_the_photo_inside_the_face(dcgan_crop):
    """Landmarks found 3 aligned px further right on the edited render than on the unedited one (the same
    renders, so DIS sees no motion): the photo's disk near the mouth moves by the alignment's scale times 3."""
    w, h = dcgan_crop.source_size
    inv = np.linalg.inv(dcgan_crop.transform)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    q = np.c_[xx.ravel(), yy.ravel()] @ dcgan_crop.transform[:2, :2].T + dcgan_crop.transform[:2, 2]
    pts = dcgan_crop.landmarks * (64 / dcgan_crop.spec.size)           # the face's 68 points in render px
    centre = pts[48:60].mean(0)                                         # the mouth
    dark = (np.hypot(*(q - centre * dcgan_crop.spec.size / 64).T) <= 5).reshape(h, w)
    photo = np.full((h, w, 3), 180, np.uint8)
    photo[dark] = 40
    render = _disk((5, 5), 2)                                           # identical renders but for a corner dot
    calls = []

    def landmarks(rgb):                                                 # before first, then after (landmark_flow)
        calls.append(1)
        return pts if len(calls) == 1 else pts + (3, 0)
    out = np.asarray(paste_flow(Image.fromarray(photo), _tensor(render), _tensor(render + 1), dcgan_crop,
                                keep_tone=False, motion="landmarks", landmarks=landmarks))
    moved = out[..., 0] < 110

    def centroid(m):
        ys, xs = np.nonzero(m)
        return np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    scale = dcgan_crop.spec.size / 64
    expected = inv[:2, :2] @ np.array([3.0 * scale, 0.0])
    assert len(calls) == 2
    assert np.allclose(centroid(moved) - centroid(dark), expected, atol=0.25 * np.hypot(*expected))
    still = paste_flow(Image.fromarray(photo), _tensor(render), _tensor(render + 1), dcgan_crop, keep_tone=False, motion="landmarks",
                       landmarks=lambda rgb: pts)
    assert np.abs(centroid(np.asarray(still)[..., 0] < 110) - centroid(dark)).max() < 0.1 * np.hypot(*expected)
