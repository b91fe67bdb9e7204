"""A bug is shown as a bug: a ValueError from inside an action reaches the user as "internal error"
with its traceback in the log; a user's mistake still gets its own sentence."""
from __future__ import annotations

import logging
import pathlib
import sys

import pytest

gr = pytest.importorskip("gradio")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from ganinv.actions import USER_ERRORS, invert as inv_actions  # noqa: E402
from webapp import common, tab_invert  # noqa: E402


def test_user_errors_are_only_the_projects_own_classes():
    assert all(e.__module__.startswith("ganinv.") for e in USER_ERRORS)
    assert not {ValueError, KeyError, FileNotFoundError} & set(USER_ERRORS)


def test_a_value_error_from_a_bug_is_an_internal_error_with_its_traceback_logged(monkeypatch, caplog,
                                                                                  astronaut_png):
    def buggy(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")
    cb = tab_invert.make_callbacks(common.Context(device="cpu"))
    monkeypatch.setattr(inv_actions, "invert", buggy)
    with caplog.at_level(logging.ERROR, logger="ganinv.app"), pytest.raises(gr.Error) as e:
        cb["invert"](astronaut_png, "celeba-dcgan-64", "center", 1, "Z", 5, 0.0, 1, 0, None, "optimize", 5, None)
    assert str(e.value.message) == common.INTERNAL_ERROR and "broadcast" not in str(e.value.message)
    assert "Traceback" in caplog.text and "operands could not be broadcast" in caplog.text


def test_a_bad_input_still_gets_its_sentence(astronaut_png):
    cb = tab_invert.make_callbacks(common.Context(device="cpu"))
    with pytest.raises(gr.Error, match="Steps must be a whole number"):
        cb["invert"](astronaut_png, "celeba-dcgan-64", "center", 1, "Z", 2.5, 0.0, 1, 0, None, "optimize", 5, None)
    with pytest.raises(gr.Error, match="Unknown model 'nope'"):
        cb["invert"](astronaut_png, "nope", "center", 1, "Z", 5, 0.0, 1, 0, None, "optimize", 5, None)
