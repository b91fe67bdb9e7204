"""Our StyleGAN2 against the reference implementations.

tests/data/golden/ holds tiny seeded generators written by NVIDIA's stylegan2-ada-pytorch (a data-only
network pickle) and by rosinality's stylegan2-pytorch (its ``.pt``), and what their own code rendered
from them on CPU with their reference ops: const noise, psi 1 and 0.7, and a truncation cutoff
(scripts/make_golden.py; docs/golden.md says how to regenerate them).  Here they are read with ganinv's
loaders and rendered by both reference modulated-convolution paths and by the fast "auto" path (batched,
and one image at a time with weights modulated); every pixel must match within the manifest's tolerance (1e-4).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ganinv.models.loaders import load_stylegan2, sniff_format

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "data", "golden")
MANIFEST = json.load(open(os.path.join(GOLDEN, "manifest.json")))
MODELS = {m["name"]: m for m in MANIFEST["models"]}
CASES = [(m["name"], c["key"]) for m in MANIFEST["models"] for c in m["cases"]]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def loaded():
    """name -> (generator loaded by ganinv, the reference outputs)."""
    out = {}
    for name, m in MODELS.items():
        G = load_stylegan2(os.path.join(GOLDEN, m["checkpoint"]))
        with np.load(os.path.join(GOLDEN, m["outputs"]), allow_pickle=False) as f:
            out[name] = (G, {k: torch.from_numpy(f[k]) for k in f.files})
    return out


def _render(G, z, case: dict, *, fused: bool | str, noise_mode: str = "const"):
    with torch.no_grad():
        ws = G.mapping_ws(z, truncation_psi=case["truncation_psi"], truncation_cutoff=case["truncation_cutoff"])
        if fused == "auto-n1":      # one image at a time: the fast path's N = 1 forms (weights modulated)
            return ws, torch.cat([G.synthesis(w[None], noise_mode=noise_mode, fused_modconv="auto") for w in ws])
        return ws, G.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused)


def test_manifest_and_formats():
    assert MANIFEST["format"] == "ganinv-golden/1" and MANIFEST["tolerance"] == 1e-4
    kinds = {m["source"]["repo"]: sniff_format(os.path.join(GOLDEN, m["checkpoint"])) for m in MODELS.values()}
    assert kinds == {"NVlabs/stylegan2-ada-pytorch": "nvidia-pkl", "rosinality/stylegan2-pytorch": "torch"}
    for m in MODELS.values():
        keys = [c["key"] for c in m["cases"]]
        psis = {c["truncation_psi"] for c in m["cases"]}
        assert psis == {1.0, 0.7} and any(c["truncation_cutoff"] for c in m["cases"]), keys
    pkl = open(os.path.join(GOLDEN, MODELS["nvidia-sg2ada-32"]["checkpoint"]), "rb").read()
    assert b"def forward" not in pkl and b"import torch" not in pkl       # data only: no NVIDIA source inside


@pytest.mark.parametrize("fused", [False, True, "auto", "auto-n1"], ids=["plain", "fused", "auto", "auto-n1"])
@pytest.mark.parametrize("name,key", CASES)
def test_matches_reference_implementation(loaded, name, key, fused, monkeypatch):
    import ganinv.models.stylegan2 as sg2
    if fused == "auto-n1":          # one image at a time (styles folded into the weights), channels-last
        monkeypatch.setattr(sg2, "AUTO_CHANNELS_LAST_MIN_RES", 4)
    G, gold = loaded[name]
    case = next(c for c in MODELS[name]["cases"] if c["key"] == key)
    ws, img = _render(G, gold["z"], case, fused=fused)
    tol = MANIFEST["tolerance"]
    assert ws.shape == gold[f"ws_{key}"].shape and img.shape == gold[f"img_{key}"].shape
    assert (ws - gold[f"ws_{key}"]).abs().max() <= tol
    err = float((img - gold[f"img_{key}"]).abs().max())
    assert err <= tol, f"{name} {key} ({'fused' if fused else 'plain'}): max |ours - reference| = {err:.2e}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_goldens_are_sensitive(loaded, name):
    """The references are informative: noise, truncation and the cutoff each move pixels far beyond 1e-4."""
    G, gold = loaded[name]
    cases = {c["key"]: c for c in MODELS[name]["cases"]}
    psi1 = next(k for k, c in cases.items() if c["truncation_psi"] == 1.0)
    full = next(k for k, c in cases.items() if c["truncation_psi"] != 1.0 and c["truncation_cutoff"] is None)
    cut = next(k for k, c in cases.items() if c["truncation_cutoff"])
    _, no_noise = _render(G, gold["z"], cases[psi1], fused=False, noise_mode="none")
    assert (no_noise - gold[f"img_{psi1}"]).abs().max() > 1e-2
    assert (gold[f"img_{psi1}"] - gold[f"img_{full}"]).abs().max() > 1e-2
    assert (gold[f"img_{full}"] - gold[f"img_{cut}"]).abs().max() > 1e-2
