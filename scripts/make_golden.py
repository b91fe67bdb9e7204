"""Regenerate the StyleGAN2 reference outputs in tests/data/golden/ from the reference implementations.

    python scripts/make_golden.py --nvidia PATH --rosinality PATH [--out tests/data/golden]

PATH is a source checkout of NVlabs/stylegan2-ada-pytorch or rosinality/stylegan2-pytorch (docs/golden.md
says which commits and how to get them).  Nothing of theirs is copied here: this script imports their
modules from PATH, builds tiny seeded generators with their code, renders with their CPU reference paths
and writes (1) each generator in its native checkpoint format and (2) its outputs as .npz, plus
manifest.json.  tests/models/test_golden.py loads the checkpoints with ganinv's loaders and compares.

What is patched, and why (all at run time, in this process only):
- NVIDIA: ``torch_utils.ops.bias_act._init`` and ``upfirdn2d._init`` return False and
  ``custom_ops.get_plugin`` raises, so no CUDA plugin is ever compiled and every op takes its
  ``impl='ref'`` path (pure PyTorch); ``conv2d_gradfix.enabled = False``.  ``requests`` (imported by
  dnnlib.util for downloads, never used here) is stubbed when it is not installed.
- NVIDIA pickle: their pickle embeds the source of their modules in every persistent object's
  ``module_src``; it is re-serialised with that string replaced (same object graph, same globals, data only),
  so no NVIDIA code is committed.
- rosinality: ``op/`` compiles CUDA kernels at import (``torch.utils.cpp_extension.load``); ``load`` is
  replaced by a stub that raises if anything calls into it, so their own CPU fallbacks run
  (``fused_leaky_relu``'s CPU branch and ``upfirdn2d_native``; ``conv2d_gradfix`` uses F.conv2d on CPU).
- rosinality channels: their Generator fixes 512 channels up to 32 px; a subclass replaces the table in
  ``__setattr__`` when ``__init__`` assigns ``self.channels`` (min(base // res, max), small), so the
  checkpoint stays a few kB.  Every module and forward pass is theirs.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import pickle
import sys
import types

import numpy as np
import torch

FORMAT = "ganinv-golden/1"
TOLERANCE = 1e-4
OMITTED_SOURCE = "# module source omitted: data-only golden checkpoint (ganinv docs/golden.md)\n"

NVIDIA = dict(name="nvidia-sg2ada-32", seed=1, num_images=2,
              kwargs=dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                          mapping_kwargs=dict(num_layers=2),
                          synthesis_kwargs=dict(channel_base=256, channel_max=16, num_fp16_res=0, conv_clamp=256)),
              cases=[dict(key="psi1", truncation_psi=1.0, truncation_cutoff=None),
                     dict(key="psi07", truncation_psi=0.7, truncation_cutoff=None),
                     dict(key="psi07_cut3", truncation_psi=0.7, truncation_cutoff=3)])
ROSINALITY = dict(name="rosinality-16", seed=2, num_images=2, channel_base=128, channel_max=16,
                  kwargs=dict(size=16, style_dim=16, n_mlp=2),
                  cases=[dict(key="psi1", truncation_psi=1.0, truncation_cutoff=None),
                         dict(key="psi07", truncation_psi=0.7, truncation_cutoff=None),
                         dict(key="psi07_cut2", truncation_psi=0.7, truncation_cutoff=2)])


def vary_(module: torch.nn.Module, seed: int, *, affine: str) -> None:
    """Non-trivial biases and noise strengths (zeros at init would hide how they are loaded and used)."""
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength") or name.endswith("noise.weight"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if affine in name else 0.0))


# --------------------------------------------------------------------------- NVIDIA
def _import_nvidia(path: str):
    sys.path.insert(0, os.path.abspath(path))
    if importlib.util.find_spec("requests") is None:
        sys.modules["requests"] = types.ModuleType("requests")        # dnnlib.util: downloads only
    import dnnlib
    from torch_utils import custom_ops, persistence
    from torch_utils.ops import bias_act, conv2d_gradfix, upfirdn2d
    from training import networks

    def no_plugin(*args, **kwargs):
        raise RuntimeError("make_golden: a CUDA plugin was requested; only the reference ops may run")

    custom_ops.get_plugin = no_plugin
    bias_act._init = lambda: False
    upfirdn2d._init = lambda: False
    conv2d_gradfix.enabled = False
    return dnnlib, persistence, networks


class _DataOnly:
    """Stands in for one persistent object while re-pickling: same call, module source left out."""

    def __init__(self, reconstruct, meta: dict):
        self.reconstruct, self.meta = reconstruct, dict(meta, module_src=OMITTED_SOURCE)

    def __reduce__(self):
        return (self.reconstruct, (self.meta,))


def strip_sources(blob: bytes, persistence) -> object:
    """Unpickle NVIDIA's own pickle without running its embedded source, keeping the object graph."""
    real = persistence._reconstruct_persistent_obj

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
                return lambda meta: _DataOnly(real, meta)
            return super().find_class(module, name)

    return Reader(io.BytesIO(blob)).load()


