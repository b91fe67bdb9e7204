"""Input checks of the action layer: one home for ranges, one-line messages naming the value."""
from __future__ import annotations

import math

import pytest
import torch

from ganinv.actions import InputError, Record, Source
from ganinv.actions.common import choice, number, optional_number, session_latent, strength, user_message
from ganinv.actions.edit import edit
from ganinv.actions.invert import check_settings
from ganinv.actions.sources import resolve_source
from ganinv.settings import STRENGTH_LIMIT


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e308, "abc", None, "1e999"])
def test_strength_refuses_non_finite_and_out_of_range(bad):
    with pytest.raises(InputError) as e:
        strength(bad, "strength of 'smile'")
    msg = user_message(e.value)
    assert "\n" not in msg and "smile" in msg
    assert (f"from -{STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}" in msg) or ("must be a number" in msg)


def test_number_checks_range_and_whole():
    assert number("3", "Steps", 1, 10, whole=True) == 3 and isinstance(number(3.0, "x", 0, 5, whole=True), int)
    for bad in (0, 11, 2.5, math.nan):
        with pytest.raises(InputError, match="Steps must be a whole number from 1 to 10"):
            number(bad, "Steps", 1, 10, whole=True)
    assert optional_number(None, "w", 0, 1) is None and optional_number("", "w", 0, 1) is None
    with pytest.raises(InputError, match="must be one of Z, W"):
        choice("S", "Space", ("Z", "W"))


def test_settings_are_checked_once_against_the_model(dcgan):
    s = check_settings(dcgan, method="optimize", space=None, steps=5, perceptual_weight=1, restarts=1, seed=0,
                       n_codes=2, layer=None, l_dom=None)
    assert s["steps"] == 5 and s["space"] is None
    with pytest.raises(InputError, match="Latent space for celeba-dcgan-64 must be one of Z"):
        check_settings(dcgan, method="optimize", space="W+", steps=5, perceptual_weight=1, restarts=1, seed=0,
                       n_codes=2, layer=None, l_dom=None)
    with pytest.raises(InputError, match="Method must be one of"):
        check_settings(dcgan, method="magic", space=None, steps=5, perceptual_weight=1, restarts=1, seed=0,
                       n_codes=2, layer=None, l_dom=None)


def test_session_latent_of_another_model_is_refused(dcgan):
    rec = Record("stylegan2-ffhq-256", torch.zeros(1, 512), "W")
    with pytest.raises(InputError, match="made for 'stylegan2-ffhq-256'"):
        session_latent(dcgan, rec)
    with pytest.raises(InputError, match="no session latent yet"):
        session_latent(dcgan, None)


def test_seed_sources_use_the_models_edit_space(dcgan, tiny_sg2):
    z, space, note = resolve_source(dcgan, Source("seed", seed=3))
    assert space == "Z" and z.shape == (1, 100) and "seed 3" in note
    w, space, _ = resolve_source(tiny_sg2, Source("seed", seed=3))
    assert space == "W" and w.shape == (1, tiny_sg2.w_dim)        # a W direction (SeFa) fits it
    assert torch.equal(resolve_source(dcgan, Source("seed", seed=3))[0], z)


@pytest.mark.parametrize("value", ["nan", float("inf"), 1e308])
def test_edit_refuses_bad_strengths_before_rendering(value):
    with pytest.raises(InputError, match="smile"):
        edit(Source("seed", seed=0), {"smile": value}, device="cpu")


def test_edit_refuses_unknown_direction_and_paths():
    with pytest.raises(InputError, match="No direction '../../etc/passwd'"):
        edit(Source("seed"), {"../../etc/passwd": 1.0}, device="cpu")


def test_edit_with_a_kept_direction_is_the_conditional_edit(dcgan):
    from ganinv.edit import conditional, load_direction
    z = resolve_source(dcgan, Source("seed", seed=2))[0]
    smile, yaw = load_direction("smile", G=dcgan), load_direction("yaw", G=dcgan)
    out = edit(Source("seed", seed=2), {"smile": 2.0, "yaw": 0.0}, without=["yaw"], keep_tone=False, hold=False,
               device="cpu")
    expected = z + 2.0 * conditional(smile, [yaw])[0].tensor()
    assert torch.allclose(out.latent, expected, atol=1e-6) and out.strengths == {"smile": 2.0}
    assert out.cosines and out.cosines[0]["condition"] == "yaw" and abs(out.cosines[0]["cos_after"]) < 1e-5
    assert torch.equal(edit(Source("seed", seed=2), {"smile": 0.0}, device="cpu").latent, z)


def test_user_messages_show_no_server_path(tmp_path, monkeypatch):
    from ganinv.actions.common import REPO_ROOT, public_text, user_message
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path / "ckpt"))
    assert public_text(f"{tmp_path}/ckpt/sub/a.pt: cannot read") == "checkpoints/sub/a.pt: cannot read"
    assert public_text(f"Local checkpoint {REPO_ROOT}/ganinv/io.py does not exist.") == \
        "Local checkpoint ganinv/io.py does not exist."
    assert public_text(f"Permission denied: '{tmp_path}/x.tmp'") == "Permission denied: 'x.tmp'"
    kept = "see https://huggingface.co/timm/x, W/W+ and 1/4 of checkpoints/clip/a.bin"
    assert public_text(kept) == kept
    assert user_message(FileNotFoundError(f"{tmp_path}/ckpt/b.pkl\nsecond line")) == "checkpoints/b.pkl"


def test_disentanglement_matrix_is_read_for_the_app():
    from ganinv.actions.edit import disentanglement
    d = disentanglement("celeba-dcgan-64")
    rows = {r["direction"]: r for r in d.rows}
    assert {"age", "age-without-gender", "smile"} <= set(rows) and "male" in d.attributes
    # the conditional direction moves the conditioned score less than the plain one (what the table shows)
    assert abs(rows["age-without-gender"]["male"]) < abs(rows["age"]["male"])
    assert disentanglement("local:nothing.pt") is None
