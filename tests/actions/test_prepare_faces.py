import numpy as np
import pytest
from PIL import Image
from skimage import data

from ganinv.actions.faces import find_faces, paste_into_photo, prepare_image
from ganinv.faces import NoFaceError


def test_portrait_is_aligned_and_pastes_back(dcgan, astronaut):
    prep = prepare_image(astronaut, dcgan)
    assert prep.aligned is not None and prep.image.size == (64, 64) and "aligned" in prep.note
    whole = paste_into_photo(prep, prep.image)
    assert whole.size == astronaut.size
    diff = np.abs(np.asarray(whole, int) - np.asarray(astronaut, int)).max(2)
    # Only the face region may change (a round trip through 64 px), the rest is untouched.
    assert diff[:, :100].max() == 0 and diff[400:].max() == 0
    assert diff.mean() < 10


def test_a_model_sized_image_is_used_as_it_is(dcgan):
    """auto: the model's own sample is inverted as it is (re-aligning it moved the face: 17-31 dB from itself)."""
    from ganinv.actions import models
    sample = models.sample([3], model=dcgan.name, device="cpu")[0]
    prep = prepare_image(sample, dcgan)
    assert prep.aligned is None and "used as it is" in prep.note
    assert np.array_equal(np.asarray(prep.image), np.asarray(sample))


def test_no_face_modes(dcgan):
    coffee = Image.fromarray(data.coffee())
    prep = prepare_image(coffee, dcgan, align="auto")
    assert prep.aligned is None and "no face found" in prep.note and prep.image.size == (64, 64)
    with pytest.raises(NoFaceError, match="center"):
        prepare_image(coffee, dcgan, align="face")
    assert "centre crop" in prepare_image(coffee, dcgan, align="center").note


def test_face_index_picks_another_face(dcgan, astronaut):
    a = astronaut.resize((256, 256))
    two = Image.new("RGB", (256 + 180, 256), (128, 128, 128))
    two.paste(a, (0, 0))
    two.paste(astronaut.resize((180, 180)), (256, 40))
    p0, p1 = prepare_image(two, dcgan, face_index=0), prepare_image(two, dcgan, face_index=1)
    assert len(p0.faces) == 2 and "largest" in p0.note
    assert p0.aligned.face.area > p1.aligned.face.area
    with pytest.raises(ValueError):
        prepare_image(two, dcgan, face_index=5)


def test_find_faces_reports_boxes_and_landmarks_in_photo_pixels(astronaut):
    out = find_faces(astronaut)
    assert (out["width"], out["height"]) == astronaut.size and len(out["faces"]) >= 1
    f = out["faces"][0]
    left, top, right, bottom = f["box"]
    assert 0 <= left < right <= astronaut.width and 0 <= top < bottom <= astronaut.height
    lm = np.asarray(f["landmarks"])
    assert lm.shape == (68, 2)
    # the landmarks lie around the box (dlib's jaw can leave it by a little)
    assert left - 20 < lm[:, 0].mean() < right + 20 and top - 20 < lm[:, 1].mean() < bottom + 20
