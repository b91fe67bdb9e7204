"""Learned encoders E: image -> latent (domain-guided, force-in-domain and e4e).

1. Domain-guided encoder, Zhu et al., "In-Domain GAN Inversion for Real Image Editing"
   (ECCV 2020), Sec. 3.1, eq. 3 (its two lines: encoder, discriminator).  The encoder is trained in
   *image* space, so its codes are ones the generator renders well:

       min_E  ||x - G(E(x))||_2  +  l_vgg ||F(x) - F(G(E(x)))||_2  -  l_adv E_x[D(G(E(x)))]
       min_D  E_x[D(G(E(x)))] - E_x[D(x)] + r1_gamma/2 E_x[||grad_x D(x)||_2^2]

   with the norms as per-element mean squared errors and the adversarial terms in the
   non-saturating softplus form (softplus(-t) for -t), as in the authors' released training
   code, and R1 (Mescheder et al. 2018) on reals, applied lazily every ``r1_every`` steps.
2. Force-in-domain, Leng et al., "Force-in-domain GAN inversion" (2021), Sec. 3: a latent
   discriminator D_w separates E(x) from sampled latents (z ~ N(0, I) or w = f(z)) and adds
   - l_latent E_x[D_w(E(x))] to (3), which pulls the codes into the latent distribution.
   ``latent_frechet_distance`` reports how far they are (Frechet distance of Gaussians).
3. e4e, Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (SIGGRAPH 2021),
   Sec. 3.2-3.3: W+ code = (w, w + Delta_1, ..., w + Delta_{N-1}); eq. 3 L_d-reg =
   sum_i ||Delta_i||_2; progressive training unlocks one more Delta_i every ``unlock_every``
   steps; eq. 4-5: a latent discriminator on w and every w + Delta_i vs w = f(z), with R1.

Legend (variable -> paper symbol): ``E`` -> E, ``D`` -> D, ``Dw`` -> D_w / D_W, ``l_vgg`` ->
lambda_vgg, ``l_adv`` -> lambda_adv, ``r1_gamma`` -> gamma, ``l_latent`` -> force-in-domain
weight, ``l_delta`` -> lambda_d-reg, ``deltas`` -> Delta_i.

Perceptual term F.  ``perceptual="discriminator"`` (the default for training) compares the
image discriminator's intermediate features (the learned similarity of Larsen et al., ICML
2016).  Why not the paper's VGG: on this project's 2-core CPU, ganinv.losses'
perceptual metric (shift-tolerant LPIPS-VGG, the only complete offline one) costs 6.6 s
fwd+bwd for 16 images at 64 px, ~8x the generator, which would cut a one-hour training
run to a few hundred steps.  ``perceptual="auto" | "lpips" | "stlpips"`` selects
``ganinv.losses.perceptual_metric`` when time allows (GPU); evaluation always uses it.

Optional code regression.  On generator samples x = G(z) the true code is known, and
``l_code`` adds ||z - E(x)||^2 (the encoder loss of Zhu et al., "Generative Visual
Manipulation on the Natural Image Manifold", ECCV 2016, Sec. 3).  In-domain inversion shows
it is not enough on its own (Sec. 3.1); as a small auxiliary term it costs nothing and keeps
early codes in the Gaussian shell.  Off by default.

Checkpoints: ``<stem>.safetensors`` (encoder weights, config in the header metadata),
``<stem>.json`` (config + training metadata), ``<stem>.log.json`` (training log) and, for
resuming, ``<stem>.state.safetensors`` (discriminators and optimiser moments).  Every file is
written to a temporary file and renamed into place.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write
from ..latent import latent_shape, to_ws
from ..losses import image_metrics, perceptual_metric
from ..models.base import Generator
from ..settings import ProgressFn
from ..registry import checkpoints_dir
from ..io import MAX_META_BYTES, center_crop_resize, list_images, load_image, pil_to_tensor

FORMAT = "ganinv-encoder/1"
MAX_RESOLUTION, MAX_WIDTH, MAX_WS = 1024, 4096, 64     # bounds on an encoder config read from a file


# --------------------------------------------------------------------------- networks
@dataclass(frozen=True)
class EncoderConfig:
    resolution: int = 64               # input image size (the generator's resolution)
    img_channels: int = 3
    space: str = "Z"                   # latent space produced: "Z" | "W" | "W+"
    latent_dim: int = 100              # z_dim for Z, w_dim for W / W+
    num_ws: int = 1                    # codes per image (G.num_ws for W+, else 1)
    channel_base: int = 16             # channels at full resolution, doubled per halving
    channel_max: int = 256             # channel cap
    e4e: bool = False                  # W+ as a base code plus per-layer offsets (Tov et al.)
    model: str = ""                    # registry name of the generator it inverts

    @classmethod
    def for_generator(cls, G: Generator, *, space: str | None = None, e4e: bool = False,
                      channel_base: int = 16, channel_max: int = 256) -> "EncoderConfig":
        space = space or ("W+" if e4e else ("W" if G.supports("W") else "Z"))
        latent_shape(G, space)
        if e4e and space != "W+":
            raise ValueError("the e4e encoder produces W+ codes: use space='W+'")
        dim = G.z_dim if space == "Z" else G.w_dim
        return cls(G.resolution, G.img_channels, space, dim, G.num_ws if space == "W+" else 1,
                   channel_base, channel_max, e4e, G.name)

    def stages(self) -> list[tuple[int, int, int]]:
        """(resolution, in_channels, out_channels) of each down-sampling stage, down to 4x4."""
        n = int(math.log2(self.resolution)) - 2
        assert self.resolution == 4 * 2 ** n, f"resolution must be a power of two >= 4, got {self.resolution}"
        ch = [min(self.channel_base * 2 ** i, self.channel_max) for i in range(n + 1)]
        return [(self.resolution // 2 ** i, ch[i], ch[i + 1]) for i in range(n)]


def _conv_trunk(config: EncoderConfig) -> tuple[nn.Sequential, int]:
    """Image -> [N, C, 4, 4]: a 3x3 conv, then one strided conv4x4/2 + GroupNorm + lrelu per stage.

    Deliberately small (about 1M parameters at 64 px): it must train in an hour on a CPU.

    GroupNorm, not BatchNorm: an image's code must not depend on the rest of its batch.
    """
    stages = config.stages()
    c0 = stages[0][1] if stages else config.channel_base
    layers: list[nn.Module] = [nn.Conv2d(config.img_channels, c0, 3, 1, 1), nn.LeakyReLU(0.2)]
    for _, cin, cout in stages:
        layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2)]
    c_last = stages[-1][2] if stages else c0
    return nn.Sequential(*layers), c_last * 16


class Encoder(nn.Module):
    """E: img [N, C, R, R] in [-1, 1] -> latent [N, latent_dim] (Z / W) or [N, num_ws, latent_dim] (W+)."""

    def __init__(self, config: EncoderConfig, latent_avg: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        self.trunk, feat = _conv_trunk(config)
        d, n = config.latent_dim, config.num_ws
        # Codes are predicted as offsets from the mean latent (w_avg for StyleGAN, 0 for Z),
        # so an untrained encoder starts in the well-rendered centre of the space.
        self.register_buffer("latent_avg", torch.zeros(d) if latent_avg is None else latent_avg.detach().clone())
        if config.e4e:
            self.head = nn.Linear(feat, d)                         # base code w
            self.delta_head = nn.Linear(feat, (n - 1) * d)         # offsets Delta_1..Delta_{N-1}
            nn.init.zeros_(self.delta_head.weight)
            nn.init.zeros_(self.delta_head.bias)
            # Progressive training state (e4e Sec. 3.3): how many offsets are unlocked.
            self.register_buffer("num_active", torch.tensor(0, dtype=torch.int64))
        else:
            self.head = nn.Linear(feat, n * d)

    @property
    def space(self) -> str:
        return self.config.space

    def parts(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(base code [N, d] or [N, num_ws, d], offsets [N, num_ws - 1, d] or None)."""
        c = self.config
        assert img.ndim == 4 and img.shape[1:] == (c.img_channels, c.resolution, c.resolution), \
            f"E expects [N, {c.img_channels}, {c.resolution}, {c.resolution}], got {tuple(img.shape)}"
        h = self.trunk(img).flatten(1)
        base = self.head(h)
        if not c.e4e:
            base = base + self.latent_avg if c.num_ws == 1 else base.view(-1, c.num_ws, c.latent_dim) + self.latent_avg
            return base, None
        base = base + self.latent_avg                                      # [N, d]
        deltas = self.delta_head(h).view(-1, c.num_ws - 1, c.latent_dim)   # [N, num_ws - 1, d]
        mask = (torch.arange(c.num_ws - 1, device=img.device) < self.num_active).to(deltas.dtype)
        return base, deltas * mask[None, :, None]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        base, deltas = self.parts(img)
        if deltas is None:
            return base
        return torch.cat([base[:, None], base[:, None] + deltas], dim=1)   # [N, num_ws, d]


