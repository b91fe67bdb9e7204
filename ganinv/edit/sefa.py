"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021).

The first operation that reads the latent code is affine, y = A z + b, so moving z by
alpha n moves y by alpha A n.  The directions that change y the most solve (Eq. 5)

    n* = argmax_{||n|| = 1} ||A n||^2,

i.e. the eigenvectors of A^T A with the largest eigenvalues (the right singular vectors of
A; the eigenvalues are the squared singular values).  No sampling, no training.

What A is per family (``sefa_weight``):
  dcgan      convTr1 maps z [z_dim] (as a 1x1 input) to a [C, 4, 4] feature map, linearly, and the
             eval-mode batch norm after it is affine too: y_c = s_c (W z)_c + const with
             s_c = gamma_c / sqrt(running_var_c + eps).  The first affine map of z is therefore
             A = diag(s) convTr1.weight, [z_dim, C, 4, 4] reshaped to [C * 16, z_dim] with each
             channel's 16 rows scaled by s_c.  Space: Z.
  stylegan2  every synthesis layer reads w through its affine (style) layer
             ``synthesis.b<res>.<conv0|conv1|torgb>.affine.weight`` [C, w_dim] (NVIDIA naming);
             A = the affine weights of the chosen ws indices stacked row-wise.  Space: W.
             As in the authors' release, each row (one style channel) is scaled to unit norm
             first, so wide layers do not dominate merely by their weight scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from ..models.base import Generator
from .directions import Direction


@dataclass
class Components:
    """Orthonormal latent directions, strongest first (shared by SeFa and GANSpace)."""

    components: torch.Tensor                    # [K, dim], orthonormal rows
    values: torch.Tensor                        # [K] SeFa: eigenvalues of A^T A; GANSpace: explained variance
    space: str                                  # "Z" | "W"
    method: str                                 # "sefa" | "ganspace"
    model: str
    layers: list[int] | None = None             # W+ layers the components are meant for (None: all)
    sources: list[str] = field(default_factory=list)   # parameter / layer names A was built from
    extra: dict = field(default_factory=dict)

    def direction(self, index: int, *, name: str | None = None) -> Direction:
        """Component ``index`` as a Direction (+ has no attribute meaning: check it visually)."""
        if not 0 <= index < len(self.components):
            raise IndexError(f"component {index} of {len(self.components)}")
        return Direction(name=name or f"{self.method}-{index:02d}", model=self.model, space=self.space,
                         vector=self.components[index].detach().cpu().float().numpy(), method=self.method,
                         layers=self.layers,
                         extra={"index": index, "value": float(self.values[index]), "sources": self.sources,
                                **self.extra})


def _dcgan_weight(G: Generator, layers: Sequence[int] | None, include_torgb: bool) -> tuple[torch.Tensor, list[str], str]:
    w = G.convTr1.weight                                               # [z_dim, C, 4, 4]
    bn = G.batchNorm1                                                  # eval mode: running statistics
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)            # [C], s_c
    A = w.reshape(w.shape[0], w.shape[1], -1) * scale[None, :, None]   # [z_dim, C, 16]
    names = ["convTr1.weight", "batchNorm1.weight", "batchNorm1.running_var"]
    return A.reshape(w.shape[0], -1).T, names, "Z"                     # [C * 16, z_dim]


def _stylegan2_weight(G: Generator, layers: Sequence[int] | None,
                      include_torgb: bool) -> tuple[torch.Tensor, list[str], str]:
    wanted = set(range(G.num_ws)) if layers is None else set(layers)
    index = G.synthesis.style_index                                    # "b8.conv0" -> (block, layer, ws index)
    params = dict(G.named_parameters())
    rows, names = [], []
    for style, (block, layer, ws_idx) in index.items():
        if ws_idx in wanted and (include_torgb or layer != "torgb"):
            name = f"synthesis.{block}.{layer}.affine.weight"
            rows.append(params[name])                                  # [C, w_dim]
            names.append(name)
    if not rows:
        raise ValueError(f"no affine layers for ws indices {sorted(wanted)}")
    A = torch.cat(rows)
    return A / A.norm(dim=1, keepdim=True).clamp_min(1e-12), names, "W"


WEIGHT_FNS: dict[str, Callable] = {"dcgan": _dcgan_weight, "stylegan2": _stylegan2_weight}


def sefa_weight(G: Generator, *, layers: Sequence[int] | None = None,
                include_torgb: bool = False) -> tuple[torch.Tensor, list[str], str]:
    """(A [rows, latent_dim], parameter names, latent space) for ``G``'s family."""
    fn = WEIGHT_FNS.get(G.family)
    if fn is None:
        raise NotImplementedError(f"SeFa has no latent-to-feature weight rule for family {G.family!r}")
    return fn(G, layers, include_torgb)


def sefa(G: Generator, *, num_components: int = 10, layers: Sequence[int] | None = None,
         include_torgb: bool = False) -> Components:
    """Top ``num_components`` SeFa directions of ``G`` (eigenvectors of A^T A, Eq. 5).

    ``layers``: ws indices whose style layers form A (StyleGAN2; None = all).  The DCGAN has
    one latent-reading layer, so ``layers`` does not apply to it.
    """
    A, names, space = sefa_weight(G, layers=layers, include_torgb=include_torgb)
    A = A.detach().double().cpu()
    _, S, Vh = torch.linalg.svd(A, full_matrices=False)                # A = U S Vh; A^T A = Vh^T S^2 Vh
    k = min(num_components, Vh.shape[0])
    comps = Vh[:k]
    # Fix the arbitrary SVD sign so results are reproducible: largest entry positive.
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    return Components((comps * signs).float(), (S[:k] ** 2).float(), space, "sefa", G.name,
                      layers=None if layers is None or space == "Z" else sorted(set(layers)), sources=names)
