"""Pivotal tuning (Roich et al. 2022) on tiny seeded generators: fit, locality, edit preservation,
the delta as the only output, and the shared model untouched."""
import threading

import pytest
import torch

from ganinv.invert import pti
from ganinv.invert.pti import pivot_space, pivotal_tuning
from ganinv.io import load_latent, save_latent
from ganinv.latent import render, to_ws
from ganinv.losses import perceptual_metric, psnr
from ganinv.models.tuned import TunedGenerator

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = dict(perceptual="stlpips-alex", lpips_weight=0.0, locality_lpips=False)   # pixel losses only: milliseconds


def _unit(dim: int, seed: int) -> torch.Tensor:
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    return v / v.norm()


@pytest.fixture(scope="module")
def G(tiny_dc):
    return tiny_dc


@pytest.fixture(scope="module")
def case(G):
    """A target the pivot does not reach: another sample of the same model."""
    with torch.no_grad():
        x = G(G.sample_z(1, seed=11))
    return x, G.sample_z(1, seed=12)


def _state(G) -> dict:
    return {k: v.clone() for k, v in G.state_dict().items()}


def _same_state(G, before: dict) -> bool:
    return all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_tuning_fits_the_target_and_returns_only_a_delta(G, case):
    x, pivot = case
    before, pivot0 = _state(G), pivot.clone()
    calls = []
    r = pivotal_tuning(G, x, pivot, space="Z", num_steps=60, lr=3e-3, directions=[], edit_weight=0.0,
                       progress=lambda f, m: calls.append(f), progress_every=20, **FAST)
    assert r.metrics[0]["psnr"] > r.pivot_metrics[0]["psnr"] + 6, (r.pivot_metrics, r.metrics)
    assert set(r.delta) == {n for n, _ in G.named_parameters()}        # a DCGAN has no mapping network
    assert all(d.dtype == torch.float32 and d.device.type == "cpu" for d in r.delta.values())
    with torch.no_grad():
        again = render(TunedGenerator(G, r.delta), pivot, "Z")
    assert torch.allclose(again, r.image, atol=1e-5)                   # the delta is the whole result
    assert _same_state(G, before) and torch.equal(pivot, pivot0)
    assert calls == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]     # 0: set up, tuning starts
    assert len(r.loss_history) == 60 and r.loss_history[-1]["l2"] < r.loss_history[0]["l2"] / 4
    assert r.seconds > 0 and r.settings["num_steps"] == 60 and r.model == G.name


def test_shipped_defaults_run_every_term_of_eq_6(G, case):
    """PTI as shipped (no setting passed) on the tiny case: L2 + L_LPIPS + the locality term, all live."""
    x, pivot = case
    r = pivotal_tuning(G, x, pivot, space="Z")
    h = r.loss_history
    percept = perceptual_metric("cpu", "lpips-alex")
    assert r.settings["perceptual_loss_network"] == percept.name == "lpips-alex"
    # step 1 runs the untouched weights: L2 and LPIPS of G(w_p) against x computed here, and every w_r
    # renders exactly its reference
    with torch.no_grad():
        g0 = G(pivot)
        assert h[0]["l2"] == pytest.approx(float((g0 - x).square().mean()), rel=1e-5)
        assert h[0]["lpips"] == pytest.approx(float(percept(g0, x)), rel=1e-5)
    assert h[0]["locality"] == 0.0
    # eq. 6 with the paper's weights (lambda_L2 = 1, L_LPIPS 1, lambda_R = 0.1), every term non-zero once tuning
    # has moved the weights
    for row in h:
        assert row["loss"] == pytest.approx(row["l2"] + row["lpips"] + 0.1 * row["locality"], rel=1e-5, abs=1e-7)
    assert min(row["lpips"] for row in h) > 0.01 and h[-1]["locality"] > 1e-3
    assert r.metrics[0]["psnr"] > r.pivot_metrics[0]["psnr"] + 3                    # it fits the target
    # the LPIPS term acts: dropping it leaves the result farther from x in LPIPS
    no_lpips = pivotal_tuning(G, x, pivot, space="Z", lpips_weight=0.0)
    with torch.no_grad():
        assert float(percept(r.image, x)) < float(percept(no_lpips.image, x)) - 0.005


