"""StyleGAN2 generator (Karras et al., CVPR 2020, "Analyzing and Improving the Image Quality of StyleGAN").

Plain PyTorch, no compiled ops.  Parameter and buffer names equal those of NVIDIA's
stylegan2-ada-pytorch ``training/networks.py`` Generator, so an official state_dict loads
with ``strict=True`` (see ``ganinv.models.loaders`` for the safe pickle reader).

Legend, variable -> paper symbol:

    z            z, input latent (normalised to the unit second moment, "pixel norm")
    w, ws        w, the mapping output; ws = one w per layer ("W+", Abdal et al. 2019)
    style, s     s_i, the per-layer affine output A(w) (StyleSpace S, Wu et al. CVPR 2021)
    weight       w_ijk, convolution weight (input map i, output map j, spatial k); stored [j, i, kh, kw]
    dcoefs       1 / sqrt(sum_{i,k} w'_ijk^2 + eps), the demodulation factor of Eq. 3
    noise_*      B, the per-pixel noise input and its learned per-layer scale
    w_avg, psi   w-bar and psi of the truncation trick w' = w-bar + psi (w - w-bar)
                 (StyleGAN, Karras et al. CVPR 2019, "Truncation trick in W")

Modulation (Eq. 1):    w'_ijk  = s_i * w_ijk
Demodulation (Eq. 3):  w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)

Equalised learning rate (Karras et al. 2018): weights are stored N(0, 1) / lr_multiplier
and scaled by lr_multiplier / sqrt(fan_in) at run time.  Synthesis uses the "skip"
architecture (Fig. 7b): every block adds its toRGB output to the upsampled image of the
block before.  Resampling uses the [1, 3, 3, 1] FIR filter (upfirdn: upsample by zero
insertion, pad, filter, downsample).

Modulated convolution has three equivalent implementations (``fused_modconv``):
True   = one grouped convolution with per-sample weights (groups = batch, the paper's form);
False  = scale the activations by s, run one shared convolution, scale the outputs by the
         demodulation factor (the same product, reordered: conv is linear in x);
"auto" = the default, for speed: each synthesis layer is one autograd node with a hand-written
         backward (``_SynthesisLayerFn``).  With one image, s and the demodulation are folded into
         the weight (Eq. 1-3 as written) and their gradients are recovered from dL/dx and the
         layer output, so no weight-gradient convolution runs; with a batch, activations are
         scaled as in False.  True and False are op-by-op references; all three agree within
         float rounding, images and gradients (tests/models/test_stylegan2.py, test_golden.py).
         CPU timings against NVIDIA's implementation: bench/speed.py, docs/benchmarks.md.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .base import Generator

# "auto": the fast path below (one autograd node per layer); True / False: the reference paths.
FUSED_MODCONV = ("auto", True, False)
DEFAULT_FUSED_MODCONV = "auto"
NOISE_MODES = ("random", "const", "none")
ACTIVATIONS = {  # name -> (function, default gain that keeps the signal's second moment)
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, math.sqrt(2)),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
}


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class StyleGAN2Config:
    """The architecture spec: equal configs build identical parameter shapes."""

    z_dim: int = 512                             # input latent size
    w_dim: int = 512                             # intermediate latent size
    resolution: int = 1024                       # output height == width, a power of two >= 4
    img_channels: int = 3                        # output colour channels
    mapping_layers: int = 8                      # fully connected layers in the mapping network
    mapping_features: int | None = None          # hidden width of the mapping network, None = w_dim
    mapping_lr_multiplier: float = 0.01          # equalised-lr multiplier of the mapping layers
    mapping_activation: str = "lrelu"
    w_avg_beta: float = 0.995                    # training-time decay of w_avg (kept for round trips)
    channel_base: int = 32768                    # channels at resolution r = min(channel_base // r, channel_max)
    channel_max: int = 512
    conv_clamp: float | None = None              # clamp conv outputs to +-X (official ADA models: 256)
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)  # FIR taps for upsampling (outer product, normalised)
    use_noise: bool = True                       # per-pixel noise inputs
    synthesis_activation: str = "lrelu"

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 4 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {r}")
        for act in (self.mapping_activation, self.synthesis_activation):
            if act not in ACTIVATIONS:
                raise ValueError(f"unsupported activation {act!r}; known: {', '.join(ACTIVATIONS)}")
        if self.mapping_layers < 1:
            raise ValueError("mapping_layers must be >= 1")
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))

    @property
    def block_resolutions(self) -> tuple[int, ...]:
        return tuple(2 ** i for i in range(2, int(math.log2(self.resolution)) + 1))

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def num_ws(self) -> int:
        """One w per conv layer plus one for the last toRGB: 2 log2(R) - 2 (18 at 1024 px)."""
        return 2 * len(self.block_resolutions)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["resample_filter"] = list(self.resample_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "StyleGAN2Config":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"family"})
        if unknown:
            raise ValueError(f"unknown StyleGAN2 config keys: {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})


# --------------------------------------------------------------------------- ops
def _check_fused(value: bool | str) -> bool | str:
    if not any(value is v or (isinstance(v, str) and value == v) for v in FUSED_MODCONV):
        raise ValueError(f"fused_modconv must be one of {FUSED_MODCONV}, got {value!r}")
    return value


def _check_shape(t: torch.Tensor, shape: tuple, what: str) -> None:
    """Assert t.shape matches shape (None = any size) with a readable message."""
    ok = t.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, t.shape))
    if not ok:
        want = ", ".join("N" if s is None else str(s) for s in shape)
        raise ValueError(f"{what} must have shape [{want}], got {list(t.shape)}")


def make_filter(taps) -> torch.Tensor:
    """1-D taps -> normalised 2-D FIR filter (outer product / sum), [k, k]."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad (x0, x1, y0, y1; negative crops), FIR-filter, downsample.

    x [N, C, H, W], f [kh, kw] -> [N, C, H', W'].  ``gain`` scales the filter (use up**2 when
    upsampling so the inserted zeros do not dim the signal).
    """
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = pad
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    # conv2d is correlation; flip to apply f as a true convolution.
    k = (f * gain).to(x.dtype).flip([0, 1])[None, None].expand(c, 1, *f.shape)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, up H, up W] with the FIR filter f."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up ** 2)


def bias_act(x: torch.Tensor, b: torch.Tensor, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> torch.Tensor:
    """act(x + b) * gain, clamped to +-clamp; b is per channel (dim 1)."""
    fn, def_gain = ACTIVATIONS[act]
    x = fn(x + b.reshape(1, -1, *([1] * (x.ndim - 2))))
    g = def_gain if gain is None else gain
    if g != 1:
        x = x * g
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _conv(x: torch.Tensor, w: torch.Tensor, *, up: int, padding: int, f: torch.Tensor | None,
          groups: int) -> torch.Tensor:
    """Convolution, optionally with 2x FIR upsampling, x [N, G*I, H, W], w [G*O, I, k, k]."""
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    # Upsampled conv = transposed stride-2 conv, then FIR low-pass: cheaper than zero
    # insertion + full conv at the high resolution.  Padding is chosen so that the composite
    # equals pad -> zero-insert -> conv -> filter at the up-sampled resolution.
    go, i, kh, kw = w.shape
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    pt = max(min(-p0, -p1), 0)
    # conv_transpose2d wants [G*I, O, k, k]: swap in/out within each group.
    wt = w.reshape(groups, go // groups, i, kh, kw).transpose(1, 2).reshape(groups * i, go // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, padding=pt, groups=groups)
    return upfirdn2d(x, f, pad=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up ** 2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool = True,
                     up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     fused: bool = False) -> torch.Tensor:
    """Eq. 1-3: x [N, I, H, W], weight [O, I, k, k], styles [N, I] -> [N, O, H', W']."""
    n, i = styles.shape
    o = weight.shape[0]
    dcoefs = None
    if demodulate:
        # sum_{i,k} (s_i w_ijk)^2 = sum_i s_i^2 (sum_k w_ijk^2): avoids materialising [N, O, I, k, k].
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()   # [N, O]
    if not fused:
        x = x * styles.reshape(n, i, 1, 1)
        x = _conv(x, weight, up=up, padding=padding, f=resample_filter, groups=1)
        return x * dcoefs.reshape(n, o, 1, 1) if dcoefs is not None else x
    w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)                                # [N, O, I, k, k]
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, o, 1, 1, 1)
    y = _conv(x.reshape(1, n * i, *x.shape[2:]), w.reshape(n * o, i, *weight.shape[2:]),
              up=up, padding=padding, f=resample_filter, groups=n)
    return y.reshape(n, o, *y.shape[2:])


# --------------------------------------------------------------------------- fast path ("auto")
# One autograd node per synthesis layer: conv, noise, bias, activation and clamp run in place on
# one output tensor, and the backward pass is written out by hand.  Same arithmetic as the
# reference paths above, reordered.  What it saves on CPU: (1) with one image, the weight-gradient
# convolution (a third of the conv work; see _SynthesisLayerFn); (2) memory traffic -- autograd's
# op-by-op graph allocates about ten activation-sized tensors per layer, and each fresh one costs
# page faults (glibc hands blocks above 32 MB back to the kernel on free: ~0.1 s per 128 MB here).
AUTO_CHANNELS_LAST_MIN_RES = 32  # channels-last memory format from this resolution up (oneDNN's 3x3
                                 # convs with few channels and large maps: ~2x faster, bench/speed.py)


def _up_geometry(padding: int, k: int, fw: int, up: int) -> tuple[int, int, int]:
    """(transposed-conv padding, FIR pad before, FIR pad after) of ``_conv``'s upsampling composite."""
    p0 = padding + (fw + up - 1) // 2 - (k - 1)
    p1 = padding + (fw - up) // 2 - (k - up)
    pt = max(min(-p0, -p1), 0)
    return pt, p0 + pt, p1 + pt


