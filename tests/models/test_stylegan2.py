"""StyleGAN2 architecture behaviour on a tiny seeded model (16 px, 32 channels)."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ganinv.models.stylegan2 import (StyleGAN2Config, StyleGAN2Generator, modulated_conv2d, noise_override, upfirdn2d,
                                      make_filter)



def const(G, ws, **kw):
    return G.synthesis(ws, noise_mode="const", **kw)


def test_shapes_and_counts(tiny_G, z):
    G = tiny_G
    assert G.num_ws == 2 * int(math.log2(16)) - 2 == 6
    w = G.mapping(z)
    assert w.shape == (3, 32)
    ws = G.mapping_ws(z)
    assert ws.shape == (3, 6, 32)
    img = const(G, ws)
    assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32
    assert G.layer_names == ("b4", "b8", "b16")
    assert list(G.style_dims) == ["b4.conv1", "b4.torgb", "b8.conv0", "b8.conv1", "b8.torgb",
                                  "b16.conv0", "b16.conv1", "b16.torgb"]
    assert G.info().spaces == ("Z", "W", "W+", "S") and G.info().family == "stylegan2"


def test_num_ws_at_1024_matches_paper():
    assert StyleGAN2Config().num_ws == 18


def test_w_and_w_plus_are_equivalent(tiny_G, z):
    G = tiny_G
    w = G.mapping(z)
    via_w = const(G, G.broadcast(w))
    via_z = G(z, noise_mode="const")
    torch.testing.assert_close(via_w, via_z)
    # A W+ code whose rows differ must give a different image.
    ws = G.broadcast(w).clone()
    ws[:, 3:] = G.mapping(z.flip(0))[:, None]
    assert (const(G, ws) - via_w).abs().max() > 1e-3


def test_truncation(tiny_G, z):
    G = tiny_G
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.0), G.w_avg.expand(3, -1))
    w = G.mapping(z)
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.5), G.w_avg + 0.5 * (w - G.w_avg))
    ws = G.mapping_ws(z, truncation_psi=0.0, truncation_cutoff=2)
    torch.testing.assert_close(ws[:, :2], G.w_avg.expand(3, 2, -1))
    torch.testing.assert_close(ws[:, 2:], w[:, None].expand(3, 4, -1))
    # psi = 0 gives the same "average" image for every z.
    imgs = G(z, truncation_psi=0.0, noise_mode="const")
    torch.testing.assert_close(imgs, imgs[:1].expand_as(imgs))
    with pytest.raises(ValueError, match="mapping_ws"):
        G.mapping(z, truncation_cutoff=2)


def test_modconv_paths_agree_on_full_generator(tiny_G, z):
    ws = tiny_G.mapping_ws(z)
    a = const(tiny_G, ws, fused_modconv=True)
    b = const(tiny_G, ws, fused_modconv=False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    tiny_G.fused_modconv = True                                   # the default flag is used
    torch.testing.assert_close(const(tiny_G, ws), a)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modconv_paths_agree(up, demodulate):
    g = torch.Generator().manual_seed(0)
    x, weight, styles = torch.randn(3, 5, 6, 6, generator=g), torch.randn(7, 5, 3, 3, generator=g), torch.randn(3, 5, generator=g)
    f = make_filter((1, 3, 3, 1))
    kw = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate)
    a = modulated_conv2d(x, weight, styles, fused=True, **kw)
    b = modulated_conv2d(x, weight, styles, fused=False, **kw)
    assert a.shape == (3, 7, 6 * up, 6 * up)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_modconv_matches_paper_equations():
    """Eq. 1-3 written per sample: w' = s * w, w'' = w' / sqrt(sum w'^2 + eps), conv."""
    g = torch.Generator().manual_seed(1)
    x, weight, styles = torch.randn(2, 4, 5, 5, generator=g), torch.randn(6, 4, 3, 3, generator=g), torch.randn(2, 4, generator=g)
    out = modulated_conv2d(x, weight, styles, padding=1)
    for n in range(2):
        w1 = weight * styles[n].reshape(1, 4, 1, 1)
        w2 = w1 / (w1.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        torch.testing.assert_close(out[n:n + 1], F.conv2d(x[n:n + 1], w2, padding=1), atol=1e-5, rtol=1e-5)


def test_upfirdn_upsampling_preserves_constants():
    x = torch.full((1, 2, 4, 4), 3.0)
    f = make_filter((1, 3, 3, 1))
    y = upfirdn2d(x, f, up=2, pad=(2, 1, 2, 1), gain=4)
    assert y.shape == (1, 2, 8, 8)
    torch.testing.assert_close(y[:, :, 2:-2, 2:-2], torch.full((1, 2, 4, 4), 3.0))


def test_styles_round_trip(tiny_G, z):
    G = tiny_G
    ws = G.mapping_ws(z)
    styles = G.styles(ws)
    assert {k: v.shape[1] for k, v in styles.items()} == G.style_dims
    ref = const(G, ws)
    torch.testing.assert_close(const(G, ws, styles=styles), ref)
    torch.testing.assert_close(G.synthesis(None, styles=styles, noise_mode="const"), ref)
    torch.testing.assert_close(G.unpack_styles(G.pack_styles(styles))["b8.conv1"], styles["b8.conv1"])
    # Editing one channel of one layer (a StyleSpace edit) changes the image; others are computed from ws.
    edited = {"b8.conv1": styles["b8.conv1"].clone()}
    edited["b8.conv1"][:, 3] += 5.0
    assert (const(G, ws, styles=edited) - ref).abs().max() > 1e-3


def test_styles_errors(tiny_G, z):
    ws = tiny_G.mapping_ws(z)
    styles = tiny_G.styles(ws)
    with pytest.raises(KeyError, match="unknown style"):
        tiny_G.synthesis(ws, styles={"b999.conv1": styles["b4.conv1"]})
    partial = dict(styles)
    partial.pop("b16.torgb")
    with pytest.raises(ValueError, match="b16.torgb"):
        tiny_G.synthesis(None, styles=partial)
    with pytest.raises(ValueError, match=r"styles\['b4.conv1'\]"):
        tiny_G.synthesis(ws, styles={"b4.conv1": styles["b4.conv1"][:, :5]})


@pytest.mark.parametrize("layer", ["b4", "b8", "b16"])
def test_features_then_synthesis_from_equals_synthesis(tiny_G, z, layer):
    ws = tiny_G.mapping_ws(z)
    feats = tiny_G.features(ws, layer, noise_mode="const")
    assert tuple(feats.shape[1:]) == tiny_G.layer_shape(layer)
    out = tiny_G.synthesis_from(feats, layer, ws, noise_mode="const")
    torch.testing.assert_close(out, const(tiny_G, ws), atol=1e-5, rtol=1e-5)


def test_noise_modes(tiny_G, z):
    ws = tiny_G.mapping_ws(z)
    torch.testing.assert_close(const(tiny_G, ws), const(tiny_G, ws))
    r1, r2 = tiny_G.synthesis(ws, noise_mode="random"), tiny_G.synthesis(ws, noise_mode="random")
    assert (r1 - r2).abs().max() > 1e-4
    none = tiny_G.synthesis(ws, noise_mode="none")
    assert (none - const(tiny_G, ws)).abs().max() > 1e-4
    # Zero maps in place of noise_const (how noise optimisation feeds its own maps) == no noise, in this
    # thread and block only: the buffers themselves never change.
    zeros = {n: torch.zeros(3, 1, *b.shape) for n, b in tiny_G.named_buffers() if n.endswith("noise_const")}
    with noise_override(tiny_G, zeros):
        swapped = tiny_G(z, noise_mode="const")
    torch.testing.assert_close(swapped, none, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(tiny_G(z, noise_mode="const"), const(tiny_G, ws))
    with pytest.raises(ValueError, match="noise_mode"):
        tiny_G.synthesis(ws, noise_mode="fixed")


def test_shape_asserts(tiny_G, z):
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 6, 32\]"):
        tiny_G.synthesis(torch.zeros(2, 5, 32))
    with pytest.raises(ValueError, match=r"z must have shape \[N, 32\]"):
        tiny_G.mapping(torch.zeros(2, 31))
    with pytest.raises(ValueError, match="features at b8"):
        tiny_G.synthesis_from(torch.zeros(1, 3, 8, 8), "b8", tiny_G.mapping_ws(z[:1]))


def test_gradients_reach_latents(tiny_G, z):
    ws = tiny_G.mapping_ws(z).requires_grad_(True)
    const(tiny_G, ws).square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0


def test_state_dict_keys_follow_nvidia_names(tiny_G, tiny_factory):
    keys = set(tiny_G.state_dict())
    for k in ["mapping.fc0.weight", "mapping.fc1.bias", "mapping.w_avg", "synthesis.b4.const",
              "synthesis.b4.resample_filter", "synthesis.b4.conv1.noise_const", "synthesis.b4.conv1.noise_strength",
              "synthesis.b8.conv0.affine.weight", "synthesis.b8.conv0.resample_filter", "synthesis.b16.torgb.weight"]:
        assert k in keys, k
    assert tiny_G.state_dict()["synthesis.b16.conv1.noise_const"].shape == (16, 16)
    # The config is the whole architecture spec: another instance takes the weights strictly.
    other = tiny_factory(seed=1)
    assert not torch.equal(other.synthesis.b4.const, tiny_G.synthesis.b4.const)
    other.load_state_dict(tiny_G.state_dict(), strict=True)
    z = torch.randn(2, 32)
    torch.testing.assert_close(other(z, noise_mode="const"), tiny_G(z, noise_mode="const"))


def test_config_round_trip_and_validation(tiny_config):
    assert StyleGAN2Config.from_dict(tiny_config.to_dict()) == tiny_config
    assert StyleGAN2Generator(tiny_config).export_config()["family"] == "stylegan2"
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Config(resolution=24)
    with pytest.raises(ValueError, match="unknown StyleGAN2 config keys"):
        StyleGAN2Config.from_dict({**tiny_config.to_dict(), "depth": 3})


# --------------------------------------------------------------------------- the "auto" fast path
def _grads(G, ws, noise, fused, *, params: bool):
    """Image and gradients of a fixed random loss w.r.t. ws, the noise maps and (optionally) every weight."""
    ws = ws.clone().requires_grad_(True)
    noise = {k: v.clone().requires_grad_(True) for k, v in noise.items()}
    G.requires_grad_(params)
    try:
        img = functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const", "fused_modconv": fused}, strict=False)
        probe = torch.randn(img.shape, generator=torch.Generator().manual_seed(3))
        (img * probe).sum().backward()
        grads = {"ws": ws.grad, **{k: v.grad for k, v in noise.items()}}
        if params:
            grads.update({k: p.grad for k, p in G.synthesis.named_parameters()})
        return img.detach(), grads
    finally:
        G.requires_grad_(False).zero_grad(set_to_none=True)


@pytest.mark.parametrize("channels_last_res", [4, 1 << 20, 8], ids=["cl", "contiguous", "mixed"])
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("params", [False, True], ids=["ws", "ws+params"])
def test_auto_path_matches_reference_with_gradients(tiny_G, monkeypatch, channels_last_res, n, params):
    """The fast path (one autograd node per layer; N = 1 folds styles into the weights and recovers their
    gradients, N > 1 scales activations; channels-last) gives the reference image and the same gradients
    w.r.t. ws, per-sample noise maps and every parameter."""
    import ganinv.models.stylegan2 as sg2
    monkeypatch.setattr(sg2, "AUTO_CHANNELS_LAST_MIN_RES", channels_last_res)
    _assert_auto_matches(tiny_G, n, params=params)                         # per-sample noise maps
    _assert_auto_matches(tiny_G, n, params=params, own_noise=False)        # the [H, W] buffers


def _assert_auto_matches(G, n, *, params=False, ws=None, own_noise=True):
    if ws is None:
        ws = G.mapping_ws(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(5)))
        ws = ws + 0.5 * torch.randn(ws.shape, generator=torch.Generator().manual_seed(6))  # distinct rows
    noise = {k: torch.randn(n, 1, *b.shape, generator=torch.Generator().manual_seed(i))
             for i, (k, b) in enumerate(G.synthesis.named_buffers()) if k.endswith("noise_const") and own_noise}
    ref_img, ref = _grads(G, ws, noise, False, params=params)
    img, got = _grads(G, ws, noise, "auto", params=params)
    torch.testing.assert_close(img, ref_img, atol=1e-5, rtol=1e-5)
    assert set(got) == set(ref)
    for k in ref:
        # Scalars (noise strengths) sum ~10^4 products with cancellation: float32 error ~1e-5 of the terms.
        tol = 1e-5 * ref[k].abs().max().clamp_min(1e-3) if ref[k].numel() > 1 else 1e-4 * max(ref[k].abs(), 1.0)
        assert (got[k] - ref[k]).abs().max() <= tol, k


@pytest.mark.parametrize("taps", [(1, 2, 1), (1, 3, 3, 1, 1, 1)], ids=["odd", "six"])
def test_auto_path_other_filters(tiny_factory, tiny_config, taps):
    """Filters whose FIR padding is asymmetric (odd length) take upfirdn2d inside the fast path."""
    G = tiny_factory(dataclasses.replace(tiny_config, resample_filter=taps), seed=4)
    for n in (1, 2):
        _assert_auto_matches(G, n, params=True)


def test_auto_path_zero_style_channel(tiny_G):
    """A style channel that is exactly 0 (where dL/ds_i cannot be recovered by dividing by s_i)."""
    G = tiny_G
    ws = G.mapping_ws(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)))
    layer = G.synthesis.b8.conv1
    with torch.no_grad():
        saved = layer.affine.bias.clone()
        i = 3
        s_i = G.synthesis.styles(ws)["b8.conv1"][0, i]
        layer.affine.bias[i] -= s_i                                # s_i = 0 for this ws
        assert G.synthesis.styles(ws)["b8.conv1"][0, i].abs() < 1e-6
    try:
        _assert_auto_matches(G, 1, ws=ws)
    finally:
        with torch.no_grad():
            layer.affine.bias.copy_(saved)


