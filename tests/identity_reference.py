"""Reference runtimes for the identity networks (tests only): onnxruntime or OpenCV's DNN on the ONNX files,
to check the torch modules of ganinv.identity against."""
from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
from PIL import Image

from ganinv.faces.detect import to_rgb_array
from ganinv.identity import SFACE_SIZE, _LOCK, _NETS, arcface_path, sface_path


def sface_embedding_cv2(face112: Image.Image | np.ndarray) -> np.ndarray:
    """SFace feature of one 112x112 RGB aligned face with OpenCV's DNN (reference path), [128]."""
    import cv2

    with _LOCK:
        if "sface-cv2" not in _NETS:
            _NETS["sface-cv2"] = _cv2_net(sface_path())
        net = _NETS["sface-cv2"]
        rgb = to_rgb_array(face112)
        assert rgb.shape[:2] == (SFACE_SIZE, SFACE_SIZE), f"expected 112x112, got {rgb.shape[:2]}"
        # OpenCV's FaceRecognizerSF feeds RGB 0..255 (blobFromImage with swapRB on BGR input).
        blob = rgb.transpose(2, 0, 1)[None].astype(np.float32)
        net.setInput(blob, "data")     # the graph also lists two scalar inputs: name the image one
        return net.forward().reshape(-1).copy()


def _cv2_net(path: str):
    import cv2

    try:
        return cv2.dnn.readNetFromONNX(path, cv2.dnn.ENGINE_CLASSIC)
    except AttributeError:       # OpenCV 4.x has one engine
        return cv2.dnn.readNetFromONNX(path)


def _reference_runtime(path: str) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(name, run) for an ONNX file: onnxruntime when installed, else OpenCV's DNN."""
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return "onnxruntime", lambda blob: sess.run(None, {name: blob})[0]
    net = _cv2_net(path)

    def run(blob: np.ndarray) -> np.ndarray:
        net.setInput(blob)
        return net.forward()
    return "cv2.dnn", run


def arcface_embedding_reference(face112: Image.Image | np.ndarray) -> tuple[np.ndarray, str]:
    """Raw ArcFace output [512] of one aligned 112x112 RGB face, and the runtime that computed it.

    Reference path for tests: onnxruntime if installed, else OpenCV's DNN.
    """
    rgb = to_rgb_array(face112)
    assert rgb.shape[:2] == (SFACE_SIZE, SFACE_SIZE), f"expected 112x112, got {rgb.shape[:2]}"
    blob = (rgb.transpose(2, 0, 1)[None].astype(np.float32) - 127.5) / 127.5
    with _LOCK:
        if "arcface-ref" not in _NETS:
            _NETS["arcface-ref"] = _reference_runtime(arcface_path())
        name, run = _NETS["arcface-ref"]
        return np.asarray(run(blob)).reshape(-1).copy(), name