def make_nvidia(path: str, out: str) -> dict:
    dnnlib, persistence, networks = _import_nvidia(path)
    spec = NVIDIA
    torch.manual_seed(spec["seed"])
    G = networks.Generator(**spec["kwargs"]).eval().requires_grad_(False)
    vary_(G, spec["seed"], affine="affine")
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=torch.Generator().manual_seed(spec["seed"] + 2000)))
    z = torch.randn(spec["num_images"], G.z_dim, generator=torch.Generator().manual_seed(spec["seed"] + 3000))
    arrays = {"z": z.numpy()}
    with torch.no_grad():
        for case in spec["cases"]:
            psi, cut = case["truncation_psi"], case["truncation_cutoff"]
            ws = G.mapping(z, None, truncation_psi=psi, truncation_cutoff=cut)
            img = G.synthesis(ws, noise_mode="const", force_fp32=True)
            assert torch.equal(img, G(z, None, truncation_psi=psi, truncation_cutoff=cut, noise_mode="const",
                                      force_fp32=True))
            arrays[f"ws_{case['key']}"], arrays[f"img_{case['key']}"] = ws.numpy(), img.numpy()
    snapshot = {"G_ema": G, "training_set_kwargs": dnnlib.EasyDict(resolution=G.img_resolution)}
    data = strip_sources(pickle.dumps(snapshot, protocol=4), persistence)
    ckpt = os.path.join(out, spec["name"] + ".pkl")
    with open(ckpt, "wb") as f:
        pickle.dump(data, f, protocol=4)
    np.savez(os.path.join(out, spec["name"] + ".npz"), **arrays)
    return _entry(spec, ckpt, "NVlabs/stylegan2-ada-pytorch", spec["kwargs"])


# --------------------------------------------------------------------------- rosinality
class _NoExtension:
    def __getattr__(self, name):
        raise RuntimeError(f"make_golden: rosinality's compiled op {name!r} was called; only CPU paths may run")


def _import_rosinality(path: str):
    import torch.utils.cpp_extension as cpp
    saved = cpp.load
    cpp.load = lambda *args, **kwargs: _NoExtension()                  # op/ binds `load` at import
    try:
        sys.path.insert(0, os.path.abspath(path))
        import model
    finally:
        cpp.load = saved
    return model


def make_rosinality(path: str, out: str) -> dict:
    model = _import_rosinality(path)
    spec = ROSINALITY
    base, cmax = spec["channel_base"], spec["channel_max"]

    class SmallGenerator(model.Generator):
        def __setattr__(self, name, value):
            if name == "channels":
                value = {res: min(base // res, cmax) for res in value}
            super().__setattr__(name, value)

    torch.manual_seed(spec["seed"])
    g = SmallGenerator(**spec["kwargs"]).eval().requires_grad_(False)
    vary_(g, spec["seed"], affine="modulation")
    torch.manual_seed(spec["seed"] + 2000)
    with torch.no_grad():
        mean = g.mean_latent(4096)                                     # their w-bar estimate, [1, style_dim]
    z = torch.randn(spec["num_images"], g.style_dim, generator=torch.Generator().manual_seed(spec["seed"] + 3000))
    arrays = {"z": z.numpy()}
    with torch.no_grad():
        for case in spec["cases"]:
            psi, cut = case["truncation_psi"], case["truncation_cutoff"]
            if cut is None:
                img, ws = g([z], truncation=psi, truncation_latent=mean, randomize_noise=False, return_latents=True)
            else:
                # rosinality has no truncation cutoff: truncate the first `cut` rows of W+ and feed it as latent.
                ws = g.style(z).unsqueeze(1).repeat(1, g.n_latent, 1)
                ws[:, :cut] = mean + psi * (ws[:, :cut] - mean)
                img, ws = g([ws], input_is_latent=True, randomize_noise=False, return_latents=True)
            arrays[f"ws_{case['key']}"], arrays[f"img_{case['key']}"] = ws.numpy(), img.numpy()
    ckpt = os.path.join(out, spec["name"] + ".pt")
    torch.save({"g_ema": g.state_dict(), "latent_avg": mean[0]}, ckpt)
    np.savez(os.path.join(out, spec["name"] + ".npz"), **arrays)
    kwargs = dict(spec["kwargs"], channels={str(r): c for r, c in g.channels.items() if r <= g.size})
    return _entry(spec, ckpt, "rosinality/stylegan2-pytorch", kwargs)


# --------------------------------------------------------------------------- manifest
def _entry(spec: dict, ckpt: str, repo: str, kwargs: dict) -> dict:
    return {"name": spec["name"], "checkpoint": os.path.basename(ckpt), "outputs": spec["name"] + ".npz",
            "source": {"repo": repo}, "reference_kwargs": kwargs, "seed": spec["seed"],
            "cases": spec["cases"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nvidia", required=True, help="stylegan2-ada-pytorch source checkout")
    p.add_argument("--nvidia-commit", default="unknown", help="recorded in manifest.json")
    p.add_argument("--rosinality", required=True, help="rosinality/stylegan2-pytorch source checkout")
    p.add_argument("--rosinality-commit", default="unknown", help="recorded in manifest.json")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "golden"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    nv = make_nvidia(args.nvidia, args.out)
    nv["source"]["commit"] = args.nvidia_commit
    ros = make_rosinality(args.rosinality, args.out)
    ros["source"]["commit"] = args.rosinality_commit
    manifest = {"format": FORMAT, "tolerance": TOLERANCE, "torch": torch.__version__, "models": [nv, ros]}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(args.out)):
        print(f"{name:28s} {os.path.getsize(os.path.join(args.out, name)):>8d} bytes")


if __name__ == "__main__":
    main()
