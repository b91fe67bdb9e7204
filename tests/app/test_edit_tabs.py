"""Tabs 2 Edit, 3 Discover, 4 Morph & Mix through gradio_client on the real server (bundled DCGAN).

Each test uses its own client session (its own gr.State and session folder), so a latent
inverted elsewhere does not leak in.
"""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from api_steps import MODEL, TINY_SG2, pixels, table, value as shown
from ganinv import io as gio, registry
from ganinv.edit import load_direction


@pytest.fixture
def session(app_url):
    """A fresh browser-like session (own state) on the shared test server."""
    return Client(app_url, verbose=False)


def edit(client, strengths=None, *, source="seed", seed=3, keep=(), score=True, paste=False, **kw):
    return client.predict(strengths=strengths or {}, source=source, seed=seed, keep=list(keep), score=score,
                          paste=paste, api_name="/edit", **kw)


def test_edit_parameters_have_readable_names_and_defaults(session):
    info = session.view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = {p["parameter_name"]: p for p in info["/edit"]["parameters"]}
    assert list(params) == ["strengths", "source", "seed", "keep", "score", "paste", "model", "keep_tone", "hold",
                            "target", "paste_mode"]
    assert params["keep_tone"]["parameter_default"] is True                   # edits keep skin tone by default
    assert params["hold"]["parameter_default"] is True                        # and hold what was not asked
    assert params["paste_mode"]["parameter_default"] == "flow"
    assert params["strengths"]["component"] == "Json" and params["strengths"]["parameter_default"] == {}
    assert params["model"]["parameter_default"] == MODEL
    unnamed = {name: [p["parameter_name"] for p in e["parameters"] if p["parameter_name"].startswith("param_")]
               for name, e in info.items()}
    assert not any(unnamed.values()), unnamed                                # every public parameter is named
    morph = {p["parameter_name"]: p for p in info["/morph"]["parameters"]}
    assert all(morph[f]["parameter_has_default"] and morph[f]["parameter_default"] is None
               for f in ("file_a", "file_b"))


def test_smile_strength_moves_the_latent_along_the_direction_and_raises_the_score(session):
    before, after, pasted, scores, cosines, latent_path, png_path, status = edit(session, {"smile": 3.0}, hold=False)
    assert "smile +3.0" in status and shown(pasted) is None
    assert np.abs(pixels(before) - pixels(after)).mean() > 2                # the face changed
    G = registry.load_generator(MODEL, "cpu")
    z = G.sample_z(1, seed=3)
    n = load_direction("smile", G=G).tensor()
    lf = gio.load_latent(latent_path, model=MODEL)
    t = load_direction("skin_tone", G=G).tensor()
    step = lf.meta["tone"]["step"]                                          # skin tone held (the default)
    assert torch.allclose(lf.latent, z + 3.0 * n + step * t, atol=1e-5)     # x' = x + alpha n (+ c n_tone)
    assert re.search(r"Skin tone kept: ITA [\d.]+° → [\d.]+°", status), status
    assert lf.meta["strengths"] == {"smile": 3.0}
    assert Image.open(png_path).size == (64, 64)
    s = table(scores)
    assert float(s["smile"][1]) > float(s["smile"][0]) and float(s["happy"][1]) > float(s["happy"][0])

    zero = edit(session)                                                    # an empty mapping: no edit
    assert np.array_equal(pixels(zero[0]), pixels(zero[1])) and "no edit" in zero[-1]
    two = edit(session, {"smile": 2, "yaw": -1}, score=False)               # several directions by name
    assert "smile +2.0, yaw -1.0" in two[-1]
    plain = edit(session, {"smile": 3.0}, score=False, keep_tone=False, hold=False)   # the plain InterFaceGAN edit
    lf = gio.load_latent(plain[5], model=MODEL)
    assert torch.allclose(lf.latent, z + 3.0 * n, atol=1e-5) and "Skin tone" not in plain[-1]


