"""Tabs 2 Edit, 3 Discover, 4 Morph & Mix through gradio_client on the real server (bundled DCGAN).

Each test uses its own client session (its own gr.State and session folder), so a latent
inverted elsewhere does not leak in.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from ganinv import io as gio, registry
from ganinv.edit import load_direction

MODEL = "celeba-dcgan-64"
NUM_SLOTS = 12


@pytest.fixture
def session(app_url):
    """A fresh browser-like session (own state) on the shared test server."""
    return Client(app_url, verbose=False)


def slider_values(client, **strengths) -> list[float]:
    keys = client.predict(api_name="/edit_directions")["directions"]
    values = [0.0] * NUM_SLOTS
    for k, v in strengths.items():
        values[keys.index(k.replace("__", "-"))] = v
    return values


def edit(client, *, source="seed", seed=3, keep=(), score=True, paste=False, **strengths):
    return client.predict(source, seed, list(keep), score, paste, *slider_values(client, **strengths),
                          api_name="/edit")


def table(t: dict) -> dict:
    return {row[0]: row[1:] for row in t["data"]}


def shown(x):
    """The value of an output sent as gr.update(...) (a file path, or None)."""
    if isinstance(x, dict) and x.get("__type__") == "update":
        x = x.get("value")
    return x.get("path") if isinstance(x, dict) else x


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_smile_slider_moves_the_latent_along_the_direction_and_raises_the_score(session):
    before, after, pasted, scores, cosines, latent_path, png_path, status = edit(session, smile=3.0)
    assert "smile +3.0" in status and shown(pasted) is None
    assert np.abs(pixels(before) - pixels(after)).mean() > 2                # the face changed
    G = registry.load_generator(MODEL, "cpu")
    z = G.sample_z(1, seed=3)
    n = load_direction("smile", G=G).tensor()
    lf = gio.load_latent(latent_path, model=MODEL)
    assert torch.allclose(lf.latent, z + 3.0 * n, atol=1e-5)                # x' = x + alpha n
    assert lf.meta["strengths"] == {"smile": 3.0}
    assert Image.open(png_path).size == (64, 64)
    s = table(scores)
    smile_before, smile_after = float(s["smile"][0]), float(s["smile"][1])
    happy_before, happy_after = float(s["happy"][0]), float(s["happy"][1])
    assert smile_after > smile_before and happy_after > happy_before

    zero = edit(session)                                                    # all sliders at 0: no edit
    assert np.array_equal(pixels(zero[0]), pixels(zero[1])) and "no edit" in zero[-1]


def test_out_of_range_strengths_are_refused_with_a_message(session):
    values = slider_values(session, smile=50.0)
    with pytest.raises(AppError, match="greater than maximum"):
        session.predict("seed", 3, [], False, False, *values, api_name="/edit")
    with pytest.raises(AppError, match="greater than maximum"):
        session.predict("seed", 3, "smile", 99.0, [], api_name="/edit_strip")
    with pytest.raises(AppError, match="less than minimum"):
        session.predict("sefa", 0, 500, "seed", 0, api_name="/discover")
    out = edit(session, score=False, smile=-5.0)                            # the range's edge is accepted
    assert "smile -5.0" in out[-1]


def test_keep_fixed_reports_cosines_and_strip_has_seven_frames(session):
    out = edit(session, keep=["yaw"], smile=2.0)
    rows = out[4]["data"]
    assert rows and rows[0][:2] == ["smile", "yaw"]
    assert abs(float(rows[0][2])) > 0.01 and abs(float(rows[0][3])) < 1e-4    # orthogonal after projection
    assert "kept fixed: yaw" in out[-1]
    strip, note = session.predict("seed", 3, "smile", 3.0, [], api_name="/edit_strip")
    w, h = Image.open(strip).size
    assert h == 64 * 3 and w > 7 * 64 * 3 - 1 and "+3" in note and "-3" in note


def test_session_source_needs_a_latent(session):
    with pytest.raises(AppError, match="no session latent"):
        edit(session, source="session", smile=1.0)


def test_paste_back_after_inverting_the_astronaut(session, astronaut_png):
    session.predict(handle_file(astronaut_png), MODEL, "auto", 1, "Z", 2, 1.0, 1, 0, api_name="/invert")
    out = edit(session, source="session", paste=True, score=False, smile=3.0)
    pasted, status = shown(out[2]), out[-1]
    assert Image.open(pasted).size == (512, 512)                            # the whole photo
    assert "identity" in status.lower()
    photo = np.asarray(Image.open(astronaut_png).convert("RGB"), dtype=np.int16)
    diff = np.abs(pixels(pasted) - photo).sum(-1)
    assert diff[:40].mean() < 1 and diff.mean() > 0.5                      # only the face area changed


def test_train_boundary_adds_a_slider(session):
    status, npy = session.predict("smile", 60, 0, api_name="/train_boundary")
    assert "validation accuracy" in status and npy.endswith(".npy")
    keys = session.predict(api_name="/edit_directions")["directions"]
    added = [k for k in keys if k.endswith("smile-trained-n60.npy")]
    assert added, keys
    values = [0.0] * NUM_SLOTS
    values[keys.index(added[0])] = 2.0
    out = session.predict("seed", 3, [], False, False, *values, api_name="/edit")
    assert "smile-trained-n60 (session) +2.0" in out[-1]
    assert np.abs(pixels(out[0]) - pixels(out[1])).mean() > 1


def test_discover_sefa_browse_and_use_as_slider(session):
    grid, values, index, status = session.predict("sefa", 3, 500, "seed", 0, api_name="/discover")
    assert len(values["data"]) == 3 and float(values["data"][0][1]) >= float(values["data"][2][1])
    assert Image.open(grid).size[1] > 3 * 64 * 2 - 1 and "3 sefa components" in status
    strip = session.predict(2, 3.0, "seed", 0, api_name="/discover_component")
    arr = pixels(strip)
    assert not np.array_equal(arr[:, :150], arr[:, -150:])                 # -3 and +3 differ
    with pytest.raises(AppError, match="maximum value 2|between 0 and 2"):
        session.predict(5, api_name="/use_as_slider")
    note = session.predict(1, api_name="/use_as_slider")
    assert "sefa-01 (session)" in note
    assert any(k.endswith("sefa-01.npy") for k in session.predict(api_name="/edit_directions")["directions"])


def test_discover_ganspace_small(session):
    grid, values, index, status = session.predict("ganspace", 2, 100, "seed", 0, api_name="/discover")
    assert len(values["data"]) == 2 and values["data"][0][2] == "explained variance ratio"


def test_morph_gif_mp4_and_latent_upload(session, tmp_path):
    G = registry.load_generator(MODEL, "cpu")
    npz = gio.save_latent(str(tmp_path / "b.npz"), G.sample_z(1, seed=9), model=MODEL, space="Z")
    gif, strip, mp4, gif_file, note = session.predict("seed", 1, None, "file", 0, handle_file(npz), 30, 5, 10,
                                                      api_name="/morph")
    im = Image.open(gif_file)
    assert im.n_frames == 8 and im.size == (256, 256)                      # 5 frames + 3 back (boomerang), upscaled
    assert "slerp" in note and "latent file" in note
    if shutil.which("ffmpeg"):
        path = mp4["video"] if isinstance(mp4, dict) else mp4
        assert path.endswith(".mp4")
    with pytest.raises(AppError, match="upload a .npz latent or a photo"):
        session.predict("seed", 1, None, "file", 0, None, 30, 5, 10, api_name="/morph")


def test_feature_crossover_and_expression_transfer(session):
    a, b, mix, note = session.predict("seed", 1, None, "seed", 2, None, 30, "layer2", "spatial", "bottom", 0.5, "0-3",
                                      api_name="/crossover")
    A, B, M = pixels(a), pixels(b), pixels(mix)
    assert "features at layer2" in note
    assert np.abs(M - A).mean() > 1 and np.abs(M - B).mean() > 1
    assert np.abs(M[:64] - A[:64]).mean() < np.abs(M[:64] - B[:64]).mean()    # top follows A, bottom comes from B

    _, same, note0 = session.predict("seed", 1, None, "seed", 2, None, "seed", 3, None, 30, 0.0, 0.0,
                                     api_name="/expression_transfer")
    assert np.array_equal(pixels(same), A)                                  # lambda = 0 gives w1 back
    inputs, out, note1 = session.predict("seed", 1, None, "seed", 2, None, "seed", 3, None, 30, 1.0, 0.5,
                                         api_name="/expression_transfer")
    assert len(inputs) == 3 and np.abs(pixels(out) - A).mean() > 1 and "kept" in note1


def test_uploaded_photo_is_inverted_quickly_for_crossover(session, astronaut_png):
    a, b, mix, note = session.predict("file", 0, handle_file(astronaut_png), "seed", 2, None, 5, "layer3", "channel",
                                      "bottom", 0.5, "", api_name="/crossover")
    assert "photo inverted with 5 steps" in note and "50% of the channels" in note
    assert Image.open(mix).size == (256, 256) and np.abs(pixels(mix) - pixels(a)).mean() > 1


def test_semantic_diffusion_pastes_the_photo_and_blends(session, astronaut_png):
    inputs, out, note = session.predict("seed", 4, None, "file", 0, handle_file(astronaut_png), 0.5, 20, 0.1,
                                        api_name="/semantic_diffusion")
    assert [c.get("caption") for c in inputs] == ["context (A)", "target (B)", "pasted (input)"]
    assert "photo (" in note and "PSNR inside the box" in note
    pasted, blended = pixels(inputs[2]["image"]), pixels(out)
    assert blended.shape == pasted.shape == (256, 256, 3)
    centre = slice(96, 160)
    context = pixels(inputs[0]["image"])
    to_pasted = np.abs(blended[centre, centre] - pasted[centre, centre]).mean()
    to_context = np.abs(blended[centre, centre] - context[centre, centre]).mean()
    assert to_pasted < 0.7 * to_context, (to_pasted, to_context)       # the pasted face is kept
    with pytest.raises(AppError, match="box|maximum value 0.8"):
        session.predict("seed", 4, None, "seed", 5, None, 0.95, 20, 0.1, api_name="/semantic_diffusion")


def test_session_library_limits_and_alignment_preview(astronaut_png):
    """The pure functions behind the tab (ganinv.edit.session): strength limits and the preview."""
    from ganinv import api
    from ganinv.edit import session as es
    with pytest.raises(ValueError, match="between -10 and 10"):
        es.check_strength(11)
    with pytest.raises(ValueError, match="out of range"):
        es.check_strength(float("nan"))
    G = registry.load_generator(MODEL, "cpu")
    with pytest.raises(ValueError, match="out of range"):
        es.edit_session(G, G.sample_z(1, seed=0), "Z", {"smile": 40.0})
    prep = api.prepare_image(astronaut_png, G)
    preview = es.alignment_preview(prep)
    assert preview.size == prep.original.size
    assert np.abs(np.asarray(preview, np.int16) - np.asarray(prep.original, np.int16)).max() > 100   # drawn on
    assert es.alignment_preview(api.prepare_image(astronaut_png, G, align="center")) is None


def test_rotated_off_centre_portrait_is_aligned_edited_and_pasted_back(session, astronaut_png, tmp_path):
    """The Real-photos flow end to end: rotated, off-centre upload -> align -> invert -> edit -> paste back."""
    canvas = Image.new("RGB", (900, 700), (40, 40, 40))
    canvas.paste(Image.open(astronaut_png).convert("RGB").rotate(20, expand=True, fillcolor=(90, 90, 90)), (250, 50))
    path = str(tmp_path / "rotated.png")
    canvas.save(path)
    out = session.predict(handle_file(path), MODEL, "auto", 1, "Z", 3, 1.0, 1, 0, api_name="/invert")
    assert any("aligned" in str(x) for x in out), out                     # the face was found and aligned
    edited = edit(session, source="session", paste=True, score=False, smile=3.0)
    pasted, status = shown(edited[2]), edited[-1]
    assert Image.open(pasted).size == (900, 700)                           # the whole original frame
    assert "identity" in status.lower()
    diff = np.abs(pixels(pasted) - np.asarray(canvas, dtype=np.int16)).sum(-1)
    assert diff[:, :200].max() == 0 and diff[600:].max() == 0              # far from the face: untouched
    assert diff.mean() > 0.1                                               # the face changed
