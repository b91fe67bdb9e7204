"""GANSpace: interpretable directions by PCA (Harkonen et al., NeurIPS 2020).

Legend, variable -> paper symbol (Sec. 2):

    feats      y_j = G_layer(z_j), intermediate activations of N sampled latents
    V          principal axes of the y_j (PCA, Sec. 2.1)
    coords     x_j = V^T (y_j - mu), the PCA coordinates
    U          latent basis found by regression, U = argmin sum_j ||U x_j - z_j||^2 (Sec. 2.2)

Two variants:
  * W models (StyleGAN2) with ``layer=None``: PCA directly on w = mapping(z) (Sec. 2.2,
    "StyleGAN"): the components are orthonormal already and live in W.
  * otherwise (DCGAN, or a chosen feature layer): PCA on ``G.features(ws, layer)``,
    flattened, then the regression above transfers the axes to the latent space (Z for the
    DCGAN, "BigGAN"-style in the paper).  The regressed u_k are not orthogonal; with
    ``orthonormalize`` (default) they are Gram-Schmidt'ed in order of variance (QR), which
    keeps u_1 and removes from each later u_k what earlier ones already do.
"""
from __future__ import annotations

import time

import torch

from ..latent import to_ws
from ..models.base import Generator
from ..settings import RENDER_KWARGS
from .sefa import Components
from ..settings import ProgressFn



def _sample(G: Generator, n: int, seed: int, space: str, layer: str | None, batch_size: int,
            progress: ProgressFn | None) -> tuple[torch.Tensor, torch.Tensor]:
    """latents [N, dim] and flattened features [N, D] (features = latents when ``layer`` is None)."""
    z_all = G.sample_z(n, seed=seed)
    lats, feats = [], []
    for i in range(0, n, batch_size):
        z = z_all[i:i + batch_size]
        with torch.no_grad():
            lat = z if space == "Z" else G.mapping(z)
            f = lat if layer is None else G.features(to_ws(G, lat, space), layer, **RENDER_KWARGS).flatten(1)
        lats.append(lat.double().cpu())
        feats.append(f.double().cpu())
        if progress:
            progress(min(i + batch_size, n) / n * 0.8, f"sampled {min(i + batch_size, n)}/{n}")
    return torch.cat(lats), torch.cat(feats)


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` principal axes of centred rows x [N, D]: (Vh [k, D] orthonormal, variance ratios [k]).

    Eigen-decomposes the smaller of the two Gram matrices (N x N or D x D): exact, and ~10x
    faster on CPU than a thin SVD of a 1000 x 8192 matrix.
    """
    n, dim = x.shape
    gram = x @ x.T if n <= dim else x.T @ x
    evals, evecs = torch.linalg.eigh(gram)                          # ascending
    evals, evecs = evals.flip(0)[:k].clamp_min(0), evecs.flip(1)[:, :k]
    axes = (x.T @ evecs / evals.sqrt().clamp_min(1e-12)).T if n <= dim else evecs.T
    return axes / axes.norm(dim=1, keepdim=True), evals / gram.diagonal().sum()


def ganspace(G: Generator, *, num_components: int = 10, num_samples: int = 2000, layer: str | None = None,
             space: str | None = None, seed: int = 0, batch_size: int = 100, orthonormalize: bool = True,
             progress: ProgressFn | None = None) -> Components:
    """PCA directions of ``G``; ``values`` are the explained-variance ratios of the PCA axes.

    ``layer`` defaults to the first hidden layer for Z-only models and to None (PCA in W)
    for models with a mapping network.
    """
    t0 = time.perf_counter()
    space = space or ("W" if G.supports("W") else "Z")
    if space not in ("Z", "W") or not G.supports(space):
        raise ValueError(f"GANSpace works in Z or W; {G.name!r} supports {', '.join(G.spaces)}")
    if layer is None and space == "Z":
        layer = G.layer_names[1]                                        # first hidden layer
    if layer is not None and layer not in G.layer_names:
        raise ValueError(f"unknown layer {layer!r}; {G.name!r} has {', '.join(G.layer_names)}")
    k = min(num_components, num_samples - 1)
    lat, feats = _sample(G, num_samples, seed, space, layer, batch_size, progress)
    mu = feats.mean(0)
    Vh, ratio = pca(feats - mu, k)                                     # PCA of the features
    if layer is None:
        comps = Vh[:k]                                                  # PCA in the latent space itself
    else:
        coords = (feats - mu) @ Vh[:k].T                                # [N, k]  x_j
        U = torch.linalg.lstsq(coords, lat - lat.mean(0)).solution     # [k, dim]: z ~ x U
        comps = U / U.norm(dim=1, keepdim=True)
        if orthonormalize:
            Q, _ = torch.linalg.qr(comps.T)                             # [dim, k], Gram-Schmidt in order
            comps = Q.T * torch.sign((Q.T * comps).sum(1, keepdim=True))
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    if progress:
        progress(1.0, f"{k} components in {time.perf_counter() - t0:.1f} s")
    return Components((comps * signs).float(), ratio[:k].float(), space, "ganspace", G.name,
                      sources=[layer or space],
                      extra={"num_samples": num_samples, "seed": seed, "layer": layer,
                             "orthonormalized": bool(orthonormalize or layer is None)})
