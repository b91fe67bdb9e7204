"""Pure edit math: identity at strength 0, symmetry, layer ranges, no input mutation."""
import pytest
import torch

from ganinv.edit import Direction, DirectionError, apply_directions, edit, layer_mask, parse_layers, sweep
from ganinv.latent import render


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def unit(dim, seed):
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    return v / v.norm()


def test_strength_zero_is_identity():
    z = torch.randn(4, 10)
    assert torch.equal(apply_directions(z, [unit(10, 0)], [0.0]), z)
    ws = torch.randn(2, 6, 8)
    assert torch.equal(apply_directions(ws, [unit(8, 1)], [0.0], layers=[1, 2]), ws)


def test_plus_and_minus_are_symmetric_and_linear():
    z = torch.randn(3, 10)
    n1, n2 = unit(10, 0), unit(10, 1)
    plus = apply_directions(z, [n1, n2], [1.5, -0.5])
    minus = apply_directions(z, [n1, n2], [-1.5, 0.5])
    assert torch.allclose(plus - z, -(minus - z), atol=1e-6)
    assert torch.allclose(plus - z, 1.5 * n1 - 0.5 * n2, atol=1e-6)
    # the component along n1 moves by exactly the strength (unit direction)
    assert torch.allclose((apply_directions(z, [n1], [2.0]) - z) @ n1, torch.full((3,), 2.0), atol=1e-5)


def test_inputs_are_not_modified():
    z = torch.randn(2, 10)
    before = z.clone()
    apply_directions(z, [unit(10, 0)], [3.0])
    assert torch.equal(z, before)


def test_wplus_layer_range_moves_only_those_layers():
    ws = torch.randn(2, 6, 8)
    out = apply_directions(ws, [unit(8, 0)], [2.0], layers=[1, 3])
    changed = (out - ws).abs().sum(dim=(0, 2)) > 0
    assert changed.tolist() == [False, True, False, True, False, False]
    per_layer = torch.randn(6, 8)
    out = apply_directions(ws, [per_layer], [1.0], layers=None)
    assert torch.allclose(out - ws, per_layer.expand(2, 6, 8), atol=1e-6)


def test_shape_mismatch_and_bad_layers_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        apply_directions(torch.randn(1, 10), [unit(12, 0)], [1.0])
    with pytest.raises(ValueError, match="out of range"):
        layer_mask(6, [7])
    with pytest.raises(ValueError, match="strengths"):
        apply_directions(torch.randn(1, 10), [unit(10, 0)], [1.0, 2.0])


def test_parse_layers():
    assert parse_layers("all", 6) is None and parse_layers(None, 6) is None
    assert parse_layers("1-3,5", 6) == [1, 2, 3, 5]
    with pytest.raises(ValueError):
        parse_layers("4-9", 6)


def test_sweep_is_symmetric_around_the_input():
    z = torch.randn(1, 10)
    s = sweep(z, unit(10, 0), [-2, -1, 0, 1, 2])
    assert s.shape == (5, 10)
    assert torch.equal(s[2], z[0])
    assert torch.allclose(s[0] + s[4], 2 * z[0], atol=1e-6)


def test_edit_on_the_bundled_model(dcgan):
    z = dcgan.sample_z(2, seed=4)
    d = Direction("t", dcgan.name, "Z", unit(100, 0).numpy(), "test")
    same = edit(dcgan, z, "Z", [d], [0.0])
    with torch.no_grad():
        assert torch.equal(same.image, render(dcgan, z, "Z"))
    moved = edit(dcgan, z, "Z", [d], [3.0])
    assert not torch.equal(moved.image, same.image)
    assert torch.allclose(moved.latent - z, 3 * d.tensor().expand(2, 100), atol=1e-6)


def test_edit_wplus_with_a_w_direction_respects_layers(tiny_sg2_small):
    G = tiny_sg2_small
    ws = G.broadcast(G.mapping(G.sample_z(1, seed=0)))
    d = Direction("t", G.name, "W", unit(G.w_dim, 0).numpy(), "test", layers=[0, 1])
    out = edit(G, ws, "W+", [d], [1.0])
    changed = ((out.latent - ws).abs().sum(dim=(0, 2)) > 0).tolist()
    assert changed == [True, True] + [False] * (G.num_ws - 2)
    out = edit(G, ws, "W+", [d], [1.0], layers=[4])                   # override the default layers
    assert ((out.latent - ws).abs().sum(dim=(0, 2)) > 0).tolist() == [False] * 4 + [True] + [False]
    with pytest.raises(DirectionError, match="cannot edit a Z latent"):
        edit(G, G.sample_z(1, seed=0), "Z", [d], [1.0])
