"""The inversion methods as one registry: ``METHODS`` names each and says how to run it.

The dispatch (``invert.run_method``), the batch path, the Invert tab's method lists and the CLI's
``--method`` choices all read ``METHODS``; adding a method is one ``register`` call.
Each entry runs one method package of ``ganinv.invert`` on a prepared crop (tensor in, tensor out).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from ..invert.encoder import Encoder, encode, encoder_path, load_encoder
from ..invert.hybrid import invert_hybrid
from ..invert.layerwise import invert_layerwise
from ..invert.multicode import invert_multicode
from ..invert.optimize import invert_optimize
from ..invert.pti import pivot_space, pivotal_tuning
from ..latent import render
from ..models.base import Generator
from ..settings import PTI_TUNE_STEP_COST, ProgressFn
from .common import InputError, Phase, timed_phases

HYBRID_OPTIMIZERS = ("lbfgs", "adam")       # per-image L-BFGS (default) or the authors' Adam


@dataclass
class MethodOutput:
    """What a method gives back for a crop x [1, C, R, R]."""

    image: torch.Tensor                         # [1, C, R, R] reconstruction in [-1, 1]
    latent: torch.Tensor | None = None          # one code, or None (image only)
    space: str | None = None
    delta: dict | None = None                   # pti: tuned - shared weights
    history: list[dict] | None = None
    diff: torch.Tensor | None = None            # [1, 1, R, R] in [0, 1]: what G cannot reproduce
    residual: tuple[str, torch.Tensor] | None = None    # (layer, [1, C, h, w]) features added back when rendering


# run(G, x, settings, encoder path, progress) -> MethodOutput
Runner = Callable[[Generator, torch.Tensor, dict, "str | None", "ProgressFn | None"], MethodOutput]


@dataclass(frozen=True)
class InversionMethod:
    """One entry of ``METHODS``."""

    name: str
    label: str                                  # shown in the Invert tab's lists
    help: str                                   # one phrase for ``ganinv invert --method``
    run: Runner
    gives_code: bool                            # True: one latent the other tabs can edit
    batched: bool = False                       # True: ``run_batch`` takes [N, ...] targets
    main: bool = False                          # listed in the tab's main method dropdown


METHODS: dict[str, InversionMethod] = {}


def register(method: InversionMethod) -> InversionMethod:
    """Add (or replace) ``method`` in ``METHODS``."""
    METHODS[method.name] = method
    return method


def method_encoder(G: Generator, path: str | None, required: bool) -> Encoder | None:
    """The model's encoder checkpoint (or ``path``); None when optional and absent."""
    p = encoder_path(path or G.name)
    if not os.path.isfile(p):
        if required:
            raise InputError(f"this method needs a trained encoder for {G.name!r}; train one with "
                             f"`python -m ganinv train-encoder --model {G.name}`.")
        return None
    return load_encoder(p, G=G, device=G.device)


def _given(s: dict, *keys: str) -> dict:
    """The optional settings among ``keys`` the user set (None: the method's default)."""
    return {k: s[k] for k in keys if s.get(k) is not None}


def optimize_run(G: Generator, x: torch.Tensor, s: dict, progress: ProgressFn | None, *, timed: bool = True):
    """Latent optimisation with the checked settings (one or a batch of targets); ``progress`` sees every step
    and, with ``timed``, the expected time from the first (``TimedProgress``)."""
    if timed:
        progress = timed_phases(progress, Phase("optimisation", s["steps"]))[0]
    return invert_optimize(G, x, space=s["space"], num_steps=s["steps"], perceptual_weight=s["perceptual_weight"],
                           restarts=s["restarts"], seed=s["seed"], progress=progress, progress_every=1)


def _hybrid_run(G: Generator, E: Encoder, x: torch.Tensor, s: dict, progress: ProgressFn | None):
    return invert_hybrid(G, E, x, num_steps=s["steps"], optimizer=s.get("optimizer", HYBRID_OPTIMIZERS[0]),
                         l_vgg=s["perceptual_weight"], progress=progress, progress_every=1,
                         **_given(s, "l_dom", "lr"))


def _optimize(G, x, s, encoder, progress) -> MethodOutput:
    r = optimize_run(G, x, s, progress)
    return MethodOutput(r.image, r.latent, r.space, history=r.loss_history)


