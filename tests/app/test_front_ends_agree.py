"""The app, the CLI and the Python API are three doors to one action layer: every app endpoint has a
command and an action, their defaults agree (read by introspection, never restated), and the same
inputs give the same latent and image through all three."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

import app
from api_steps import pixels, value
from ganinv.actions import Source, discover, edit, invert, mix, models, restore, text
from ganinv.cli import build_parser, main as cli_main
from ganinv.invert.hybrid import invert_hybrid
from ganinv.io import load_latent, tensor_to_pil

# endpoint -> (CLI command, action, {app parameter: action parameter})
ENDPOINTS = {
    "/invert": ("invert", invert.invert, {"model": "model", "align": "align", "steps": "steps",
                                          "perceptual_weight": "perceptual_weight", "restarts": "restarts",
                                          "seed": "seed", "method": "method", "tune_steps": "tune_steps"}),
    "/invert_method": ("invert", invert.invert, {"steps": "steps", "codes": "n_codes"}),
    "/compare_methods": ("invert", invert.compare, {"steps": "steps", "codes": "n_codes"}),
    "/load_latent": ("edit", invert.open_latent, {"model": "model"}),
    "/sample": ("sample", models.sample, {"model": "model"}),
    "/find_faces": ("faces", None, {}),
    "/edit": ("edit", edit.edit, {"score": "score", "paste": "paste", "model": "model", "keep_tone": "keep_tone",
                                  "hold": "hold", "paste_mode": "paste_mode"}),
    "/edit_strip": ("edit", edit.strip, {"model": "model"}),
    "/train_boundary": ("train-boundary", edit.train_boundary, {"num_samples": "num_samples", "seed": "seed"}),
    "/discover": ("discover", discover.discover, {"method": "method", "num_components": "num_components",
                                                  "num_samples": "num_samples"}),
    "/discover_component": ("discover", discover.component_strip, {"model": "model"}),
    "/morph": ("morph", mix.morph, {"invert_steps": "invert_steps", "frames": "num_frames", "fps": "fps"}),
    "/crossover": ("mix", mix.crossover, {"invert_steps": "invert_steps", "mode": "mode", "region": "region",
                                          "fraction": "fraction"}),
    "/expression_transfer": ("mix", mix.expression, {"invert_steps": "invert_steps", "strength": "strength",
                                                     "threshold": "threshold"}),
    "/semantic_diffusion": ("diffuse", mix.diffusion, {"box": "box", "steps": "num_steps", "l_dom": "l_dom"}),
    "/text_edit": ("text-edit", text.text_edit, {"l2_weight": "l2_weight", "id_weight": "id_weight",
                                                 "steps": "steps"}),
    "/train_mapper": ("train-mapper", text.train_mapper, {"steps": "steps"}),
    "/apply_mapper": ("apply-mapper", text.apply_mapper, {"strength": "strength"}),
    "/global_edit": ("global-edit", text.global_edit, {"alpha": "alpha", "beta": "beta"}),
    "/restore": ("restore", restore.restore, {"factor": "factor", "codes": "codes", "steps": "steps"}),
    "/models": ("models", models.list_models, {}),
}
UI_ONLY = {"/use_sample", "/use_as_slider", "/edit_directions", "/clip_status", "/select_model", "/loaded_models"}


@pytest.fixture(scope="module")
def api():
    demo = app.build_app(device="cpu")
    return {name: {p["parameter_name"]: p for p in ep["parameters"]}
            for name, ep in demo.get_api_info()["named_endpoints"].items()}


def default(fn, name):
    """The parameter's default where it lives: an action's None default passes on to the method it is marked as
    taking its defaults from (``defaults_from``)."""
    from ganinv.actions.common import default_of
    return default_of(fn, name)


def test_every_endpoint_has_a_command_and_an_action(api):
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert set(api) - UI_ONLY == set(ENDPOINTS), "a new endpoint needs its command and action here"
    for name, (command, _, _) in ENDPOINTS.items():
        assert command in commands, f"{name} has no `ganinv {command}` command"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_app_defaults_are_the_actions(api, endpoint):
    _, fn, names = ENDPOINTS[endpoint]
    params = api[endpoint]
    for app_name, action_name in names.items():
        assert params[app_name]["parameter_has_default"], f"{endpoint} {app_name} has no default"
        got = params[app_name]["parameter_default"]
        assert got == default(fn, action_name), f"{endpoint}: app {app_name}={got!r}, action {action_name}=" \
                                                f"{default(fn, action_name)!r}"


def test_defaults_that_differ_in_form_agree_in_value(api):
    assert api["/invert"]["face"]["parameter_default"] == default(invert.invert, "face") + 1     # shown 1-based
    # None: "the method's own default" (the Number component shows that value: tests/app/test_tab_defaults.py)
    assert api["/invert_method"]["l_dom"]["parameter_default"] in (None, default(invert_hybrid, "l_dom"))
    assert api["/edit"]["source"]["parameter_default"] == Source().kind
    assert api["/edit"]["seed"]["parameter_default"] == Source().seed
    seeds = [int(s) for s in str(api["/sample"]["seeds"]["parameter_default"]).split()]
    assert tuple(seeds) == tuple(default(models.sample, "seeds"))


def test_same_edit_through_app_cli_and_python(client, tmp_path, dcgan):
    """Seed 3, smile +2, yaw -1: one latent and one image, whichever door it comes through."""
    strengths = {"smile": 2.0, "yaw": -1.0}
    py = edit.edit(Source("seed", seed=3), strengths, score=False, device="cpu")
    out = client.predict(strengths=strengths, source="seed", seed=3, keep=[], score=False, paste=False,
                         api_name="/edit")
    app_latent = load_latent(value(out[5]), G=dcgan)
    assert cli_main(["edit", "--seeds", "3", "--direction", "smile=2", "yaw=-1", "--no-score",
                     "--out", str(tmp_path / "e.png"), "--save-latent", str(tmp_path / "e.npz")]) == 0
    cli_latent = load_latent(str(tmp_path / "e.npz"), G=dcgan)
    assert torch.equal(app_latent.latent, py.latent) and torch.equal(cli_latent.latent, py.latent)
    want = np.asarray(tensor_to_pil(py.image[0]), dtype=np.int16)
    assert np.array_equal(pixels(value(out[6])), want)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "e.png").convert("RGB"), dtype=np.int16), want)