def test_shipped_defaults_are_the_papers_but_for_the_documented_departures():
    """Eq. 5 with its LPIPS term, a fresh w_r each step, lr 3e-4; 150 steps and no LPIPS stop (documented)."""
    import inspect
    d = {k: p.default for k, p in inspect.signature(pivotal_tuning).parameters.items()}
    assert d["locality_lpips"] is True and d["fresh_locality"] is True and d["locality_samples"] == 1
    assert d["lr"] == 3e-4 and d["locality_weight"] == 0.1 and d["l2_weight"] == d["lpips_weight"] == 1.0
    assert d["num_steps"] == 150 and d["lpips_stop"] == 0.0


def test_locality_samples_are_drawn_anew_every_step(G, case, monkeypatch):
    x, pivot = case
    drawn = []
    original = pti._locality_points

    def spy(G, ws_p, n, alpha, gen):
        out = original(G, ws_p, n, alpha, gen)
        drawn.append(out)
        return out
    monkeypatch.setattr(pti, "_locality_points", spy)
    pivotal_tuning(G, x, pivot, space="Z", num_steps=5, directions=[], **FAST)
    assert len(drawn) == 5 and all(w.shape[0] == 1 for w in drawn)
    assert all(not torch.equal(drawn[i], drawn[i + 1]) for i in range(4))
    drawn.clear()
    pivotal_tuning(G, x, pivot, space="Z", num_steps=5, directions=[], fresh_locality=False, reference_bank=8, **FAST)
    assert len(drawn) == 1 and drawn[0].shape[0] == 5        # one bank (min(bank, steps)), drawn once


