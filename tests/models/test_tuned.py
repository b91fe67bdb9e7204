"""TunedGenerator: base + delta behind the generator interface; the base is never written."""
import threading

import pytest
import torch

from ganinv.latent import render
from ganinv.models.tuned import (MAX_TUNED, DeltaError, TunedGenerator, check_delta, clear_tuned_cache, delta_digest,
                                 tuned_generator, weight_delta)


def _delta(G, scale=0.05, seed=1) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=gen) * scale for n, p in G.named_parameters()
            if not n.startswith("mapping.")}


def _reference(G, delta):
    """The tuned model built the slow, obvious way: a fresh instance loaded with base + delta."""
    ref = type(G)(G.config, name=G.name)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    for n, d in delta.items():
        state[n] += d
    ref.load_state_dict(state)
    return ref.eval()


@pytest.mark.parametrize("family", ["dcgan", "stylegan2"])
def test_renders_base_plus_delta_and_keeps_the_interface(family, tiny_factory, tiny_dc):
    G = tiny_dc if family == "dcgan" else tiny_factory()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    delta = _delta(G)
    T = TunedGenerator(G, delta)
    ref = _reference(G, delta)
    space = "Z" if family == "dcgan" else "W+"
    z = G.sample_z(3, seed=5)
    latent = z if space == "Z" else G.broadcast(G.mapping(z))
    with torch.no_grad():
        out, want, base = render(T, latent, space), render(ref, latent, space), render(G, latent, space)
        ws = G.broadcast(G.mapping(z))
        layer = G.layer_names[1]
        feats = T.features(ws, layer, noise_mode="const")
        again = T.synthesis_from(feats, layer, ws, noise_mode="const")
    assert torch.allclose(out, want, atol=1e-5) and not torch.allclose(out, base, atol=1e-3)
    assert torch.allclose(again, out, atol=1e-5)
    assert list(T.state_dict()) == list(G.state_dict())               # same names: SeFa, checkpoints
    assert (T.name, T.family, T.z_dim, T.w_dim, T.num_ws, T.resolution, T.spaces, T.layer_names) == \
        (G.name, G.family, G.z_dim, G.w_dim, G.num_ws, G.resolution, G.spaces, G.layer_names)
    assert torch.equal(T.w_avg, G.w_avg) and T.layer_shape(layer) == G.layer_shape(layer)
    if family == "stylegan2":
        assert set(T.styles(ws)) == set(G.styles(ws))                  # family extras reach the copy
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert weight_delta(G, T).keys() == delta.keys()
    assert all(torch.allclose(weight_delta(G, T)[n], d, atol=1e-6) for n, d in delta.items())


def test_check_delta_refuses_what_does_not_fit(tiny_dc):
    G = tiny_dc
    with pytest.raises(DeltaError, match="no parameter"):
        check_delta(G, {"nope.weight": torch.zeros(1)})
    with pytest.raises(DeltaError, match="shape"):
        check_delta(G, {"convTr1.weight": torch.zeros(2, 2)})
    with pytest.raises(DeltaError, match="finite"):
        check_delta(G, {"convTr1.weight": torch.full_like(G.convTr1.weight, float("nan"))})
    with pytest.raises(DeltaError):
        TunedGenerator(G, {"convTr1.weight": torch.zeros(2, 2)})


def test_cache_is_bounded_and_keyed_by_content(tiny_dc):
    clear_tuned_cache()
    G = tiny_dc
    assert tuned_generator(G, None) is G and tuned_generator(G, {}) is G
    d1 = _delta(G, seed=1)
    a = tuned_generator(G, d1)
    assert tuned_generator(G, {k: v.clone() for k, v in d1.items()}) is a     # equal content, same copy
    assert delta_digest(d1) != delta_digest(_delta(G, seed=2))
    others = [tuned_generator(G, _delta(G, seed=s)) for s in range(2, 2 + MAX_TUNED)]   # d1 is dropped
    assert tuned_generator(G, d1) is not a and len({id(o) for o in others}) == MAX_TUNED
    clear_tuned_cache()


def test_shared_base_is_bit_identical_after_concurrent_use(tiny_factory):
    """Two threads build tuned copies of the same base and render with them and with the base."""
    G = tiny_factory()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    z = G.sample_z(2, seed=3)
    with torch.no_grad():
        want_base = render(G, z, "Z")
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(4):
                d = _delta(G, seed=seed * 10 + i)
                T = TunedGenerator(G, d)
                with torch.no_grad():
                    render(T, z, "Z")
                    assert torch.equal(render(G, z, "Z"), want_base)
        except BaseException as e:               # surfaced in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_digest_takes_scalar_parameters():
    """StyleGAN2 has 0-dim parameters (noise strengths): a PTI delta of it must hash (the app's edit of a
    tuned StyleGAN2 session failed with 'self.dim() cannot be 0 to view Float as Byte')."""
    from ganinv.models.tuned import delta_digest
    a = {"w": torch.ones(2, 2), "noise_strength": torch.tensor(0.5)}
    b = {"w": torch.ones(2, 2), "noise_strength": torch.tensor(0.25)}
    assert delta_digest(a) == delta_digest(dict(a)) != delta_digest(b)