class ImageDiscriminator(nn.Module):
    """D: img -> logit [N]; ``features`` also returns the activations used as learned F."""

    def __init__(self, resolution: int, img_channels: int = 3, channel_base: int = 16, channel_max: int = 256):
        super().__init__()
        n = int(math.log2(resolution)) - 2
        ch = [min(channel_base * 2 ** i, channel_max) for i in range(n + 1)]
        self.blocks = nn.ModuleList()
        cin = img_channels
        for i in range(n):
            self.blocks.append(nn.Sequential(nn.Conv2d(cin, ch[i + 1], 4, 2, 1), nn.LeakyReLU(0.2)))
            cin = ch[i + 1]
        self.out = nn.Linear(cin * 16, 1)

    def features(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats, h = [], img
        for b in self.blocks:
            h = b(h)
            feats.append(h)
        return self.out(h.flatten(1)).squeeze(1), feats

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.features(img)[0]


class LatentDiscriminator(nn.Module):
    """D_w: code [N, d] -> logit [N] (an MLP, as in Leng et al. and e4e)."""

    def __init__(self, dim: int, hidden: int = 256, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = []
        c = dim
        for _ in range(layers):
            mods += [nn.Linear(c, hidden), nn.LeakyReLU(0.2)]
            c = hidden
        mods.append(nn.Linear(c, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).squeeze(-1)


# --------------------------------------------------------------------------- latent helpers
def encode(E: Encoder, img: torch.Tensor, *, batch: int = 64) -> torch.Tensor:
    """E(img) without gradients, in chunks: [N, *latent_shape(E.space)]."""
    with torch.no_grad():
        return torch.cat([E(c) for c in img.split(batch)])


def sample_latents(G: Generator, n: int, space: str, *, seed: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of the generator's latent distribution in ``space``, [n, d] (W+: single w's)."""
    with torch.no_grad():
        z = G.sample_z(n, seed=seed) if generator is None else \
            torch.randn(n, G.z_dim, generator=generator).to(G.device)
        return z if space == "Z" else G.mapping(z)


def latent_frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to codes a [N, d] and b [M, d].

    FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)); the trace of the matrix
    square root is computed from the eigenvalues of S_a^(1/2) S_b S_a^(1/2) (symmetric PSD).
    """
    a, b = a.double().flatten(1), b.double().flatten(1)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    ev, vec = torch.linalg.eigh(s_a)
    root_a = vec @ torch.diag(ev.clamp_min(0).sqrt()) @ vec.T
    cross = torch.linalg.eigvalsh(root_a @ s_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + s_a.trace() + s_b.trace() - 2 * cross)


# --------------------------------------------------------------------------- checkpoints
def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    with atomic_write(path) as tmp:
        write(tmp)


def _write_json(path: str, obj) -> None:
    def w(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
    _atomic_write(path, w)


def checkpoint_paths(path: str) -> dict[str, str]:
    """The files of a checkpoint, from its ``.safetensors`` path (or stem)."""
    stem = path[:-len(".safetensors")] if path.endswith(".safetensors") else path
    return {"weights": stem + ".safetensors", "config": stem + ".json", "log": stem + ".log.json",
            "state": stem + ".state.safetensors"}


def save_encoder(E: Encoder, path: str, *, metadata: dict | None = None, log: list[dict] | None = None) -> dict:
    """Write the encoder's weights (+ config in the header), its JSON config and its log."""
    paths = checkpoint_paths(path)
    config = {"format": FORMAT, "config": asdict(E.config), **(metadata or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in E.state_dict().items()}
    _atomic_write(paths["weights"], lambda tmp: save_file(state, tmp, metadata={"ganinv": json.dumps(config)}))
    _write_json(paths["config"], config)
    if log is not None:
        _write_json(paths["log"], log)
    return paths


def encoder_path(name_or_path: str) -> str:
    """A registry name (``celeba-dcgan-64``) -> ``checkpoints/encoder-<name>.safetensors``; paths pass through."""
    if name_or_path.endswith(".safetensors") or os.sep in name_or_path:
        return name_or_path
    return os.path.join(checkpoints_dir(), f"encoder-{name_or_path}.safetensors")


def load_encoder(name_or_path: str, *, G: Generator | None = None, device: str | torch.device = "cpu") -> Encoder:
    """Load an encoder checkpoint (safetensors: no code runs); with ``G``, check it fits that model.

    The config in the header decides what is allocated, so it is bounded (``_check_config``) and
    the stored tensors' shapes are compared with the ones it builds on the meta device before any
    real layer exists or any weight is read.
    """
    path = encoder_path(name_or_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no encoder checkpoint at {path}; train one with `python -m ganinv train-encoder`")
    name = os.path.basename(path)
    try:
        with safe_open(path, "pt") as f:
            text = (f.metadata() or {}).get("ganinv", "{}")
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        meta = json.loads(text) if len(text) <= MAX_META_BYTES else None
    except Exception as e:  # noqa: BLE001 - a corrupt file in any way is one user error
        raise ValueError(f"{name} is not a readable encoder checkpoint ({type(e).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{name} is not a ganinv encoder checkpoint")
    config = _check_config(meta.get("config"), name)
    if G is not None:
        _check_fits(config, G)
    with torch.device("meta"):                              # shapes only: no memory
        want = {k: tuple(v.shape) for k, v in Encoder(config).state_dict().items()}
    if stored != want:
        raise ValueError(f"{name}: the stored weights do not match the encoder's config")
    E = Encoder(config)
    E.load_state_dict(load_file(path), strict=True)
    E.metadata = meta
    return E.to(device).eval().requires_grad_(False)


def _check_config(config: object, name: str) -> EncoderConfig:
    """An encoder config from a file, within bounds (a crafted one could ask for gigabytes of weights)."""
    try:
        c = EncoderConfig(**config)
        ints = (c.resolution, c.img_channels, c.latent_dim, c.num_ws, c.channel_base, c.channel_max)
        ok = (all(type(v) is int for v in ints) and type(c.e4e) is bool and isinstance(c.model, str)
              and 4 <= c.resolution <= MAX_RESOLUTION and c.resolution & (c.resolution - 1) == 0
              and 1 <= c.img_channels <= 4 and c.space in ("Z", "W", "W+") and 1 <= c.latent_dim <= MAX_WIDTH
              and 1 <= c.num_ws <= MAX_WS and 1 <= c.channel_base <= MAX_WIDTH and 1 <= c.channel_max <= MAX_WIDTH)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name}: the encoder's config is malformed or out of bounds")
    return c


def _check_fits(config: EncoderConfig, G: Generator) -> None:
    want = EncoderConfig.for_generator(G, space=config.space, e4e=config.e4e)
    if (config.resolution, config.latent_dim, config.num_ws) != (want.resolution, want.latent_dim, want.num_ws):
        raise ValueError(f"this encoder was trained for {config.model!r} ({config.resolution} px, {config.space} "
                         f"dim {config.latent_dim}); it does not fit {G.name!r}")


def _flatten_opt(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous()
               for i, s in sd["state"].items() for k, v in s.items()}
    return tensors, sd["param_groups"]


def _unflatten_opt(prefix: str, tensors: dict[str, torch.Tensor], groups: list, opt: torch.optim.Optimizer) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


# --------------------------------------------------------------------------- training
@dataclass
class EncoderTrainResult:
    encoder: Encoder
    log: list[dict]                            # every ``log_every`` steps: step, losses, seconds
    metadata: dict                             # settings, data source, held-out metrics
    paths: dict[str, str] = field(default_factory=dict)


class _ImageFolder:
    """All images of a folder, centre-cropped to the model size, kept in memory as uint8."""

    def __init__(self, folder: str, resolution: int):
        files = list_images(folder)
        if not files:
            raise ValueError(f"no images in {folder}")
        imgs = [pil_to_tensor(center_crop_resize(load_image(p), resolution)) for p in files]
        self.data = ((torch.cat(imgs) + 1) * 127.5).round().to(torch.uint8)     # [M, 3, R, R]

    def batch(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.data), (n,), generator=gen)
        x = self.data[idx].float() / 127.5 - 1
        flip = torch.rand(n, generator=gen) < 0.5                 # horizontal flips: faces are symmetric
        return torch.where(flip[:, None, None, None], x.flip(3), x)


def _requires_grad(m: nn.Module | None, flag: bool) -> None:
    if m is not None:
        m.requires_grad_(flag)


def _r1(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return g.square().flatten(1).sum(1).mean()


def _discriminator_step(D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor, *,
                        r1_gamma: float, r1_every: int, do_r1: bool) -> tuple[float, float]:
    """One update of D (image or latent): non-saturating logistic loss, lazy R1 on the reals
    (every ``r1_every`` steps, scaled by it).  Returns (loss, r1)."""
    _requires_grad(D, True)
    real = real.detach().requires_grad_(do_r1)
    logit_real, logit_fake = D(real), D(fake.detach())
    loss = F.softplus(logit_fake).mean() + F.softplus(-logit_real).mean()
    r1 = _r1(logit_real, real) if do_r1 else torch.zeros(())
    opt.zero_grad(set_to_none=True)
    (loss + r1_gamma / 2 * r1_every * r1).backward()
    opt.step()
    return loss.item(), r1.item()


@torch.no_grad()
def evaluate_encoder(G: Generator, E: Encoder, *, n: int = 64, seed: int = 1_000_003,
                     images: torch.Tensor | None = None) -> dict:
    """Mean PSNR / SSIM / perceptual of G(E(x)) on ``images`` or on ``n`` held-out generator samples
    (a seed stream the training never uses), plus the latent Frechet distance to sampled codes."""
    x = images if images is not None else \
        torch.cat([G(z, noise_mode="const") for z in G.sample_z(n, seed=seed).split(32)])
    codes = encode(E, x)
    rec = torch.cat([G.synthesis(to_ws(G, c, E.space), noise_mode="const") for c in codes.split(32)])
    rows = image_metrics(rec, x, perceptual=perceptual_metric(x.device))
    flat = codes if E.space != "W+" else codes.flatten(0, 1)
    ref = sample_latents(G, max(len(flat), 2 * latent_shape(G, E.space)[-1]), E.space, seed=seed + 1)
    out = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "perceptual")}
    return {**out, "perceptual_metric": rows[0]["perceptual_metric"], "n": len(rows),
            "latent_fd": latent_frechet_distance(flat, ref),
            "source": "images" if images is not None else f"generator samples (seed {seed})"}


def train_encoder(
    G: Generator,
    *,
    steps: int = 2000,                 # total optimisation steps (counting resumed ones)
    batch: int = 16,                   # images per step
    lr: float = 2e-4,                  # Adam learning rate for E and the discriminators
    l_vgg: float = 1.0,                # lambda_vgg: weight of the perceptual term
    l_adv: float = 0.05,               # lambda_adv: weight of the image-adversarial term
    r1_gamma: float = 10.0,            # gamma: R1 penalty on real images (and real latents)
    r1_every: int = 4,                 # lazy R1 (StyleGAN2 Sec. 3.1): every k steps, weighted by k
    l_code: float = 0.0,               # generator samples only: + l_code ||z - E(G(z))||^2 (see docstring)
    l_latent: float = 0.0,             # latent-adversarial weight: force-in-domain / e4e (0: off; e4e used 0.1)
    space: str | None = None,          # latent space of E; default W for StyleGAN2, Z for DCGANs
    e4e: bool = False,                 # e4e encoder (W+ = w + offsets), StyleGAN2 only
    l_delta: float = 2e-4,             # e4e lambda_d-reg on the offsets
    unlock_every: int = 200,           # e4e: steps between unlocking another offset
    perceptual: str = "discriminator",  # F: "discriminator" | "auto" | "lpips" | "stlpips"
    images_dir: str | None = None,     # folder of real training images; None: generator samples
    channel_base: int = 16,            # encoder / discriminator width
    resume: str | None = None,         # checkpoint path to continue from (if it exists)
    save_path: str | None = None,      # where to write checkpoints (default: resume)
    save_every: int = 200,             # steps between checkpoints
    log_every: int = 10,               # steps between log rows
    max_seconds: float | None = None,  # stop (and save) after this much wall time
    eval_samples: int = 64,            # held-out samples for the final PSNR
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> EncoderTrainResult:
    """Train an in-domain encoder for ``G`` (objectives in the module docstring); returns it with its log."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "progress", "t0")}
    device = G.device
    config = EncoderConfig.for_generator(G, space=space, e4e=e4e, channel_base=channel_base)
    save_path = save_path or resume
    latent_avg = None if config.space == "Z" else G.w_avg
    E = Encoder(config, latent_avg).to(device).train()
    D = ImageDiscriminator(G.resolution, G.img_channels, channel_base).to(device)
    use_latent_d = l_latent > 0
    Dw = LatentDiscriminator(config.latent_dim).to(device) if use_latent_d else None
    opt_E = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.9, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.9, 0.99))
    opt_Dw = torch.optim.Adam(Dw.parameters(), lr=lr, betas=(0.9, 0.99)) if Dw is not None else None
    data = _ImageFolder(images_dir, G.resolution) if images_dir else None
    source = f"real images from {images_dir} ({len(data.data)})" if data else f"samples of {G.name} (z ~ N(0, I))"
    percept = None if perceptual == "discriminator" else perceptual_metric(device, perceptual)
    gen = torch.Generator().manual_seed(seed)
    log: list[dict] = []
    start, elapsed0 = 0, 0.0

    # 0. Resume: weights, discriminators, optimiser moments, step counter, log.
    if resume and os.path.isfile(checkpoint_paths(resume)["state"]):
        start, elapsed0, log = _load_state(resume, E, D, Dw, opt_E, opt_D, opt_Dw, gen)
    meta = {"model": G.name, "data": source, "perceptual_train": percept.name if percept else
            "discriminator features (Larsen et al. 2016)", "settings": settings}

    def save(step: int) -> dict:
        E.eval()
        paths = save_encoder(E, save_path, metadata={**meta, "steps_done": step,
                                                     "train_seconds": round(elapsed0 + time.time() - t0, 1)}, log=log)
        _save_state(save_path, step, elapsed0 + time.time() - t0, E, D, Dw, opt_E, opt_D, opt_Dw, gen)
        E.train()
        return paths

    step = start
    for step in range(start + 1, steps + 1):
        if e4e:
            # Progressive training (e4e Sec. 3.3): one more offset every ``unlock_every`` steps.
            E.num_active.fill_(min(config.num_ws - 1, (step - 1) // unlock_every))
        with torch.no_grad():
            if data is not None:
                x = data.batch(batch, gen).to(device)
            else:
                z = torch.randn(batch, G.z_dim, generator=gen).to(device)
                x = G(z)                                                            # [B, C, R, R]

        # 1. Encoder step, eq. 3 first line (+ force-in-domain / e4e terms).
        _requires_grad(D, False)
        _requires_grad(Dw, False)
        base, deltas = E.parts(x)
        code = base if deltas is None else torch.cat([base[:, None], base[:, None] + deltas], 1)
        rec = G.synthesis(to_ws(G, code, config.space), noise_mode="const")   # StyleGAN2: fixed noise
        l_rec = (rec - x).square().mean()
        logit_rec, f_rec = D.features(rec)
        if percept is None:
            with torch.no_grad():
                f_x = D.features(x)[1]
            l_p = sum((a - b).square().mean() for a, b in zip(f_x, f_rec))
        else:
            l_p = percept(rec, x).mean()
        l_a = F.softplus(-logit_rec).mean()
        loss = l_rec + l_vgg * l_p + l_adv * l_a
        row = {"step": step, "rec": l_rec.item(), "percep": l_p.item(), "adv_E": l_a.item()}
        if l_code > 0 and data is None and config.space == "Z":
            l_c = (base - z).square().mean()
            loss = loss + l_code * l_c
            row["code"] = l_c.item()
        fake_codes = None
        if Dw is not None:
            fake_codes = code.flatten(0, 1) if code.ndim == 3 else code      # every per-layer code (e4e eq. 4)
            l_w = F.softplus(-Dw(fake_codes)).mean()
            loss = loss + l_latent * l_w
            row["adv_latent"] = l_w.item()
        if deltas is not None:
            l_d = deltas.norm(dim=2).sum(1).mean()                   # e4e eq. 3
            loss = loss + l_delta * l_d
            row["delta_reg"] = l_d.item()
        opt_E.zero_grad(set_to_none=True)
        loss.backward()
        opt_E.step()

        # 2. Image discriminator step, eq. 3 second line, R1 on reals.
        do_r1 = r1_gamma > 0 and step % r1_every == 0
        d_step = dict(r1_gamma=r1_gamma, r1_every=r1_every, do_r1=do_r1)
        l_D, r1 = _discriminator_step(D, opt_D, x, rec, **d_step)
        row.update(D=l_D, r1=r1)

        # 3. Latent discriminator step (force-in-domain / e4e): sampled codes are "real".
        if Dw is not None:
            real = sample_latents(G, len(fake_codes), config.space, generator=gen)
            row["D_latent"], _ = _discriminator_step(Dw, opt_Dw, real, fake_codes, **d_step)

        elapsed = elapsed0 + time.time() - t0
        if step % log_every == 0 or step == steps:
            log.append({**{k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()},
                        "seconds": round(elapsed, 1)})
        if progress and (step % log_every == 0 or step == steps):
            progress(step / steps, f"step {step}/{steps}  rec {row['rec']:.4f}  percep {row['percep']:.4f}")
        out_of_time = max_seconds is not None and time.time() - t0 >= max_seconds
        if save_path and (step % save_every == 0 or step == steps or out_of_time):
            save(step)
        if out_of_time:
            break

    E.eval()
    metrics = evaluate_encoder(G, E, n=eval_samples) if eval_samples > 0 else {}
    meta.update({"steps_done": step, "train_seconds": round(elapsed0 + time.time() - t0, 1), "heldout": metrics})
    paths = {}
    if save_path:
        paths = save_encoder(E, save_path, metadata=meta, log=log)
    return EncoderTrainResult(E.requires_grad_(False), log, meta, paths)


def _save_state(path: str, step: int, elapsed: float, E, D, Dw, opt_E, opt_D, opt_Dw, gen: torch.Generator) -> None:
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, list] = {}
    for prefix, m in (("E", E), ("D", D), ("Dw", Dw)):
        if m is not None:
            tensors.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in m.state_dict().items()})
    for prefix, opt in (("optE", opt_E), ("optD", opt_D), ("optDw", opt_Dw)):
        if opt is not None:
            t, g = _flatten_opt(prefix, opt)
            tensors.update(t)
            groups[prefix] = g
    tensors["rng"] = gen.get_state()
    meta = {"step": step, "elapsed": elapsed, "param_groups": groups}
    header = {"ganinv": json.dumps(meta)}
    _atomic_write(checkpoint_paths(path)["state"], lambda tmp: save_file(tensors, tmp, metadata=header))


def _load_state(path: str, E, D, Dw, opt_E, opt_D, opt_Dw, gen: torch.Generator) -> tuple[int, float, list]:
    paths = checkpoint_paths(path)
    with safe_open(paths["state"], "pt") as f:
        meta = json.loads(f.metadata()["ganinv"])
    tensors = load_file(paths["state"])
    for prefix, m in (("E", E), ("D", D), ("Dw", Dw)):
        if m is not None:
            m.load_state_dict({k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")},
                              strict=True)
    for prefix, opt in (("optE", opt_E), ("optD", opt_D), ("optDw", opt_Dw)):
        if opt is not None:
            _unflatten_opt(prefix, tensors, meta["param_groups"][prefix], opt)
    gen.set_state(tensors["rng"])
    log = json.load(open(paths["log"])) if os.path.isfile(paths["log"]) else []
    return int(meta["step"]), float(meta["elapsed"]), log


__all__ = ["EncoderConfig", "Encoder", "ImageDiscriminator", "LatentDiscriminator", "EncoderTrainResult",
           "train_encoder", "evaluate_encoder", "encode", "sample_latents", "latent_frechet_distance",
           "save_encoder", "load_encoder", "encoder_path", "checkpoint_paths"]
