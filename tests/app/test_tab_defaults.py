"""Every tab's number shown by default is its action's default (``default_of``: the signature, or the
method's for an action that passes None through), so the app, the CLI and Python cannot drift apart."""
from __future__ import annotations

import inspect
import pathlib
import sys

import pytest

pytest.importorskip("gradio")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
import app  # noqa: E402
from ganinv.actions import Source, discover, edit, invert, mix, restore, text  # noqa: E402
from ganinv.actions.common import default_of  # noqa: E402

# api name -> (action, {callback parameter: action parameter}); callback parameters of the same name as
# an action parameter need no entry.  Source seeds (seed, seed_a, ...) are compared with Source's default.
# A strip's range slider ("limit") shows the largest of the action's default strengths.
ACTIONS = {
    "edit": (edit.edit, {}),
    "edit_sliders": (edit.edit, {}),
    "edit_strip": (edit.strip, {"limit": "strengths"}),
    "train_boundary": (edit.train_boundary, {}),
    "discover_component": (discover.component_strip, {"limit": "strengths"}),
    "invert": (invert.invert, {}),
    "invert_method": (invert.invert, {"codes": "n_codes"}),
    "compare_methods": (invert.invert, {"codes": "n_codes"}),
    "discover": (discover.discover, {}),
    "morph": (mix.morph, {"frames": "num_frames"}),
    "crossover": (mix.crossover, {}),
    "expression_transfer": (mix.expression, {}),
    "semantic_diffusion": (mix.diffusion, {"steps": "num_steps"}),
    "text_edit": (text.text_edit, {}),
    "train_mapper": (text.train_mapper, {}),
    "apply_mapper": (text.apply_mapper, {}),
    "global_edit": (text.global_edit, {}),
    "restore": (restore.restore, {}),
}
UI_ONLY = {"face", "seed_a", "seed_b", "seed_c", "index", "values"}  # 1-based face #, example seeds, a selection,
                                                                     # the sliders (0: no edit)
SHOWN_AS = {"limit": max}              # callback parameter -> what of the action's default its component shows


@pytest.fixture(scope="module")
def demo():
    return app.build_app(device="cpu")


def _numbers(demo, api_name: str) -> dict:
    """{callback parameter: the default value of its input component} for the numeric inputs of an event."""
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    fn = next(f for f in fns if f.api_name == api_name)
    params = [p for p in inspect.signature(inspect.unwrap(fn.fn)).parameters if p not in ("request", "progress")]
    return {p: c.value for p, c in zip(params, fn.inputs)
            if isinstance(getattr(c, "value", None), (int, float, type(None))) and not isinstance(c.value, bool)
            and type(c).__name__ in ("Number", "Slider", "Radio")}


@pytest.mark.parametrize("api_name", sorted(ACTIONS))
def test_tab_defaults_are_the_actions(demo, api_name):
    action, renamed = ACTIONS[api_name]
    shown = _numbers(demo, api_name)
    compared = 0
    for param, value in shown.items():
        if param in UI_ONLY:
            continue
        name = renamed.get(param, param)
        if name in inspect.signature(action).parameters:
            expected = SHOWN_AS.get(param, lambda v: v)(default_of(action, name))
        elif param == "seed":
            expected = default_of(Source, "seed")
        else:
            continue
        assert value == expected, f"{api_name}: {param} shows {value!r}, {action.__qualname__}() has {expected!r}"
        compared += 1
    assert compared, f"{api_name}: no numeric input compared"


def test_a_pass_through_default_is_the_methods():
    assert default_of(text.global_edit, "alpha", through=False) is None
    assert default_of(text.global_edit, "alpha") == 4.0 and default_of(text.text_edit, "l2_weight") == 0.008


def test_every_numeric_input_is_compared(demo):
    """Every event showing a number by default calls a callback that ACTIONS covers (or its numbers are UI only)."""
    fns = [f for f in (demo.fns.values() if isinstance(demo.fns, dict) else demo.fns) if f.api_name and f.fn]
    covered = {f.fn for f in fns if f.api_name in ACTIONS}
    for f in fns:
        unchecked = set(_numbers(demo, f.api_name)) - UI_ONLY
        assert f.fn in covered or not unchecked, f"{f.api_name}: {sorted(unchecked)} not compared with an action"