def test_bad_strengths_and_names_are_refused_with_a_message(session):
    with pytest.raises(AppError, match=r"Strength of 'smile' must be a number from -10 to 10, got 50"):
        edit(session, {"smile": 50.0})
    with pytest.raises(AppError, match=r"No direction 'grin' for celeba-dcgan-64; available: .*\bsmile\b"):
        edit(session, {"grin": 1.0})
    with pytest.raises(AppError, match=r"Strengths must be a mapping"):
        edit(session, [1.0, 2.0])
    with pytest.raises(AppError, match="greater than maximum"):
        session.predict("seed", 3, "smile", 99.0, [], api_name="/edit_strip")
    with pytest.raises(AppError, match="less than minimum"):
        session.predict("sefa", 0, 500, "seed", 0, api_name="/discover")
    out = edit(session, {"smile": -10.0}, score=False)                      # the limit itself is accepted
    assert "smile -10.0" in out[-1]


def test_keep_fixed_reports_cosines_and_strip_has_seven_frames(session):
    out = edit(session, {"smile": 2.0}, keep=["yaw"])
    rows = out[4]["data"]
    assert rows and rows[0][:2] == ["smile", "yaw"]
    assert abs(float(rows[0][2])) > 0.01 and abs(float(rows[0][3])) < 1e-4    # orthogonal after projection
    assert "kept fixed: yaw" in out[-1]
    strip, note = session.predict("seed", 3, "smile", 3.0, [], api_name="/edit_strip")
    w, h = Image.open(strip).size
    assert h == 64 * 3 and w > 7 * 64 * 3 - 1 and "+3" in note and "-3" in note


def test_session_source_needs_a_latent_of_the_picked_model(session, tmp_path):
    with pytest.raises(AppError, match="there is no session latent yet"):
        edit(session, {"smile": 1.0}, source="session")
    z = gio.save_latent(str(tmp_path / "z.npz"), torch.zeros(1, 100), model=MODEL, space="Z")
    session.predict(handle_file(z), MODEL, api_name="/load_latent")         # the session's latent: the DCGAN's
    refusal = rf"the session latent was made for '{MODEL}', but the model is '{TINY_SG2}'"
    with pytest.raises(AppError, match=refusal):
        edit(session, source="session", model=TINY_SG2)
    with pytest.raises(AppError, match=refusal):                           # no silent DCGAN rendering
        session.predict(kind_a="session", model=TINY_SG2, api_name="/morph")
    assert "session latent (Z)" in edit(session, source="session")[-1]


def test_paste_back_after_inverting_the_astronaut(session, astronaut_png):
    session.predict(handle_file(astronaut_png), MODEL, "auto", 1, "Z", 2, 1.0, 1, 0, "optimize", api_name="/invert")
    out = edit(session, {"smile": 3.0}, source="session", paste=True, score=True)
    original, pasted = (shown(x) for x in shown(out[2]))                   # the before / after slider
    status = out[-1]
    assert np.array_equal(pixels(original), np.asarray(Image.open(astronaut_png).convert("RGB"), dtype=np.int16))
    assert Image.open(pasted).size == (512, 512)                            # the whole photo
    assert re.search(r"Identity kept: ArcFace similarity -?[01]\.\d{3} to the original", status), status
    rows = table(out[3])
    assert "identity (ArcFace cos to the original, photo)" in rows and "ita" in rows and "age" in rows
    photo = np.asarray(Image.open(astronaut_png).convert("RGB"), dtype=np.int16)
    diff = np.abs(pixels(pasted) - photo).sum(-1)
    assert diff[:40].mean() < 1 and diff.mean() > 0.5                      # only the face area changed


def test_train_boundary_adds_a_slider(session):
    status, npy = session.predict("smile", 60, 0, api_name="/train_boundary")
    assert "validation accuracy" in status and npy.endswith("smile-trained-n60.npy")
    keys = session.predict(api_name="/edit_directions")["directions"]
    assert "smile-trained-n60 (session)" in keys, keys
    out = edit(session, {"smile-trained-n60 (session)": 2.0}, score=False)
    assert "smile-trained-n60 (session) +2.0" in out[-1]
    assert np.abs(pixels(out[0]) - pixels(out[1])).mean() > 1
    other = Client(session.src, verbose=False).predict(api_name="/edit_directions")["directions"]
    assert "smile-trained-n60 (session)" not in other                      # another session does not see it


