"""SeFa and GANSpace: orthonormal components that maximise what they claim to."""
import pytest
import torch

from ganinv.edit.ganspace import ganspace, pca
from factories import tiny_dcgan
from ganinv.edit.sefa import sefa, sefa_weight


def assert_orthonormal(c: torch.Tensor) -> None:
    assert torch.allclose(c @ c.T, torch.eye(len(c)), atol=1e-5)


def test_sefa_dcgan_components_are_eigenvectors_of_ata(dcgan):
    comps = sefa(dcgan, num_components=8)
    assert comps.space == "Z" and comps.components.shape == (8, 100) and comps.sources[0] == "convTr1.weight"
    assert_orthonormal(comps.components)
    assert (comps.values[:-1] >= comps.values[1:]).all()
    A, _, _ = sefa_weight(dcgan)
    A = A.double()
    for k in range(3):
        v = comps.components[k].double()
        assert torch.allclose(A.T @ A @ v, comps.values[k].double() * v, rtol=1e-3, atol=1e-3)
    # the first one moves the first-layer features more than any random unit direction (Eq. 5)
    rand = torch.randn(200, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rand = rand / rand.norm(dim=1, keepdim=True)
    assert (A @ rand.T).norm(dim=0).max() < (A @ comps.components[0].double()).norm()


def test_sefa_dcgan_folds_the_batch_norm_scale_into_a():
    """convTr1 is followed by eval-mode batch norm, y_c = s_c (W z)_c + const, so SeFa's A is
    diag(s) W: the components are the eigenvectors of (diag(s) W)^T (diag(s) W), not of W^T W."""
    G = tiny_dcgan(seed=3)
    bn = G.batchNorm1
    with torch.no_grad():                                      # per-channel scales spanning 3 decades
        bn.weight.copy_(torch.logspace(-2, 1, bn.num_features))
        bn.running_var.copy_(torch.linspace(0.2, 2.0, bn.num_features))
    w = G.convTr1.weight.double()                              # [z_dim, C, 4, 4]
    s = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    W = w.reshape(w.shape[0], -1).T                            # [C * 16, z_dim], channel-major rows
    folded = s.repeat_interleave(16)[:, None] * W
    k = 3
    comps = sefa(G, num_components=k).components.double()

    def top_eigvecs(M):
        vals, vecs = torch.linalg.eigh(M.T @ M)
        return vecs[:, vals.argsort(descending=True)[:k]].T   # [k, z_dim]

    want, plain = top_eigvecs(folded), top_eigvecs(W)
    overlap = (comps * want).sum(1).abs()                      # |cos| with the folded eigenvectors
    assert torch.allclose(overlap, torch.ones(k, dtype=torch.float64), atol=1e-5), overlap
    assert (comps * plain).sum(1).abs().min() < 0.9            # and not the unfolded ones


def test_sefa_dcgan_first_component_changes_the_image(dcgan):
    d = sefa(dcgan, num_components=1).direction(0)
    z = dcgan.sample_z(1, seed=0)
    with torch.no_grad():
        diff = (dcgan(z + 3 * d.tensor()) - dcgan(z)).abs().mean()
    assert diff > 0.05


def test_sefa_stylegan2_uses_the_named_affine_layers(tiny_sg2_small):
    G = tiny_sg2_small
    full = sefa(G, num_components=5)
    assert full.space == "W" and all(n.startswith("synthesis.") and n.endswith(".affine.weight")
                                     for n in full.sources)
    assert not any(".torgb." in n for n in full.sources)
    assert_orthonormal(full.components)
    coarse = sefa(G, num_components=5, layers=[0, 1])
    assert coarse.layers == [0, 1] and len(coarse.sources) < len(full.sources)
    assert coarse.direction(0).layers == [0, 1]
    assert not torch.allclose(coarse.components[0].abs(), full.components[0].abs(), atol=1e-3)
    with pytest.raises(ValueError, match="no affine layers"):
        sefa(G, layers=[99])


def test_pca_matches_svd():
    x = torch.randn(40, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) @ torch.diag(
        torch.linspace(3, 0.1, 12, dtype=torch.float64))
    x = x - x.mean(0)
    for rows in (x, x[:8] - x[:8].mean(0)):                            # N > D and N < D branches
        axes, ratio = pca(rows, 4)
        _, S, Vh = torch.linalg.svd(rows, full_matrices=False)
        assert torch.allclose(axes.abs(), Vh[:4].abs(), atol=1e-8)
        assert torch.allclose(ratio, (S[:4] ** 2) / (S ** 2).sum(), atol=1e-10)


def test_ganspace_dcgan_regressed_components(dcgan):
    calls = []
    comps = ganspace(dcgan, num_components=5, num_samples=300, progress=lambda f, m: calls.append(f))
    assert comps.space == "Z" and comps.extra["layer"] == "layer1" and calls[-1] == 1.0
    assert_orthonormal(comps.components)
    assert (comps.values[:-1] >= comps.values[1:]).all() and comps.values.sum() < 1
    raw = ganspace(dcgan, num_components=5, num_samples=300, orthonormalize=False)
    assert torch.allclose(raw.components[0], comps.components[0], atol=1e-5)   # QR keeps the first one


def test_ganspace_stylegan2_is_pca_in_w(tiny_sg2_small):
    G = tiny_sg2_small
    comps = ganspace(G, num_components=4, num_samples=300)
    assert comps.space == "W" and comps.extra["layer"] is None
    assert_orthonormal(comps.components)
    w = G.mapping(G.sample_z(300, seed=0)).double()
    var = ((w - w.mean(0)) @ comps.components.double().T).var(0)
    assert (var[:-1] >= var[1:] - 1e-9).all()                          # variance ordered along the axes