def _fir_weight(f: torch.Tensor, channels: int, gain: float) -> torch.Tensor:
    """Depthwise conv2d weight [C, 1, kh, kw] applying f as a true convolution (flipped), times gain."""
    return (f * gain).flip([0, 1]).reshape(1, 1, *f.shape).repeat(channels, 1, 1, 1)


def _fir(x: torch.Tensor, kf: torch.Tensor, pad: tuple[int, int], bias: torch.Tensor | None = None) -> torch.Tensor:
    """Depthwise FIR (kf from ``_fir_weight``) with padding (pad0, pad1) on both axes, plus a bias."""
    p0, p1 = pad
    if p0 != p1 or p0 < 0:
        x = upfirdn2d(x, kf[0, 0].flip([0, 1]), pad=(p0, p1, p0, p1))
        return x if bias is None else x.add_(bias.reshape(1, -1, 1, 1))
    return F.conv2d(x, kf, bias, padding=p0, groups=x.shape[1])


def _fir_backward(g: torch.Tensor, kf: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Gradient of ``_fir`` w.r.t. its input: correlation with the flipped filter, full padding."""
    p0, p1 = pad
    kh, kw = kf.shape[2:]
    if p0 != p1 or p0 < 0:
        return upfirdn2d(g, kf[0, 0], pad=(kw - 1 - p0, kw - 1 - p1, kh - 1 - p0, kh - 1 - p1))
    return F.conv2d(g, kf.flip([2, 3]), padding=kh - 1 - p0, groups=g.shape[1])


def _upsample2d_auto(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """``upsample2d`` as one depthwise transposed conv (zero insertion + FIR in one op), even-size filters."""
    fw = f.shape[-1]
    if fw % up or (fw - up) % 2:
        return upsample2d(x, f, up)
    # conv_transpose2d inserts the zeros itself; its padding (fw - up) / 2 crops the FIR's tail so that
    # the output equals upfirdn2d with pad ((fw + up - 1) // 2, (fw - up) // 2): [up H, up W].
    k = (f * up ** 2).to(x.dtype).reshape(1, 1, *f.shape).expand(x.shape[1], 1, *f.shape)
    return F.conv_transpose2d(x, k, stride=up, padding=(fw - up) // 2, groups=x.shape[1])


def _dot_hw(a: torch.Tensor, b: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """sum_{h,w} a * b -> [N, C] for a, b [N, C, H, W], in row bands of about ``chunk`` elements whose
    products accumulate in place (addcmul_): no activation-sized temporary, few ops (bench/speed.py)."""
    n, c, h, w = a.shape
    rows = min(h, 1 << max(0, (chunk // (n * c * w)).bit_length() - 1))      # a power of two: divides h
    acc = a[:, :, :rows] * b[:, :, :rows]
    for r in range(rows, h, rows):
        acc.addcmul_(a[:, :, r:r + rows], b[:, :, r:r + rows])
    return acc.sum(dim=[2, 3])


def _noise_dot(g: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """sum_{h,w} g * noise -> [N, C] for noise [H, W] or [N, 1, H, W]: a matrix-vector product per image."""
    n, c, h, w = g.shape
    nz = noise.reshape(-1, h * w, 1).expand(n, h * w, 1)
    if g.is_contiguous():
        return torch.bmm(g.reshape(n, c, h * w), nz)[:, :, 0]
    return torch.bmm(nz.transpose(1, 2), _rows(g))[:, 0]


def _flat(x: torch.Tensor) -> torch.Tensor:
    """x as a 1-D view in memory order (contiguous or channels-last), for order-free reductions."""
    if x.is_contiguous():
        return x.view(-1)
    return x.permute(0, 2, 3, 1).reshape(-1)          # channels-last: a view, no copy


_LEAKY_SLOPE = {"linear": 1.0, "relu": 0.0, "lrelu": 0.2}   # activation -> negative slope (1 = identity)
_TINY_STYLE = 1e-12     # |s_i| below this: dL/ds_i by its own conv instead of dividing by s_i


class _SynthesisLayerFn(torch.autograd.Function):
    """y = clamp(leaky(conv(x * s, w) * d + noise + b)) as one autograd node, computed in place.

    N = 1: s and d are folded into the conv weight (Eq. 1-3 applied to the weights), so the layer is
    one plain conv, and the backward pass recovers the style and demodulation gradients from tensors it
    has anyway -- dL/ds_i = <dL/dx_i, x_i> / s_i and dL/dd_o = <dL/dpre_o, pre_o - noise - b_o> / d_o,
    pre = leaky^-1(y) -- so no weight-gradient conv runs (unless the weight itself requires grad).
    N > 1: x is scaled by s before and by d after the shared conv.  The activation gain is folded into
    d, noise and b by the caller (gain * leaky(v) = leaky(gain * v) for gain > 0).  up > 1 is the
    transposed conv + FIR of ``_conv``: kf is the depthwise FIR weight, fir_pad = (pad0, pad1, padding
    of the transposed conv).  With rgb_w [N, C_img, O] (the block's modulated toRGB weight) the node
    also returns the toRGB product rgb_w @ y: its backward then adds the toRGB gradient into the one
    buffer the activation mask is applied to, instead of autograd allocating and summing a second one.
    """

    @staticmethod
    def forward(ctx, x, weight, s, d, noise, b, rgb_w, up, padding, kf, fir_pad, slope, clamp):
        ctx.set_materialize_grads(False)
        fold = x.shape[0] == 1
        if fold:
            xs, w = x, _fold_weight(weight, s[0], d[0], transposed=up > 1, like=x)
        else:
            xs, w = x * s.reshape(*s.shape, 1, 1), (weight.transpose(0, 1) if up > 1 else weight)
        y = _conv_forward(xs, w, b if fold else None, up, padding, kf, fir_pad)
        del xs
        if not fold:
            torch.addcmul(b.reshape(1, -1, 1, 1), y, d.reshape(*d.shape, 1, 1), out=y)
        if noise is not None:
            y.add_(noise)
        if slope != 1:
            F.leaky_relu(y, slope, inplace=True)
        ctx.clamped = False
        if clamp is not None:
            lo, hi = torch.aminmax(_flat(y))            # a read pass; clamping (a write pass) is rarely needed
            if hi > clamp or lo < -clamp:
                y.clamp_(-clamp, clamp)
                ctx.clamped = True
        ctx.fold, ctx.up, ctx.padding, ctx.fir_pad, ctx.slope, ctx.clamp = fold, up, padding, fir_pad, slope, clamp
        ctx.noise_shape = None if noise is None else noise.shape
        ctx.save_for_backward(x, weight, s, d, noise, b, y, w if fold else None, kf, rgb_w)
        if rgb_w is None:
            return y
        return y, _rgb_forward(y, rgb_w)

    @staticmethod
    @once_differentiable                # higher-order gradients (create_graph): use fused_modconv=False
    def backward(ctx, gy, g_rgb=None):
        x, weight, s, d, noise, b, y, w, kf, rgb_w = ctx.saved_tensors
        need_x, need_weight, need_s, need_d, need_noise, need_b = ctx.needs_input_grad[:6]
        g_rgb_w = None
        if rgb_w is not None and g_rgb is not None:
            g_rgb_w, g_total = _rgb_backward(gy, g_rgb, y, rgb_w)
            # <rgb_w^T g_rgb, y> per channel = sum_o rgb_w[o, c] * g_rgb_w[o, c]: the dot without a pass.
            dot_y = (rgb_w * g_rgb_w).sum(dim=1)
            g = _act_backward(g_total, y, ctx.slope, ctx.clamp if ctx.clamped else None, inplace=True)
        elif gy is None:
            return (None,) * 13
        else:
            dot_y = None
            g = _act_backward(gy, y, ctx.slope, ctx.clamp if ctx.clamped else None)   # dL/dpre, fresh
        g_noise = g.sum_to_size(ctx.noise_shape) if need_noise else None
        g_b = g_d = None
        if need_d:
            g_d = _demod_grad(gy, g, y, noise, b, d, ctx.slope, ctx.clamped, dot_y)
        if need_b:
            g_b = g.sum(dim=[0, 2, 3])
        if ctx.fold:
            g_x, g_s, g_weight = _folded_backward(ctx, g, x, weight, s, d, w, kf, need_x or need_s, need_s,
                                                  need_weight)
        else:
            g_x, g_s, g_weight = _scaled_backward(ctx, g.mul_(d.reshape(*d.shape, 1, 1)), x, weight, s, kf,
                                                  need_x or need_s, need_s, need_weight)
        return (g_x if need_x else None), g_weight, g_s, g_d, g_noise, g_b, g_rgb_w, *([None] * 6)


def _fold_weight(weight: torch.Tensor, s: torch.Tensor, d: torch.Tensor, *, transposed: bool,
                 like: torch.Tensor) -> torch.Tensor:
    """weight [O, I, k, k] * s_i * d_o; transposed: as [I, O, k, k] for conv_transpose2d.  Written in the
    memory format of the activations ``like``, which oneDNN would otherwise copy the weight into per call."""
    w = weight.transpose(0, 1) if transposed else weight
    sd = (s[:, None] * d[None, :]) if transposed else (d[:, None] * s[None, :])
    cl = not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last)
    out = torch.empty(w.shape, dtype=w.dtype, device=w.device,
                      memory_format=torch.channels_last if cl else torch.contiguous_format)
    return torch.mul(w, sd[..., None, None], out=out)


def _conv_forward(xs: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, up: int, padding: int,
                  kf: torch.Tensor | None, fir_pad: tuple[int, int, int] | None) -> torch.Tensor:
    """conv2d (up = 1) or transposed conv + FIR (w given as [I, O, k, k]), plus an optional bias."""
    if up == 1:
        return F.conv2d(xs, w, b, padding=padding)
    t = F.conv_transpose2d(xs, w, stride=up, padding=fir_pad[2])
    return _fir(t, kf, fir_pad[:2], b)


def _conv_backward(ctx, g: torch.Tensor, xs: torch.Tensor, w: torch.Tensor, kf: torch.Tensor | None,
                   need_in: bool, need_w: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Input and weight gradients of ``_conv_forward`` (xs only sets the shape unless need_w)."""
    mask = [need_in, need_w, False]
    if ctx.up == 1:
        g_xs, g_w, _ = torch.ops.aten.convolution_backward(
            g, xs, w, None, [1, 1], [ctx.padding] * 2, [1, 1], False, [0, 0], 1, mask)
        return g_xs, g_w
    g_t = _fir_backward(g, kf, ctx.fir_pad[:2])
    g_xs, g_w, _ = torch.ops.aten.convolution_backward(
        g_t, xs, w, None, [ctx.up] * 2, [ctx.fir_pad[2]] * 2, [1, 1], True, [0, 0], 1, mask)
    return g_xs, g_w


def _folded_backward(ctx, g, x, weight, s, d, w, kf, need_in, need_s, need_weight):
    """N = 1: gradients through conv(x, weight * s * d) without a weight-gradient conv (unless need_weight)."""
    g_x, g_w = _conv_backward(ctx, g, x, w, kf, need_in, need_weight)
    g_s = g_weight = None
    if need_s:
        tiny = s[0].abs() < _TINY_STYLE
        g_s = _dot_hw(g_x, x).div_(s.masked_fill(tiny[None], 1.0))
        if tiny.any():              # dL/dx_i = s_i * (...) lost its factor: run those channels' conv on their own
            idx = tiny.nonzero()[:, 0]
            w_i = _fold_weight(weight[:, idx], torch.ones_like(s[0, idx]), d[0], transposed=ctx.up > 1,
                               like=x)
            g_xi, _ = _conv_backward(ctx, g, x[:, idx], w_i, kf, True, False)
            g_s[:, idx] = _dot_hw(g_xi, x[:, idx])
    if need_weight:
        g_w = g_w.transpose(0, 1) if ctx.up > 1 else g_w
        g_weight = g_w * (d[0][:, None] * s[0][None, :])[..., None, None]
    return g_x, g_s, g_weight


def _scaled_backward(ctx, g, x, weight, s, kf, need_in, need_s, need_weight):
    """N > 1: gradients through conv(x * s, weight); g already carries the factor d."""
    w = weight.transpose(0, 1) if ctx.up > 1 else weight
    xs = x * s.reshape(*s.shape, 1, 1) if need_weight else x
    g_xs, g_w = _conv_backward(ctx, g, xs, w, kf, need_in, need_weight)
    g_s = _dot_hw(g_xs, x) if need_s else None
    g_x = g_xs.mul_(s.reshape(*s.shape, 1, 1)) if need_in else None
    if need_weight and ctx.up > 1:
        g_w = g_w.transpose(0, 1)
    return g_x, g_s, g_w


def _demod_grad(gy, g, y, noise, b, d, slope: float, clamped: bool, dot_y=None) -> torch.Tensor:
    """dL/dd_o = <g_o, c_o> with c_o * d_o = pre_o - noise - b_o (pre = leaky^-1(y)), [N, O].

    Unclamped, g * leaky^-1(y) = gy * y elementwise (slope and 1 / slope cancel), so no inverse is
    formed; dot_y: the part of <gy, y> already known (the toRGB gradient's, ``_rgb_backward``)."""
    out = g.sum(dim=[2, 3]).mul_(-b)
    if noise is not None:
        out -= _noise_dot(g, noise)
    if clamped:             # clamped pixels have g = 0; elsewhere invert the activation
        return out.add_(_dot_hw(g, F.leaky_relu(y, 1 / slope) if slope not in (0.0, 1.0) else y)).div_(d)
    if gy is not None:
        out += _dot_hw(gy, y)
    if dot_y is not None:
        out += dot_y
    return out.div_(d)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, HW, C] (a view for channels-last; a copy otherwise)."""
    n, c, h, w = t.shape
    return t.permute(0, 2, 3, 1).reshape(n, h * w, c)


def _rgb_forward(y: torch.Tensor, rgb_w: torch.Tensor) -> torch.Tensor:
    """rgb_w [N, K, C] applied at every pixel of y [N, C, H, W] (a modulated 1x1 conv) -> [N, K, H, W]."""
    n, c, h, w = y.shape
    if y.is_contiguous():
        return torch.bmm(rgb_w, y.reshape(n, c, h * w)).reshape(n, -1, h, w)
    return torch.bmm(_rows(y), rgb_w.transpose(1, 2)).reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _rgb_backward(gy: torch.Tensor | None, g_rgb: torch.Tensor, y: torch.Tensor,
                  rgb_w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dL/drgb_w [N, K, C], gy + rgb_w^T g_rgb in a fresh buffer laid out like y)."""
    n, c, h, w = y.shape
    if y.is_contiguous():
        yf, gr = y.reshape(n, c, h * w), g_rgb.reshape(n, -1, h * w)
        g_w = torch.bmm(gr, yf.transpose(1, 2))
        total = (torch.bmm(rgb_w.transpose(1, 2), gr) if gy is None else
                 torch.baddbmm(gy.reshape(n, c, h * w), rgb_w.transpose(1, 2), gr))
        return g_w, total.reshape(n, c, h, w)
    yf, gr = _rows(y), _rows(g_rgb)
    g_w = torch.bmm(gr.transpose(1, 2), yf)
    total = torch.bmm(gr, rgb_w) if gy is None else torch.baddbmm(_rows(gy), gr, rgb_w)
    return g_w, total.reshape(n, h, w, c).permute(0, 3, 1, 2)


def _act_backward(gy: torch.Tensor, y: torch.Tensor, slope: float, clamp: float | None, *,
                  inplace: bool = False) -> torch.Tensor:
    """Gradient through clamp(leaky(v)) from its output y: zero where clamped, slope where y <= 0.
    A fresh tensor, or gy itself when ``inplace`` (gy must then be the caller's own buffer)."""
    if inplace:
        g = gy if slope == 1 else torch.ops.aten.leaky_relu_backward.grad_input(gy, y, slope, False, grad_input=gy)
    elif slope != 1:
        g = torch.ops.aten.leaky_relu_backward(gy, y, slope, False)
    else:
        g = gy.clone(memory_format=torch.preserve_format)
    if clamp is not None:
        torch.ops.aten.hardtanh_backward.grad_input(g, y, -clamp, clamp, grad_input=g)
    return g


# --------------------------------------------------------------------------- layers
class FullyConnectedLayer(nn.Module):
    """Equalised-lr dense layer: act(x (W g)^T + b lr) with g = lr / sqrt(fan_in)."""

    def __init__(self, in_features: int, out_features: int, *, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight * self.weight_gain).t())
        return bias_act(x, self.bias * self.bias_gain, self.activation)