def _encoder(G, x, s, encoder, progress) -> MethodOutput:
    E = method_encoder(G, encoder, True)
    latent = encode(E, x)
    with torch.no_grad():
        img = render(G, latent, E.space)
    if progress:
        progress(1.0, "encoded in one pass")
    return MethodOutput(img, latent, E.space)


def _hybrid(G, x, s, encoder, progress) -> MethodOutput:
    r = _hybrid_run(G, method_encoder(G, encoder, True), x, s, timed_phases(progress, Phase("hybrid", s["steps"]))[0])
    return MethodOutput(r.image, r.latent, r.space)


def _pti(G, x, s, encoder, progress) -> MethodOutput:
    """Pivotal Tuning Inversion (Roich et al., TOG 2022): an in-domain pivot (hybrid from the encoder when
    the model has one, else optimisation; ``steps``), then ``tune_steps`` tuning the weights around it.
    The expected time is stated after the first pivot step (a tuning step's cost: ``PTI_TUNE_STEP_COST``)."""
    E = method_encoder(G, encoder, False)
    pivot, tuning = timed_phases(progress, Phase("pivot", s["steps"]),
                                 Phase("tuning", s["tune_steps"], PTI_TUNE_STEP_COST))
    pivot_settings = dict(s, space=pivot_space(G, s["space"]))            # the paper's W pivot where G has W
    p = (_hybrid_run(G, E, x, s, pivot) if E is not None
         else optimize_run(G, x, pivot_settings, pivot, timed=False))
    r = pivotal_tuning(G, x, p.latent.detach(), space=p.space, num_steps=s["tune_steps"], seed=s["seed"],
                       progress=tuning, progress_every=1)
    return MethodOutput(r.image, r.latent, r.space, delta=r.delta, history=r.loss_history)


def _multicode(G, x, s, encoder, progress) -> MethodOutput:
    r = invert_multicode(G, x, n_codes=s["n_codes"], layer=s["layer"], num_steps=s["steps"], seed=s["seed"],
                         progress=progress)
    return MethodOutput(r.image)


def _layerwise_result(G, x, s, encoder, progress):
    return invert_layerwise(G, x, layer=s["layer"], encoder=method_encoder(G, encoder, False),
                            latent_steps=s.get("latent_steps") or s["steps"], num_steps=s["steps"], seed=s["seed"],
                            progress=progress, **_given(s, "lr", "l_reg"))


def _layerwise(G, x, s, encoder, progress) -> MethodOutput:
    r = _layerwise_result(G, x, s, encoder, progress)
    return MethodOutput(r.image, diff=r.diff)


def _layerwise_residual(G, x, s, encoder, progress) -> MethodOutput:
    """Layer-wise inversion kept as a code z* plus its feature residual at the layer: edits of z* render
    with the residual added back (ganinv.invert.residual, after HFGI, Wang et al., CVPR 2022)."""
    r = _layerwise_result(G, x, s, encoder, progress)
    return MethodOutput(r.image, r.latent, r.space, diff=r.diff, residual=(r.layer, r.delta))


for _m in (
    InversionMethod("pti", "PTI: pivot + tuned generator (keeps the person)",
                    "pivot, then the generator tuned to the photo: keeps identity", _pti, True, main=True),
    InversionMethod("optimize", "optimisation (a latent only)", "a latent code only", _optimize, True,
                    batched=True, main=True),
    InversionMethod("encoder", "encoder (one pass)", "one pass of the trained encoder", _encoder, True, main=True),
    InversionMethod("hybrid", "hybrid (encoder + domain-regularised optimisation)",
                    "encoder + domain-regularised steps", _hybrid, True, main=True),
    InversionMethod("multicode", "multi-code (N codes, layer)", "N codes at a layer (image only)", _multicode,
                    False),
    InversionMethod("layerwise", "layer-wise", "fit a feature map (image only)", _layerwise, False),
    InversionMethod("layerwise-residual", "layer-wise + residual (editable, keeps details)",
                    "layer-wise code whose edits keep the fitted feature residual", _layerwise_residual, True),
):
    register(_m)


def latent_methods() -> tuple[str, ...]:
    """Methods whose result is one code the other tabs use."""
    return tuple(k for k, m in METHODS.items() if m.gives_code)


def batched_methods() -> tuple[str, ...]:
    """Methods with a batched code path."""
    return tuple(k for k, m in METHODS.items() if m.batched)


__all__ = ["HYBRID_OPTIMIZERS", "MethodOutput", "InversionMethod", "METHODS", "register", "method_encoder",
           "optimize_run", "latent_methods", "batched_methods"]
