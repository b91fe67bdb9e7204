"""Edits keep skin tone by default (issue 12): the bundled model's smile changes a face's ITA by 7.6
degrees at +2 (seed 2); with keep_tone the edited face is back within 1 degree and still smiles."""
from __future__ import annotations

import math
import shutil

import torch

from ganinv.actions import Source, edit
from ganinv.attributes import get_scorer
from ganinv.edit.directions import directions_root


def ita(image) -> float:
    return float(get_scorer("skin").score(image)["ita"][0])


def test_keep_tone_holds_the_skin_tone_and_keeps_the_edit():
    src = Source("seed", seed=2)
    plain = edit.edit(src, {"smile": 2}, keep_tone=False, score=False, device="cpu")
    held = edit.edit(src, {"smile": 2}, score=False, device="cpu")                # the default
    before = ita(plain.before)
    assert abs(ita(plain.image) - before) > 5                                     # the plain edit lightens
    assert plain.tone is None and held.tone["held"]
    assert abs(ita(held.image) - before) <= edit.TONE_TOLERANCE
    assert math.isclose(held.tone["ita_after"], ita(held.image), abs_tol=1e-6)
    assert held.tone["step"] != 0
    smile = get_scorer("face").score(torch.cat([held.before, held.image]))["smile"]
    assert smile[1] - smile[0] > 0.5                                              # still a smile


def test_a_model_without_a_tone_direction_says_so(tmp_path):
    d = tmp_path / "dirs" / "celeba-dcgan-64"
    d.mkdir(parents=True)
    for ext in ("npy", "json"):
        shutil.copy(f"{directions_root()}/celeba-dcgan-64/smile.{ext}", d / f"smile.{ext}")   # no skin_tone
    r = edit.edit(Source("seed", seed=2), {"smile": 1}, root=str(tmp_path / "dirs"), score=False, device="cpu")
    assert r.tone == {"held": False, "note": "celeba-dcgan-64 has no skin-tone direction: skin tone not held"}

