"""Fixtures for model tests: a tiny seeded StyleGAN2 and an NVIDIA-format pickle writer.

The NVIDIA pickle is written without NVIDIA's code: fake ``torch_utils.persistence`` and
``dnnlib.util`` modules are registered only while pickling, so the file references the
same globals as an official snapshot.  The fake ``_reconstruct_persistent_obj`` writes a
canary file when called, so a loader that executed anything from the pickle would leave
evidence behind.
"""
from __future__ import annotations

import collections
import contextlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from factories import tiny_stylegan2, tiny_stylegan2_config
from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

TINY = tiny_stylegan2_config()


def make_tiny(config: StyleGAN2Config = TINY, seed: int = 0) -> StyleGAN2Generator:
    """The factory's tiny StyleGAN2 with varied biases, noise strengths and w_avg."""
    return tiny_stylegan2(seed, config=config, varied=True, name="stylegan2")


@pytest.fixture
def tiny_G() -> StyleGAN2Generator:
    return make_tiny()


@pytest.fixture
def z() -> torch.Tensor:
    return torch.randn(3, TINY.z_dim, generator=torch.Generator().manual_seed(7))


# --------------------------------------------------------------------------- NVIDIA-format pickles
@contextlib.contextmanager
def fake_nvidia_modules(canary: Path):
    """Register fake ``torch_utils.persistence`` / ``dnnlib.util`` modules, then remove them."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules.get(n) for n in names}
    tu, pers, dn, util = (types.ModuleType(n) for n in names)

    def _reconstruct_persistent_obj(meta):                      # what a code-running loader would call
        canary.write_text("executed code from the pickle")
        return None

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easy
    tu.persistence, dn.util = pers, util
    sys.modules.update(zip(names, (tu, pers, dn, util)))
    try:
        yield pers, easy
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Persistent:
    """Pickles like an NVIDIA @persistent_class instance: _reconstruct_persistent_obj(meta)."""

    def __init__(self, reconstruct, class_name: str, state: dict):
        self.reconstruct, self.class_name, self.state = reconstruct, class_name, state

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src="raise SystemExit('module source must never run')",
                    class_name=self.class_name, state=self.state)
        return (self.reconstruct, (meta,))


_CLASS_NAMES = {"MappingNetwork": "MappingNetwork", "SynthesisNetwork": "SynthesisNetwork",
                "SynthesisBlock": "SynthesisBlock", "SynthesisLayer": "SynthesisLayer", "ToRGBLayer": "ToRGBLayer",
                "FullyConnectedLayer": "FullyConnectedLayer", "StyleGAN2Generator": "Generator"}


def _as_persistent(module: torch.nn.Module, reconstruct, init_kwargs: dict | None = None) -> _Persistent:
    state = {
        "training": False,
        "_parameters": collections.OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                               for k, v in module._parameters.items()),
        "_buffers": collections.OrderedDict((k, v.clone()) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict((k, _as_persistent(m, reconstruct)) for k, m in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": init_kwargs or {},
    }
    if hasattr(module, "weight_gain"):
        state["weight_gain"] = np.float64(module.weight_gain)      # NVIDIA stores numpy scalars
    return _Persistent(reconstruct, _CLASS_NAMES[type(module).__name__], state)


def nvidia_kwargs(G: StyleGAN2Generator, easy=dict, **overrides) -> dict:
    c = G.config
    kw = dict(z_dim=c.z_dim, c_dim=0, w_dim=c.w_dim, img_resolution=c.resolution, img_channels=c.img_channels,
              mapping_kwargs=easy(num_layers=c.mapping_layers),
              synthesis_kwargs=easy(channel_base=c.channel_base, channel_max=c.channel_max, num_fp16_res=4,
                                    conv_clamp=c.conv_clamp))
    kw.update(overrides)
    return kw


def write_nvidia_pickle(G: StyleGAN2Generator, path: Path, canary: Path, *, protocol: int = 4,
                        **kwarg_overrides) -> None:
    """Write ``{"G_ema": G, "training_set_kwargs": ...}`` the way stylegan2-ada-pytorch does."""
    with fake_nvidia_modules(canary) as (pers, easy):
        rec = pers._reconstruct_persistent_obj
        snap = {"training_set_kwargs": easy(class_name="training.dataset.ImageFolderDataset", resolution=16),
                "G_ema": _as_persistent(G, rec, nvidia_kwargs(G, easy, **kwarg_overrides))}
        with open(path, "wb") as f:
            pickle.dump(snap, f, protocol=protocol)


@pytest.fixture
def nvidia_pickle(tmp_path, tiny_G):
    """(path, canary path) of an NVIDIA-format pickle of tiny_G."""
    path, canary = tmp_path / "network-snapshot.pkl", tmp_path / "canary.txt"
    write_nvidia_pickle(tiny_G, path, canary)
    assert not canary.exists()
    return path, canary


@pytest.fixture
def tiny_config() -> StyleGAN2Config:
    return TINY


@pytest.fixture
def tiny_factory():
    """make_tiny(config=TINY, seed=0) -> a fresh seeded tiny generator."""
    return make_tiny


@pytest.fixture
def nvidia_pickle_writer():
    """write_nvidia_pickle(G, path, canary, *, protocol=4, **generator_kwarg_overrides)."""
    return write_nvidia_pickle


@pytest.fixture
def fake_nvidia_env():
    """Context manager registering the fake NVIDIA modules (to prove the canary fires under plain pickle)."""
    return fake_nvidia_modules
