"""Every shipped direction moves its own attribute on held-out samples (seeds unseen in training
and in the effect recorded at shipping time)."""
import pytest

from ganinv.edit import list_directions
from ganinv.edit.interfacegan import measure_effect

HELD_OUT_SEED = 2_000_000


def _shipped():
    return [d.name for d in list_directions("celeba-dcgan-64")]


def test_the_shipped_set_covers_the_offline_attributes():
    assert {"smile", "yaw", "pitch", "happy", "mouth_open", "eyes_closed", "smile-without-yaw"} <= set(_shipped())


@pytest.fixture(scope="module")
def face_scorer():
    from ganinv.attributes import get_scorer
    return get_scorer("face")


@pytest.mark.parametrize("name", _shipped())
def test_direction_moves_its_attribute_on_held_out_samples(name, dcgan, face_scorer):
    d = next(x for x in list_directions("celeba-dcgan-64") if x.name == name)
    assert d.accuracy_val is None or d.accuracy_val > 0.75
    effect = measure_effect(dcgan, d, face_scorer, strength=2.0, num_samples=48, seed=HELD_OUT_SEED)
    assert effect.detection_rate > 0.8
    recorded = d.extra["effect"][f"delta_{d.attribute}"]
    got = effect.delta(d.attribute)
    # Same sign and at least 40% of the effect recorded on another held-out set.
    assert recorded > 0 and got > 0.4 * recorded, (name, got, recorded)
