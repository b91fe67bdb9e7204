"""The encoder's networks: ``Encoder`` (image -> latent, with e4e's W+ deltas) and the image and latent
discriminators its training uses; ``encode`` and the latent-sample helpers."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ...latent import latent_shape
from ...models.base import Generator

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


__all__ = ["MAX_RESOLUTION", "MAX_WIDTH", "MAX_WS", "EncoderConfig", "Encoder", "ImageDiscriminator",
           "LatentDiscriminator", "encode", "sample_latents", "latent_frechet_distance"]
