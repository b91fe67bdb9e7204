"""NVIDIA StyleGAN2 network pickles (stylegan2-ada-pytorch, and StyleGAN2 nets from the stylegan3 repo),
read through the restricted unpickler (``safe_pickle``): ``{"G_ema": <persistent Generator>, ...}``.
The record tree of ``G_ema`` gives the constructor kwargs (-> ``StyleGAN2Config``) and the parameters /
buffers (-> state_dict).
"""
from __future__ import annotations

import torch

from .safe_pickle import CheckpointFormatError, PersistentStub, safe_unpickle
from .stylegan2 import StyleGAN2Config


_NV_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
_NV_IGNORED = {"num_fp16_res", "channels_last", "fp16_channels_last", "fused_modconv_default", "class_name"}


def _stub_tensors(stub: PersistentStub, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Collect parameters and persistent buffers of a stub tree into ``out`` (state_dict order)."""
    st = stub.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for key in ("_parameters", "_buffers"):
        for name, t in (st.get(key) or {}).items():
            if t is None or name in skip:
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointFormatError(f"{prefix}{name} is not a tensor")
            out[prefix + name] = t.detach()
    for name, child in (st.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentStub):
            raise CheckpointFormatError(f"submodule {prefix}{name} is not a persistent network object")
        _stub_tensors(child, f"{prefix}{name}.", out)


def _init_kwargs(stub: PersistentStub) -> dict:
    args = stub.state.get("_init_args") or ()
    kwargs = dict(stub.state.get("_init_kwargs") or {})
    kwargs.update(zip(_NV_GENERATOR_ARGS, args))
    return kwargs


def _config_from_nvidia(kw: dict) -> StyleGAN2Config:
    """NVIDIA Generator kwargs -> StyleGAN2Config; unsupported options raise CheckpointFormatError."""
    kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kw.items()}
    mk = dict(kw.pop("mapping_kwargs", {}) or {})
    # stylegan2-ada-pytorch nests synthesis kwargs; the stylegan3 repo's StyleGAN2 flattens them.
    sk = dict(kw.pop("synthesis_kwargs", {}) or {})
    top = {k: kw.pop(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if k in kw}
    sk.update(kw)
    if top.get("c_dim", 0):
        raise CheckpointFormatError(f"conditional generators (c_dim={top['c_dim']}) are not supported")
    if sk.pop("architecture", "skip") != "skip":
        raise CheckpointFormatError("only the 'skip' synthesis architecture (the StyleGAN2 default) is supported")
    if sk.pop("kernel_size", 3) != 3:
        raise CheckpointFormatError("only 3x3 synthesis convolutions are supported")
    mk.pop("embed_features", None)
    cfg = dict(z_dim=top["z_dim"], w_dim=top["w_dim"], resolution=top["img_resolution"],
               img_channels=top.get("img_channels", 3))
    for ours, theirs in [("mapping_layers", "num_layers"), ("mapping_features", "layer_features"),
                         ("mapping_activation", "activation"), ("mapping_lr_multiplier", "lr_multiplier"),
                         ("w_avg_beta", "w_avg_beta")]:
        if theirs in mk:
            cfg[ours] = mk.pop(theirs)
    for ours, theirs in [("channel_base", "channel_base"), ("channel_max", "channel_max"),
                         ("conv_clamp", "conv_clamp"), ("resample_filter", "resample_filter"),
                         ("use_noise", "use_noise"), ("synthesis_activation", "activation")]:
        if theirs in sk:
            cfg[ours] = sk.pop(theirs)
    unknown = sorted(set(mk) | (set(sk) - _NV_IGNORED))
    if unknown:
        raise CheckpointFormatError(f"unsupported StyleGAN2 generator options: {', '.join(unknown)}")
    if cfg.get("w_avg_beta") is None:
        cfg.pop("w_avg_beta", None)
    if isinstance(cfg.get("resample_filter"), (list, tuple)):
        cfg["resample_filter"] = tuple(float(v) for v in cfg["resample_filter"])
    else:
        cfg.pop("resample_filter", None)
    try:
        return StyleGAN2Config(**cfg)
    except (TypeError, ValueError) as e:
        raise CheckpointFormatError(f"invalid StyleGAN2 configuration in the pickle: {e}") from None


def load_nvidia_pkl(path: str, *, key: str = "G_ema") -> tuple[StyleGAN2Config, dict[str, torch.Tensor]]:
    """(config, state_dict) of the StyleGAN2 generator ``key`` in an official NVIDIA pickle.

    No code from the file runs (see module docstring); refused globals raise
    ``UnsafeCheckpointError``, unreadable files ``CheckpointFormatError``.
    """
    with open(path, "rb") as f:
        data = safe_unpickle(f)
    if not isinstance(data, dict) or key not in data:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise CheckpointFormatError(f"{path}: no {key!r} network in the pickle (found {found})")
    G = data[key]
    if not isinstance(G, PersistentStub) or G.class_name != "Generator":
        raise CheckpointFormatError(f"{path}: {key!r} is not a generator network")
    mods = G.state.get("_modules") or {}
    synth = mods.get("synthesis")
    if not isinstance(synth, PersistentStub) or "b4" not in (synth.state.get("_modules") or {}):
        raise CheckpointFormatError(f"{path}: {key!r} is not a StyleGAN2 generator (StyleGAN3 and other "
                                    "architectures are not supported)")
    config = _config_from_nvidia(_init_kwargs(G))
    state: dict[str, torch.Tensor] = {}
    _stub_tensors(G, "", state)
    return config, state


__all__ = ["load_nvidia_pkl"]
