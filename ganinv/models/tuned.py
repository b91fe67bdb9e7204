"""A generator with tuned weights that leaves the shared model untouched.

Pivotal tuning (ganinv.invert.pti) changes a generator's weights for one photo.  The model
registry caches one generator per process, shared by every session and thread, so the
tuned weights are kept as a *delta* against it,

    delta = {parameter name: theta*_name - theta_name}       (float tensors, shapes of G's)

and rendered by ``TunedGenerator(base, delta)``: a private copy whose weights are
base + delta behind the same Generator interface, with the same parameter names (so
state_dicts, SeFa's weight reads and direction checks by ``name`` work unchanged).
Building one only *reads* the base; nothing here ever writes to it, swaps its parameters or
calls ``functional_call`` on it, so concurrent users of the base are never affected.

``tuned_generator(base, delta)`` returns a cached instance (least recently used dropped
beyond ``MAX_TUNED`` per process): one copy costs as much memory as the base model
(DCGAN 64 px: 14 MB; StyleGAN2 1024 px: 120 MB).
"""
from __future__ import annotations

import copy
import hashlib
from typing import Mapping

import torch

from ..cache import LoadOnceCache
from .base import Generator

Delta = dict[str, torch.Tensor]            # {parameter name: tuned - original}
# Tuned copies kept per process by ``tuned_generator``: the sessions editing right now.  A copy costs the base
# model's memory; why 2 and not 4: docs/benchmarks.md, "Server memory".
MAX_TUNED = 2


class DeltaError(ValueError):
    """A weight delta does not fit the generator; the message says why."""


def check_delta(G: Generator, delta: Mapping[str, torch.Tensor]) -> None:
    """Raise DeltaError unless every member names a parameter of ``G`` with its shape, floating and finite."""
    params = dict(G.named_parameters())
    for name, d in delta.items():
        if name not in params:
            raise DeltaError(f"the weight delta names {name!r}, which {G.name!r} has no parameter called")
        if tuple(d.shape) != tuple(params[name].shape):
            raise DeltaError(f"delta {name!r} has shape {list(d.shape)}, {G.name!r} needs "
                             f"{list(params[name].shape)}")
        if not d.is_floating_point() or not torch.isfinite(d).all():
            raise DeltaError(f"delta {name!r} must hold finite floats")


def weight_delta(base: Generator, tuned: torch.nn.Module, names: list[str] | None = None) -> Delta:
    """{name: tuned - base} on CPU in float32 for ``names`` (default: every parameter that changed)."""
    pb, pt = dict(base.named_parameters()), dict(tuned.named_parameters())
    out: Delta = {}
    with torch.no_grad():
        for n in names if names is not None else pt:
            d = (pt[n].float() - pb[n].float()).cpu()
            if names is not None or d.any():
                out[n] = d
    return out


def delta_digest(delta: Mapping[str, torch.Tensor]) -> str:
    """sha256 over names, shapes, dtypes and values: the cache key of a delta."""
    h = hashlib.sha256()
    for name in sorted(delta):
        t = delta[name].detach().cpu().contiguous()
        h.update(f"{name}|{list(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")   # 0-dim too
    return h.hexdigest()


class TunedGenerator(Generator):
    """``base`` with weights base + ``delta``, as its own copy (``base`` is only read).

    Interface methods (mapping, synthesis, features, synthesis_from, layer_names, w_avg,
    forward) and family extras (styles, layer_shape, config, ...) are the copy's; modules,
    parameters and buffers are shared with the copy, so names equal the base's.
    """

    def __init__(self, base: Generator, delta: Mapping[str, torch.Tensor]):
        super().__init__()
        check_delta(base, delta)
        net = copy.deepcopy(base)
        with torch.no_grad():
            params = dict(net.named_parameters())
            for name, d in delta.items():
                params[name].add_(d.to(params[name].device, params[name].dtype))
        net.eval().requires_grad_(False)
        # Same module tree as the copy: named_parameters(), state_dict() and .to() see the
        # copy's tensors under the base's names.
        self._modules, self._parameters, self._buffers = net._modules, net._parameters, net._buffers
        self._non_persistent_buffers_set = net._non_persistent_buffers_set
        object.__setattr__(self, "net", net)     # plain attribute: registering it would rename everything
        for attr in ("name", "family", "z_dim", "w_dim", "num_ws", "resolution", "img_channels", "spaces"):
            object.__setattr__(self, attr, getattr(base, attr))
        self.base_family = type(base).__name__
        self.delta_names = tuple(sorted(delta))
        self.training = False

    # StyleGAN2's mapping / synthesis are modules, the DCGAN's are methods: hand out the copy's.
    mapping = property(lambda self: self.net.mapping)
    synthesis = property(lambda self: self.net.synthesis)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.net.layer_names

    @property
    def w_avg(self) -> torch.Tensor:
        return self.net.w_avg

    def features(self, ws: torch.Tensor, layer: str, **kwargs) -> torch.Tensor:
        return self.net.features(ws, layer, **kwargs)

    def synthesis_from(self, x: torch.Tensor, layer: str, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.net.synthesis_from(x, layer, ws, **kwargs)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        return self.net(*args, **kwargs)

    def train(self, mode: bool = True) -> "TunedGenerator":
        self.net.train(False)                   # a rendering copy: never batch statistics
        return self

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            net = self.__dict__.get("net")
            if net is None:
                raise
            return getattr(net, name)           # family extras: styles, layer_shape, config, ...


_CACHE: LoadOnceCache[TunedGenerator] = LoadOnceCache(max_items=MAX_TUNED)


def tuned_generator(base: Generator, delta: Mapping[str, torch.Tensor] | None, *,
                    key: str | None = None) -> Generator:
    """``base`` itself when ``delta`` is empty, else a cached ``TunedGenerator(base, delta)``.

    ``key`` (e.g. a record id) skips hashing the delta; equal keys must mean equal deltas.
    """
    if not delta:
        return base
    cache_key = (id(base), base.name, str(base.device), key or delta_digest(delta))
    return _CACHE.get(cache_key, lambda: TunedGenerator(base, delta))


def clear_tuned_cache() -> None:
    _CACHE.clear()


__all__ = ["Delta", "DeltaError", "MAX_TUNED", "TunedGenerator", "check_delta", "clear_tuned_cache", "delta_digest",
           "tuned_generator", "weight_delta"]