def test_auto_path_clamps_like_reference(tiny_factory, tiny_config):
    """With conv_clamp small enough to bite, outputs and gradients still match (clamped pixels pass no gradient)."""
    G = tiny_factory(dataclasses.replace(tiny_config, conv_clamp=0.5), seed=2)
    ws = G.mapping_ws(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        x = G.synthesis.features(ws, "b8", noise_mode="const", fused_modconv=False)
    assert (x.abs() == 0.5).float().mean() > 0.05                                           # clamping is active
    ref_img, ref = _grads(G, ws, {}, False, params=False)
    img, got = _grads(G, ws, {}, "auto", params=False)
    torch.testing.assert_close(img, ref_img, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["ws"], ref["ws"], atol=1e-5, rtol=1e-4)


def test_auto_is_default_and_flag_is_checked(tiny_G, z):
    ws = tiny_G.mapping_ws(z)
    assert tiny_G.fused_modconv == "auto"
    torch.testing.assert_close(const(tiny_G, ws), const(tiny_G, ws, fused_modconv="auto"))
    with pytest.raises(ValueError, match="fused_modconv"):
        tiny_G.fused_modconv = "fast"
    with pytest.raises(ValueError, match="fused_modconv"):
        const(tiny_G, ws, fused_modconv=1)


def test_auto_caches_weight_constants_until_weights_change(tiny_G, z):
    ws = tiny_G.mapping_ws(z[:1])
    before = const(tiny_G, ws)
    layer = tiny_G.synthesis.b8.conv1
    assert "wsq" in layer._consts
    with torch.no_grad():
        # An in-place update, as an optimiser step or load_state_dict makes.
        layer.weight.add_(torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(0)))
    after = const(tiny_G, ws)
    torch.testing.assert_close(after, const(tiny_G, ws, fused_modconv=False), atol=1e-5, rtol=1e-5)
    assert (after - before).abs().max() > 1e-3


def test_upsample2d_auto_equals_upfirdn():
    from ganinv.models.stylegan2 import _upsample2d_auto, upsample2d
    x = torch.randn(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    for taps in [(1, 3, 3, 1), (1, 2, 5, 2, 2, 1), (1, 2, 1)]:
        f = make_filter(taps)
        torch.testing.assert_close(_upsample2d_auto(x, f), upsample2d(x, f), atol=1e-6, rtol=1e-6)


def test_auto_path_refuses_double_backward_and_reference_path_allows_it(tiny_G, z):
    """The hand-written backward is first order: create_graph through it raises instead of returning
    wrong second derivatives; the reference paths (used for e.g. path-length penalties) support it."""
    ws = tiny_G.mapping_ws(z[:1]).requires_grad_(True)
    (g,) = torch.autograd.grad(const(tiny_G, ws).square().sum(), ws, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.square().sum().backward()
    (g,) = torch.autograd.grad(const(tiny_G, ws, fused_modconv=False).square().sum(), ws, create_graph=True)
    g.square().sum().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