def test_discover_sefa_browse_and_use_as_slider(session):
    grid, values, index, status = session.predict("sefa", 3, 500, "seed", 0, api_name="/discover")
    assert len(values["data"]) == 3 and float(values["data"][0][1]) >= float(values["data"][2][1])
    assert Image.open(grid).size[1] > 3 * 64 * 2 - 1 and "3 sefa components" in status
    strip = session.predict(2, 3.0, "seed", 0, api_name="/discover_component")
    arr = pixels(strip)
    assert not np.array_equal(arr[:, :150], arr[:, -150:])                 # -3 and +3 differ
    with pytest.raises(AppError, match="maximum value 2"):
        session.predict(5, api_name="/use_as_slider")
    note = session.predict(1, api_name="/use_as_slider")
    assert "sefa-01 (session)" in note
    assert "sefa-01 (session)" in session.predict(api_name="/edit_directions")["directions"]


def test_discover_ganspace_small(session):
    grid, values, index, status = session.predict("ganspace", 2, 100, "seed", 0, api_name="/discover")
    assert len(values["data"]) == 2 and values["data"][0][2] == "explained variance ratio"


def test_seed_only_morph_needs_no_file(session):
    gif, strip, mp4, gif_file, note = session.predict(seed_a=1, seed_b=2, frames=3, api_name="/morph")
    im = Image.open(gif_file)
    assert im.n_frames == 4 and im.size == (256, 256)                      # 3 frames + 1 back, upscaled
    assert "A: seed 1" in note and "B: seed 2" in note


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

    _, same, note0 = session.predict(strength=0.0, api_name="/expression_transfer")   # seeds 1, 2, 3
    assert np.array_equal(pixels(same), A)                                  # lambda = 0 gives w1 back
    inputs, out, note1 = session.predict("seed", 1, None, "seed", 2, None, "seed", 3, None, 30, 1.0, 0.5,
                                         api_name="/expression_transfer")
    assert len(inputs) == 3 and np.abs(pixels(out) - A).mean() > 1 and "kept" in note1


def test_uploaded_photo_is_inverted_quickly_for_crossover(session, astronaut_png):
    a, b, mix, note = session.predict("file", 0, handle_file(astronaut_png), "seed", 2, None, 5, "layer3", "channel",
                                      "bottom", 0.5, "", api_name="/crossover")
    assert "photo inverted by optimisation, 5 steps" in note and "50% of the channels" in note
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
    with pytest.raises(AppError, match="greater than maximum value 0.8"):
        session.predict("seed", 4, None, "seed", 5, None, 0.95, 20, 0.1, api_name="/semantic_diffusion")


def test_rotated_off_centre_portrait_is_aligned_edited_and_pasted_back(session, astronaut_png, tmp_path):
    """The Real-photos flow end to end: rotated, off-centre upload -> align -> invert -> edit -> paste back."""
    canvas = Image.new("RGB", (900, 700), (40, 40, 40))
    canvas.paste(Image.open(astronaut_png).convert("RGB").rotate(20, expand=True, fillcolor=(90, 90, 90)), (250, 50))
    path = str(tmp_path / "rotated.png")
    canvas.save(path)
    out = session.predict(handle_file(path), MODEL, "auto", 1, "Z", 3, 1.0, 1, 0, "optimize", api_name="/invert")
    assert "aligned" in out[-1]                                            # the face was found and aligned
    edited = edit(session, {"smile": 3.0}, source="session", paste=True, score=True)
    pasted, status = shown(shown(edited[2])[1]), edited[-1]
    assert Image.open(pasted).size == (900, 700)                           # the whole original frame
    assert "Identity kept: ArcFace similarity" in status
    diff = np.abs(pixels(pasted) - np.asarray(canvas, dtype=np.int16)).sum(-1)
    assert diff[:, :200].max() == 0 and diff[600:].max() == 0              # far from the face: untouched
    assert diff.mean() > 0.1                                               # the face changed
