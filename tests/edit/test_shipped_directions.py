"""The shipped directions: their metadata meets the bar (every trained boundary >= 0.85 validation
accuracy), each moves its own attribute on held-out samples (seeds unseen in training and in the
effect recorded at shipping time), and each conditional direction changes the score it is
conditioned on less than its plain primal does."""
import json
import os

import pytest

from ganinv.edit import directions_root, list_directions
from ganinv.edit.interfacegan import measure_effect

MODEL = "celeba-dcgan-64"
HELD_OUT_SEED = 2_000_000
MIN_ACCURACY = 0.85
# conditional direction, its plain primal, the score of the condition it is made orthogonal to, held-out
# samples: the plain smile turns heads by only ~3-5 deg (-2 -> +2) and age raises the smile score by
# only ~0.1, so those two pairs need 128 samples (standard error ~1 deg / 0.02) to be told apart.
CONDITIONED = [("smile-without-yaw", "smile", "yaw", 128), ("age-without-gender", "age", "male", 48),
               ("gender-without-age", "gender", "age", 48), ("age-without-smile", "age", "smile", 128)]


def _shipped():
    return [d.name for d in list_directions(MODEL)]


def _metadata() -> dict[str, dict]:
    """Every direction JSON of the model's folder, read as plain JSON (not through the loader)."""
    folder = os.path.join(directions_root(), MODEL)
    out = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".json") and os.path.isfile(os.path.join(folder, f[:-5] + ".npy")):
            with open(os.path.join(folder, f)) as fh:
                out[f[:-5]] = json.load(fh)
    return out


def _direction(name):
    return next(x for x in list_directions(MODEL) if x.name == name)


def test_the_shipped_set_covers_the_offline_attributes():
    assert {"smile", "yaw", "pitch", "happy", "age", "gender", "smile-without-yaw", "age-without-gender",
            "gender-without-age", "age-without-smile"} <= set(_shipped())
    assert not any("glasses" in n for n in _shipped())       # no offline scorer sees glasses (directions/README.md)


def test_every_shipped_trained_direction_reaches_the_accuracy_bar():
    meta = _metadata()
    trained = {n: m for n, m in meta.items() if m["method"] == "interfacegan"}
    assert len(trained) >= 6
    for name, m in trained.items():
        assert m["accuracy_val"] is not None and m["accuracy_val"] >= MIN_ACCURACY, (name, m["accuracy_val"])
        assert m["extra"]["effect"][f"delta_{m['attribute']}"] > 0, name
    for name, m in meta.items():
        if m["method"] == "interfacegan-conditional":      # a projection of a trained boundary: its primal passes
            primal = trained[m["extra"]["primal"]]
            assert primal["accuracy_val"] >= MIN_ACCURACY and all(abs(c) < 1e-5 for c in m["extra"]["cos_after"])
            assert set(m["extra"]["conditions"]) <= set(trained), name


@pytest.fixture(scope="module")
def face_scorer():
    from ganinv.attributes import get_scorer
    return get_scorer("face")


@pytest.mark.parametrize("name", _shipped())
def test_direction_moves_its_attribute_on_held_out_samples(name, dcgan, face_scorer):
    d = _direction(name)
    assert d.accuracy_val is None or d.accuracy_val >= MIN_ACCURACY
    effect = measure_effect(dcgan, d, face_scorer, strength=2.0, num_samples=48, seed=HELD_OUT_SEED)
    assert effect.detection_rate > 0.8
    recorded = d.extra["effect"][f"delta_{d.attribute}"]
    got = effect.delta(d.attribute)
    # Same sign and at least 40% of the effect recorded on another held-out set.
    assert recorded > 0 and got > 0.4 * recorded, (name, got, recorded)


@pytest.mark.parametrize("conditional,plain,score,num", CONDITIONED)
def test_conditional_direction_changes_the_condition_less(conditional, plain, score, num, dcgan):
    """InterFaceGAN Sec. 2.2: editing along n1 - (n1.n2) n2 changes attribute 2 less."""
    from ganinv.attributes import SCORERS, get_scorer
    attribute = _direction(plain).attribute
    scorer = get_scorer(next(n for n in ("landmarker", "age_gender", "face")       # the cheapest with both
                             if {attribute, score} <= set(SCORERS[n].names)))
    kw = dict(strength=2.0, num_samples=num, seed=HELD_OUT_SEED)
    cond = measure_effect(dcgan, _direction(conditional), scorer, **kw)
    base = measure_effect(dcgan, _direction(plain), scorer, **kw)
    assert abs(cond.delta(score)) < abs(base.delta(score)), (conditional, cond.delta(score), base.delta(score))
    assert cond.delta(attribute) > 0.5 * base.delta(attribute)            # and still edits its own attribute


def test_disentanglement_matrix_covers_every_direction_and_score():
    """directions/<model>/disentanglement.json (scripts/disentanglement.py, shown by the app) is current."""
    from ganinv.attributes import SCORERS
    with open(os.path.join(directions_root(), MODEL, "disentanglement.json")) as f:
        m = json.load(f)
    assert m["format"] == "ganinv-disentanglement/1" and m["model"] == MODEL and m["strength"] == 2.0
    assert m["eval_seed"] not in (0, 1_000_000) and set(m["attributes"]) == set(SCORERS["face"].names)
    rows = {r["name"]: r for r in m["directions"]}
    assert set(rows) == set(_shipped())
    for name, r in rows.items():
        assert set(r["span"]) == set(m["attributes"]) and r["num_paired"] > 0.8 * m["num_samples"]
        assert r["span"][r["attribute"]] > 0, name
        assert all(abs(r["span"][k] - (r["plus"][k] - r["minus"][k])) < 2e-4 for k in r["span"]), name
    with open(os.path.join(directions_root(), "README.md")) as f:
        readme = f.read()
    assert all(f"| {name} |" in readme for name in rows)