class MappingNetwork(nn.Module):
    """z [N, z_dim] -> w [N, w_dim]: normalise z, then ``mapping_layers`` dense layers."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = cfg.z_dim, cfg.w_dim, cfg.mapping_layers
        hidden = cfg.mapping_features or cfg.w_dim
        feats = [cfg.z_dim] + [hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        for idx in range(cfg.mapping_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(feats[idx], feats[idx + 1], activation=cfg.mapping_activation,
                                                          lr_multiplier=cfg.mapping_lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self, z: torch.Tensor, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] -> w [N, w_dim], truncated towards w_avg by psi (w = w_avg + psi (w - w_avg))."""
        if truncation_cutoff is not None:
            raise ValueError("truncation_cutoff truncates only the first layers of ws: use "
                             "G.mapping_ws(z, truncation_psi=..., truncation_cutoff=...)")
        _check_shape(z, (None, self.z_dim), "z")
        x = normalize_2nd_moment(z.to(torch.float32))
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if truncation_psi != 1:
            x = self.w_avg.lerp(x, truncation_psi)
        return x


# Noise maps that replace layers' noise_const in this thread / task only ({layer: [N, 1, H, W] or [H, W]});
# set by ``noise_override``.  The model registry shares one generator between every session and thread, so
# noise optimisation must never swap the buffers on the module itself (torch.func.functional_call did: with
# two inversions at once, a concurrent render failed on the other run's shapes and the shared model kept one
# run's noise maps for good).
_NOISE_OVERRIDE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ganinv_noise_override", default=None)


