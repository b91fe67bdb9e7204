"""Inversion on a tiny seeded StyleGAN2: W / W+ spaces, noise optimisation, shared model untouched."""
import pytest
import torch

from ganinv.invert.optimize import invert_optimize, noise_buffer_names, noise_regularizer
from factories import tiny_stylegan2


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2(resolution=32, channel_base=512, name="tiny")


@pytest.mark.parametrize("space", ["W", "W+"])
def test_recovers_own_sample(G, space):
    with torch.no_grad():
        target = G(G.sample_z(1, seed=3), noise_mode="const")
    before = {n: b.clone() for n, b in G.named_buffers()}
    r = invert_optimize(G, target, space=space, num_steps=80, perceptual_weight=0.0, lr=0.05, init="mean")
    assert r.latent.shape == ((1, 32) if space == "W" else (1, G.num_ws, 32))
    assert r.loss_history[-1]["mse"] < r.loss_history[0]["mse"] / 3
    assert r.noise is not None and set(r.noise) == set(noise_buffer_names(G))
    for name, n in r.noise.items():
        assert n.shape[0] == 1 and n.shape[-2:] == before[name].shape[-2:]
        assert abs(float(n.mean())) < 1e-4 and abs(float(n.std()) - 1) < 0.05   # renormalised every step
    # The shared generator is never modified.
    for name, b in G.named_buffers():
        assert torch.equal(b, before[name]), name


def test_mean_start_and_no_noise_optimisation(G):
    with torch.no_grad():
        target = G(G.sample_z(1, seed=4), noise_mode="const")
    r = invert_optimize(G, target, space="W+", num_steps=1, perceptual_weight=0.0, optimize_noise=False,
                        init="mean", initial_noise_factor=0.0, lr=1e-9)
    assert r.noise is None
    w_mean = r.latent[0, 0]
    assert torch.allclose(r.latent[0], w_mean.expand_as(r.latent[0]), atol=1e-6)   # one code broadcast


def test_noise_regularizer_is_per_run():
    """Each run's maps are squared on their own: a stacked batch gives each run's lone value."""
    g = torch.Generator().manual_seed(0)
    a = [torch.randn(1, 1, s, s, generator=g) for s in (8, 16)]
    b = [torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=g), size=s, mode="bilinear")
         for s in (8, 16)]
    both = noise_regularizer([torch.cat([x, y]) for x, y in zip(a, b)])
    assert both.shape == (2,)
    assert torch.allclose(both, torch.cat([noise_regularizer(a), noise_regularizer(b)]), rtol=1e-5)


def test_batch_run_matches_per_image_runs(tiny_sg2, one_thread):
    """With the noise regulariser on, inverting two images together gives each image the
    result it gets alone (image b of a batch starts like a lone run seeded seed + b)."""
    with torch.no_grad():
        targets = tiny_sg2(tiny_sg2.sample_z(2, seed=11), noise_mode="const")
    kw = dict(space="W+", num_steps=15, perceptual_weight=0.0, init="mean", initial_noise_factor=0.0,
              noise_reg_weight=1e3, lr=0.05)
    batch = invert_optimize(tiny_sg2, targets, seed=0, **kw)
    for b in range(2):
        alone = invert_optimize(tiny_sg2, targets[b:b + 1], seed=b, **kw)
        assert torch.allclose(batch.latent[b], alone.latent[0], atol=1e-4), b
        for name, n in alone.noise.items():
            assert torch.allclose(batch.noise[name][b], n[0], atol=1e-4), (b, name)


def test_concurrent_noise_optimisations_leave_the_shared_model_and_other_renders_alone(G):
    # the registry shares one generator between sessions: two inversions (each optimising its own noise
    # maps) and a render of the model's constant noise run at once; functional_call swapped the maps on
    # the module itself, so the render failed on the other runs' shapes and G kept a run's noise for good
    import threading
    ws = G.broadcast(G.mapping(G.sample_z(1, seed=5)))
    with torch.no_grad():
        reference = G.synthesis(ws, noise_mode="const")
    before = {n: b.clone() for n, b in G.named_buffers()}
    targets = [torch.rand(2, 3, G.resolution, G.resolution, generator=torch.Generator().manual_seed(i)) * 2 - 1
               for i in range(2)]
    alone = invert_optimize(G, targets[0], space="W+", num_steps=15, perceptual_weight=0.0)
    done, errors, renders = threading.Event(), [], []

    def render():
        while not done.is_set():
            try:
                with torch.no_grad():
                    renders.append(torch.equal(G.synthesis(ws, noise_mode="const"), reference))
            except Exception as e:                                          # noqa: BLE001 (counted)
                errors.append(repr(e))

    results = {}

    def invert(i):
        try:
            results[i] = invert_optimize(G, targets[i], space="W+", num_steps=15, perceptual_weight=0.0)
        except Exception as e:                                              # noqa: BLE001 (counted)
            errors.append(repr(e))

    threads = [threading.Thread(target=render)] + [threading.Thread(target=invert, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    done.set()
    threads[0].join()
    assert errors == [] and renders and all(renders)
    assert all(torch.equal(b, before[n]) for n, b in G.named_buffers())
    torch.testing.assert_close(results[0].latent, alone.latent)             # as if it had run alone
