"""The inversion method registry: one entry is all a method needs to reach the dispatch, the CLI's
choices and the Invert tab's lists; layer-wise + residual gives a record whose edits keep the residual."""
from __future__ import annotations

import pytest
import torch

from ganinv.actions import Source, edit, invert
from ganinv.actions.common import Record
from ganinv.actions.invert_methods import METHODS, InversionMethod, MethodOutput, register
from ganinv.cli import build_parser

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def dummy():
    def run(G, x, settings, encoder, progress):
        return MethodOutput(x.clone())                  # the crop itself: PSNR is infinite, no code
    register(InversionMethod("dummy", "dummy (the crop)", "returns the crop", run, False, main=True))
    yield "dummy"
    METHODS.pop("dummy")


def _choices(parser, command: str, flag: str) -> list:
    s = next(a for a in parser._actions if a.dest == "command").choices[command]
    return list(next(a for a in s._actions if flag in a.option_strings).choices)


def test_a_registered_method_is_in_the_cli_choices_the_tab_lists_and_the_dispatch(dummy, astronaut):
    assert dummy in _choices(build_parser(), "invert", "--method")
    pytest.importorskip("gradio")
    from webapp.tab_invert import method_choices
    assert ("dummy (the crop)", dummy) in method_choices() and ("dummy (the crop)", dummy) in method_choices(True)
    inv = invert.invert(astronaut, method=dummy, device="cpu", identity=False)
    assert inv.method == dummy and inv.record is None
    torch.testing.assert_close(inv.image, inv.prepared.tensor.float())


def test_layerwise_residual_record_edits_with_its_residual(astronaut, dcgan):
    inv = invert.invert(astronaut, method="layerwise-residual", steps=3, latent_steps=3, device="cpu",
                        identity=False)
    layer, residual = inv.residual
    assert inv.record is not None and inv.record.residual[0] == layer and residual.abs().max() > 0
    still = edit.edit(Source("session", record=inv.record), {"smile": 0.0}, score=False, device="cpu")
    torch.testing.assert_close(still.image, inv.image, atol=1e-5, rtol=0)   # strength 0 = the layer-wise fit
    smiled = edit.edit(Source("session", record=inv.record), {"smile": 2.0}, score=False, device="cpu")
    plain = edit.edit(Source("session", record=Record(inv.model, inv.latent, inv.space)), {"smile": 2.0},
                      score=False, device="cpu")
    assert (smiled.image - plain.image).abs().max() > 1e-3                  # the residual is added to the edit
    assert (smiled.image - still.image).abs().max() > 1e-3                  # and the edit still acts