@contextlib.contextmanager
def noise_override(G: nn.Module, noises: dict[str, torch.Tensor]):
    """Within the block, G renders with ``noises`` ({buffer name ending in noise_const: map}) instead of those
    buffers with ``noise_mode="const"``, in the calling thread only; G itself is never changed."""
    layers = {G.get_submodule(name.rpartition(".")[0]): noise for name, noise in noises.items()}
    token = _NOISE_OVERRIDE.set(layers)
    try:
        yield
    finally:
        _NOISE_OVERRIDE.reset(token)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) + noise + bias + activation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, cfg: StyleGAN2Config,
                 *, up: int = 1, kernel_size: int = 3):
        super().__init__()
        self.resolution, self.up, self.padding = resolution, up, kernel_size // 2
        self.use_noise, self.activation, self.conv_clamp = cfg.use_noise, cfg.synthesis_activation, cfg.conv_clamp
        self.register_buffer("resample_filter", make_filter(cfg.resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if cfg.use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self._consts: dict[str, tuple] = {}          # _const: tensors derived from weight / filter

    def forward(self, x: torch.Tensor, style: torch.Tensor, *, noise_mode: str, fused: bool | str) -> torch.Tensor:
        _check_shape(x, (None, self.weight.shape[1], self.resolution // self.up, self.resolution // self.up), "x")
        if fused == "auto":
            return self._forward_auto(x, style, noise_mode)
        x = modulated_conv2d(x, self.weight, style, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused=fused)
        noise = self._noise(x, noise_mode)
        if noise is not None:
            x = x + noise
        return bias_act(x, self.bias, self.activation, clamp=self.conv_clamp)

    def _const(self, name: str, make) -> torch.Tensor:
        """make(), a tensor that depends only on the weight and the filter: cached while both are
        unchanged (version counter, storage, device, dtype) and the weight is not being trained."""
        w, f = self.weight, self.resample_filter
        if w.requires_grad and torch.is_grad_enabled():
            return make()
        key = (w._version, w.data_ptr(), w.device, w.dtype, f._version, f.data_ptr())
        hit = self._consts.get(name)
        if hit is None or hit[0] != key:
            with torch.no_grad():
                hit = self._consts[name] = (key, make())
        return hit[1]

    def _noise(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        """B * strength: [N, 1, H, W] random, or noise_const [H, W] (or, inside ``noise_override``, this
        thread's map for the layer, e.g. noise optimisation's per-sample [N, 1, H, W]), or None."""
        if self.use_noise and noise_mode == "random":
            return torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            override = _NOISE_OVERRIDE.get()
            noise = override.get(self) if override else None
            return (self.noise_const if noise is None else noise) * self.noise_strength
        return None

    def _forward_auto(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str,
                      rgb_w: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The same layer as one autograd node (``_SynthesisLayerFn``); with rgb_w, (x, toRGB product)."""
        gain = ACTIVATIONS[self.activation][1]
        wsq = self._const("wsq", lambda: self.weight.square().sum(dim=[2, 3]).t())               # [I, O]
        dcoefs = (style.square() @ wsq + 1e-8).rsqrt()                                           # [N, O], Eq. 3
        noise = self._noise(x, noise_mode)
        noise = None if noise is None else noise * gain
        kf = fir_pad = None
        if self.up > 1:
            pt, p0, p1 = _up_geometry(self.padding, self.weight.shape[-1], self.resample_filter.shape[-1], self.up)
            fir_pad = (p0, p1, pt)
            kf = self._const("fir", lambda: _fir_weight(self.resample_filter, self.weight.shape[0], self.up ** 2))
        return _SynthesisLayerFn.apply(x, self.weight, style, dcoefs * gain, noise, self.bias * gain, rgb_w,
                                       self.up, self.padding, kf, fir_pad, _LEAKY_SLOPE[self.activation],
                                       self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation (paper Fig. 7b)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, *, fused: bool | str) -> torch.Tensor:
        # Equalised lr of the conv weight is applied to the style (same product, fewer flops).
        if fused == "auto":
            x = _rgb_forward(x, self.modulated_weight(style))
        else:
            x = modulated_conv2d(x, self.weight, style * self.weight_gain, demodulate=False, fused=fused)
        return bias_act(x, self.bias, "linear", clamp=self.conv_clamp)

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """Per-sample 1x1 weight [N, C_img, C] (Eq. 1 without demodulation; equalised lr on the style)."""
        return self.weight[None, :, :, 0, 0] * (style * self.weight_gain)[:, None, :]


class SynthesisBlock(nn.Module):
    """One resolution: [const | up-conv0], conv1, toRGB; the image skip is upsampled and summed."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, cfg: StyleGAN2Config):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.img_channels = cfg.img_channels
        self.register_buffer("resample_filter", make_filter(cfg.resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, cfg.w_dim, resolution, cfg, up=2)
        self.conv1 = SynthesisLayer(out_channels, out_channels, cfg.w_dim, resolution, cfg)
        self.torgb = ToRGBLayer(out_channels, cfg.img_channels, cfg.w_dim, cfg.conv_clamp)
        self.layer_names = ("conv1", "torgb") if in_channels == 0 else ("conv0", "conv1", "torgb")
        self.num_conv = len(self.layer_names) - 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, styles: list[torch.Tensor], *,
                noise_mode: str, fused: bool | str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([styles[0].shape[0], 1, 1, 1])
        if fused == "auto":
            return self._forward_auto(x, img, styles, noise_mode)
        if self.in_channels == 0:
            x = self.conv1(x, styles[0], noise_mode=noise_mode, fused=fused)
        else:
            x = self.conv0(x, styles[0], noise_mode=noise_mode, fused=fused)
            x = self.conv1(x, styles[1], noise_mode=noise_mode, fused=fused)
        y = self.torgb(x, styles[-1], fused=fused)
        return x, (y if img is None else upsample2d(img, self.resample_filter).add_(y))

    def _forward_auto(self, x: torch.Tensor, img: torch.Tensor | None, styles: list[torch.Tensor],
                      noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The fast path: channels-last from AUTO_CHANNELS_LAST_MIN_RES up, toRGB inside conv1's node."""
        if self.resolution >= AUTO_CHANNELS_LAST_MIN_RES:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.in_channels != 0:
            x = self.conv0(x, styles[0], noise_mode=noise_mode, fused="auto")
        x, y = self.conv1._forward_auto(x, styles[-2], noise_mode, self.torgb.modulated_weight(styles[-1]))
        y = bias_act(y, self.torgb.bias, "linear", clamp=self.torgb.conv_clamp)
        return x, (y if img is None else _upsample2d_auto(img, self.resample_filter).add_(y))


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] (or styles) -> img [N, C, R, R]."""

    def __init__(self, cfg: StyleGAN2Config, fused_modconv: bool | str = DEFAULT_FUSED_MODCONV):
        super().__init__()
        self.w_dim, self.num_ws, self.img_channels = cfg.w_dim, cfg.num_ws, cfg.img_channels
        self.block_resolutions = cfg.block_resolutions
        self.fused_modconv = _check_fused(fused_modconv)
        for res in self.block_resolutions:
            in_ch = cfg.channels(res // 2) if res > 4 else 0
            setattr(self, f"b{res}", SynthesisBlock(in_ch, cfg.channels(res), res, cfg))
        # style name -> (block, layer, index into ws).  conv layers take consecutive ws; each
        # toRGB shares its w with the next block's first conv (StyleGAN2 layout, 18 ws at 1024 px).
        self.style_index: dict[str, tuple[str, str, int]] = {}
        idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            for name in block.layer_names:
                self.style_index[f"b{res}.{name}"] = (f"b{res}", name, idx)
                idx += name != "torgb"

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(f"b{r}" for r in self.block_resolutions)

    @property
    def style_dims(self) -> dict[str, int]:
        """Style name ("b8.conv0", ...) -> number of channels, in synthesis order."""
        return {k: getattr(getattr(self, b), n).affine.weight.shape[0] for k, (b, n, _) in self.style_index.items()}

    def _check_ws(self, ws: torch.Tensor) -> None:
        _check_shape(ws, (None, self.num_ws, self.w_dim), "ws")

    def styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """ws [N, num_ws, w_dim] -> {style name: s [N, channels]}, the affine outputs (StyleSpace S)."""
        self._check_ws(ws)
        ws = ws.to(torch.float32)
        return {k: getattr(getattr(self, b), n).affine(ws[:, i]) for k, (b, n, i) in self.style_index.items()}

    def _block_styles(self, blocks: list[str], ws: torch.Tensor | None,
                      styles: dict[str, torch.Tensor] | None) -> dict[str, list[torch.Tensor]]:
        """Styles per block, taken from ``styles`` where given, else computed from ws."""
        styles = styles or {}
        unknown = set(styles) - set(self.style_index)
        if unknown:
            raise KeyError(f"unknown style names {sorted(unknown)}; known: {list(self.style_index)}")
        if ws is not None:
            self._check_ws(ws)
            ws = ws.to(torch.float32)
        out: dict[str, list[torch.Tensor]] = {b: [] for b in blocks}
        for k, (b, n, i) in self.style_index.items():
            if b not in out:
                continue
            layer = getattr(getattr(self, b), n)
            if k in styles:
                _check_shape(styles[k], (None, layer.affine.weight.shape[0]), f"styles[{k!r}]")
                out[b].append(styles[k].to(torch.float32))
            elif ws is None:
                raise ValueError(f"style {k!r} is not given and ws is None: pass ws or every style")
            else:
                out[b].append(layer.affine(ws[:, i]))
        return out

    def _run(self, blocks: list[str], x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor | None,
             styles: dict[str, torch.Tensor] | None, noise_mode: str,
             fused_modconv: bool | str | None) -> tuple[torch.Tensor, torch.Tensor]:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        fused = self.fused_modconv if fused_modconv is None else _check_fused(fused_modconv)
        per_block = self._block_styles(blocks, ws, styles)
        for b in blocks:
            x, img = getattr(self, b)(x, img, per_block[b], noise_mode=noise_mode, fused=fused)
        return x, img

    def forward(self, ws: torch.Tensor | None = None, *, styles: dict[str, torch.Tensor] | None = None,
                noise_mode: str = "random", fused_modconv: bool | str | None = None) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> img [N, C, R, R].  ``styles`` overrides the affine outputs
        of the named layers (StyleSpace editing); with every style given, ws may be None."""
        return self._run(list(self.layer_names), None, None, ws, styles, noise_mode, fused_modconv)[1]

    def features(self, ws: torch.Tensor, layer: str, *, styles: dict[str, torch.Tensor] | None = None,
                 noise_mode: str = "random", fused_modconv: bool | str | None = None) -> torch.Tensor:
        """Output of block ``layer`` as [N, C_layer + img_channels, r, r]: the features and the
        partial skip image concatenated, because the skip architecture carries both."""
        stop = self.layer_names.index(layer) + 1
        x, img = self._run(list(self.layer_names[:stop]), None, None, ws, styles, noise_mode, fused_modconv)
        return torch.cat([x, img], dim=1)

    def synthesis_from(self, feats: torch.Tensor, layer: str, ws: torch.Tensor | None, *,
                       styles: dict[str, torch.Tensor] | None = None, noise_mode: str = "random",
                       fused_modconv: bool | str | None = None) -> torch.Tensor:
        """Continue from ``features(ws, layer)`` output to the image (uses ws of later blocks only)."""
        start = self.layer_names.index(layer)
        block = getattr(self, layer)
        c = block.out_channels
        _check_shape(feats, (None, c + self.img_channels, block.resolution, block.resolution), f"features at {layer}")
        x, img = feats[:, :c], feats[:, c:]
        return self._run(list(self.layer_names[start + 1:]), x, img, ws, styles, noise_mode, fused_modconv)[1]


# --------------------------------------------------------------------------- generator
class StyleGAN2Generator(Generator):
    """StyleGAN2 behind the ganinv Generator interface.

    ``G.mapping`` and ``G.synthesis`` are the sub-networks themselves (callable as the
    interface's methods), so state_dict keys read ``mapping.fc0.weight``,
    ``synthesis.b4.const``, ... exactly like NVIDIA's.
    """

    family = "stylegan2"
    spaces = ("Z", "W", "W+", "S")

    def __init__(self, config: StyleGAN2Config = StyleGAN2Config(), name: str = "stylegan2", *,
                 fused_modconv: bool | str = DEFAULT_FUSED_MODCONV):
        super().__init__()
        self.config = config
        self.name = name
        self.z_dim, self.w_dim, self.num_ws = config.z_dim, config.w_dim, config.num_ws
        self.resolution, self.img_channels = config.resolution, config.img_channels
        # Module.__setattr__ stores these in _modules; the properties below expose them under
        # the interface's method names (and keep getattr-based tools like functional_call working).
        self.synthesis = SynthesisNetwork(config, fused_modconv)
        self.mapping = MappingNetwork(config)
        self.eval()

    mapping = property(lambda self: self._modules["mapping"], doc="MappingNetwork: z [N, z_dim] -> w [N, w_dim]")
    synthesis = property(lambda self: self._modules["synthesis"],
                         doc="SynthesisNetwork: ws [N, num_ws, w_dim] -> img [N, C, R, R] in about [-1, 1]")

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    @property
    def fused_modconv(self) -> bool | str:
        return self.synthesis.fused_modconv

    @fused_modconv.setter
    def fused_modconv(self, value: bool | str) -> None:
        self.synthesis.fused_modconv = _check_fused(value)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Synthesis blocks "b4", "b8", ..., f"b{resolution}" (input side first)."""
        return self.synthesis.layer_names

    def layer_shape(self, layer: str) -> tuple[int, int, int]:
        """[C, H, W] of ``features(ws, layer)`` (block channels + image channels)."""
        block = getattr(self.synthesis, layer)
        return (block.out_channels + self.img_channels, block.resolution, block.resolution)

    def mapping_ws(self, z: torch.Tensor, *, truncation_psi: float = 1.0,
                   truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] -> ws [N, num_ws, w_dim]; truncation applies to ws[:, :cutoff] only."""
        ws = self.broadcast(self.mapping(z))
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws = torch.cat([self.w_avg.lerp(ws[:, :cut], truncation_psi), ws[:, cut:]], dim=1)
        return ws

    def forward(self, z: torch.Tensor, *, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping_ws(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, **synthesis_kwargs)

    # StyleSpace (Wu et al. 2021): S = the concatenated affine outputs of every layer.
    def styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """ws [N, num_ws, w_dim] -> {"b4.conv1": s [N, C], "b4.torgb": ..., ...} in synthesis order."""
        return self.synthesis.styles(ws)

    @property
    def style_dims(self) -> dict[str, int]:
        return self.synthesis.style_dims

    def pack_styles(self, styles: dict[str, torch.Tensor]) -> torch.Tensor:
        """Style dict -> flat S code [N, sum(style_dims)] (9088 channels at 1024 px)."""
        return torch.cat([styles[k] for k in self.style_dims], dim=1)

    def unpack_styles(self, s: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat S code [N, sum(style_dims)] -> style dict (views into s)."""
        dims = self.style_dims
        _check_shape(s, (None, sum(dims.values())), "S code")
        return dict(zip(dims, s.split(list(dims.values()), dim=1)))

    def features(self, ws: torch.Tensor, layer: str, **kwargs) -> torch.Tensor:
        return self.synthesis.features(ws, layer, **kwargs)

    def synthesis_from(self, x: torch.Tensor, layer: str, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.synthesis.synthesis_from(x, layer, ws, **kwargs)

    def export_config(self) -> dict:
        return {"family": self.family, **self.config.to_dict()}