def test_lpips_stop_ends_tuning_at_the_first_step_at_or_below_it(G, case):
    """The paper's stop: before the step whose L_LPIPS at the pivot is <= lpips_stop (authors' code)."""
    x, pivot = case
    kw = dict(space="Z", num_steps=30, lr=3e-3, directions=[], locality_lpips=False, perceptual="stlpips-alex")
    full = [row["lpips"] for row in pivotal_tuning(G, x, pivot, **kw).loss_history]
    stop = sorted(full)[len(full) // 2]                       # reached part-way, not at step 1
    first = next(i for i, v in enumerate(full) if v <= stop)
    assert 0 < first < len(full) - 1
    r = pivotal_tuning(G, x, pivot, lpips_stop=stop, **kw)
    assert r.settings["steps_run"] == len(r.loss_history) == first
    assert [row["lpips"] for row in r.loss_history] == pytest.approx(full[:first], rel=1e-6)


def test_pivot_space_is_w_where_the_generator_has_it(tiny_sg2, G):
    assert pivot_space(tiny_sg2) == "W"
    assert pivot_space(tiny_sg2, "W+") == "W+"
    assert pivot_space(G) is None                             # Z only: the inversion's own default


def _far_change(G, delta, pivot, alpha: float) -> float:
    """Mean squared change of the tuned generator at latents alpha away from the pivot (eq. 4's w_r)."""
    z = G.sample_z(16, seed=99)
    d = z - pivot
    w_r = pivot + alpha * d / d.norm(dim=1, keepdim=True)
    with torch.no_grad():
        return float((render(TunedGenerator(G, delta), w_r, "Z") - render(G, w_r, "Z")).square().mean())


def test_locality_regulariser_keeps_the_neighbourhood(G, case):
    x, pivot = case
    kw = dict(space="Z", num_steps=60, lr=3e-3, directions=[], edit_weight=0.0, locality_samples=4, **FAST)
    free = pivotal_tuning(G, x, pivot, locality_weight=0.0, **kw)
    local = pivotal_tuning(G, x, pivot, locality_weight=3.0, locality_alpha=1.0, **kw)
    spread = float(G.sample_z(4096, seed=5).norm(dim=1).square().mean().sqrt())
    assert _far_change(G, local.delta, pivot, spread) < 0.5 * _far_change(G, free.delta, pivot, spread)
    assert local.metrics[0]["psnr"] > local.pivot_metrics[0]["psnr"] + 3          # still fits the target


def _edit_error(G, delta, pivot, n, a: float) -> float:
    """|| (G'(w_p + a n) - G'(w_p)) - (G(w_p + a n) - G(w_p)) ||^2: how far the tuned edit drifted."""
    T = TunedGenerator(G, delta)
    with torch.no_grad():
        zs = torch.cat([pivot, pivot + a * n])
        t, o = render(T, zs, "Z"), render(G, zs, "Z")
    return float(((t[1] - t[0]) - (o[1] - o[0])).square().mean())


def test_edit_samples_keep_the_originals_edit(G, case):
    x, pivot = case
    n = _unit(G.z_dim, 3)
    kw = dict(space="Z", num_steps=80, lr=3e-3, locality_weight=0.0, **FAST)
    plain = pivotal_tuning(G, x, pivot, directions=[n], edit_weight=0.0, **kw)
    kept = pivotal_tuning(G, x, pivot, directions=[n], edit_weight=3.0, edit_samples=4, **kw)
    assert _edit_error(G, kept.delta, pivot, n, 2.0) < 0.5 * _edit_error(G, plain.delta, pivot, n, 2.0)
    assert kept.settings["num_directions"] == 1 and "edit" in kept.loss_history[-1]
    assert "edit" not in plain.loss_history[-1]                         # weight 0: the paper's PTI
    # "image": eq. 5 along the directions, the tuned G keeps the original's image at w_e
    still = pivotal_tuning(G, x, pivot, directions=[n], edit_weight=3.0, edit_loss="image", edit_samples=4, **kw)
    with torch.no_grad():
        w_e = pivot + 2.0 * n
        far = [float((render(TunedGenerator(G, r.delta), w_e, "Z") - render(G, w_e, "Z")).square().mean())
               for r in (plain, still)]
    assert far[1] < 0.5 * far[0]


@pytest.mark.parametrize("space", ["Z", "W", "W+"])
def test_stylegan2_tunes_synthesis_only(space, tiny_sg2_varied):
    G = tiny_sg2_varied
    before = _state(G)
    z = G.sample_z(1, seed=4)
    with torch.no_grad():
        x = G(G.sample_z(1, seed=5), noise_mode="const")
        pivot = {"Z": z, "W": G.mapping(z), "W+": G.broadcast(G.mapping(z))}[space]
    n = _unit(G.w_dim, 6)
    r = pivotal_tuning(G, x, pivot, space=space, num_steps=40, lr=3e-3, directions=[n] if space != "Z" else [],
                       edit_weight=1.0 if space != "Z" else 0.0, **FAST)
    assert r.delta and not any(k.startswith("mapping.") for k in r.delta)
    assert r.metrics[0]["psnr"] > r.pivot_metrics[0]["psnr"] + 3
    with torch.no_grad():
        again = TunedGenerator(G, r.delta).synthesis(to_ws(G, pivot, space), noise_mode="const")
    assert torch.allclose(again, r.image, atol=1e-4)
    assert _same_state(G, before)


def test_record_with_fp16_delta_renders_the_tuned_image(G, case, tmp_path):
    x, pivot = case
    r = pivotal_tuning(G, x, pivot, space="Z", num_steps=40, lr=3e-3, directions=[], edit_weight=0.0, **FAST)
    path = save_latent(str(tmp_path / "rec.npz"), r.latent, model=G.name, space="Z", delta=r.delta)
    rec = load_latent(path, G=G)
    with torch.no_grad():
        img = render(TunedGenerator(G, rec.delta), rec.latent, "Z")
    assert float(psnr(img, r.image)) > 45                                # fp16 costs nothing visible


def test_bad_inputs(G, case):
    x, pivot = case
    with pytest.raises(ValueError, match="one pivot"):
        pivotal_tuning(G, x, pivot.repeat(2, 1), space="Z", num_steps=1)
    with pytest.raises(AssertionError, match="target"):
        pivotal_tuning(G, x[:, :, :8], pivot, space="Z", num_steps=1)
    with pytest.raises(ValueError, match="cannot move"):
        pivotal_tuning(G, x, pivot, space="Z", num_steps=1, directions=[torch.ones(3)], **FAST)
    with pytest.raises(ValueError, match="shape"):
        pivotal_tuning(G, x, pivot[:, :3], space="Z", num_steps=1)
    with pytest.raises(ValueError, match="edit_loss"):
        pivotal_tuning(G, x, pivot, space="Z", num_steps=1, edit_loss="magnitude")


def test_shared_model_is_bit_identical_after_concurrent_tuning_and_rendering(G, case):
    x, pivot = case
    before = _state(G)
    with torch.no_grad():
        want = render(G, pivot, "Z")
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(2):
                r = pivotal_tuning(G, x, pivot, space="Z", num_steps=15, lr=3e-3, seed=seed * 10 + i,
                                   directions=[_unit(G.z_dim, seed)], edit_weight=1.0, **FAST)
                with torch.no_grad():
                    render(TunedGenerator(G, r.delta), pivot, "Z")
                    assert torch.equal(render(G, pivot, "Z"), want)
        except BaseException as e:               # re-raised in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert _same_state(G, before)
