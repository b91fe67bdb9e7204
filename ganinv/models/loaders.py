"""StyleGAN2 checkpoint loaders that never execute code from the file.

Formats (``load_stylegan2`` tells them apart by their first bytes, not by the extension):

- NVIDIA pickles (stylegan2-ada-pytorch, and StyleGAN2 nets from the stylegan3 repo):
  ``{"G_ema": <persistent Generator>, ...}``.  These pickles embed Python source via
  ``torch_utils.persistence._reconstruct_persistent_obj`` and would ``exec`` it under plain
  ``pickle``.  ``_SafeUnpickler`` maps that function to an inert record of the object's
  ``state``, rebuilds tensors from bytes with ``torch.load(..., weights_only=True)``, turns
  ``dnnlib.EasyDict`` into ``dict`` and refuses every other global
  (``UnsafeCheckpointError``).  Arrays are built only with numeric dtypes; the whitelisted
  callables are created anew for each load, and pickle's BUILD (which calls ``setattr``) is
  allowed only on the data objects the loader builds, so a file cannot change the loader.  The record tree of ``G_ema`` gives the constructor kwargs
  (-> ``StyleGAN2Config``) and the parameters / buffers (-> state_dict).
- rosinality/stylegan2-pytorch ``.pt`` (``{"g_ema": state_dict, "latent_avg": ...}``), read
  with ``torch.load(weights_only=True)`` and renamed to NVIDIA/ganinv names.
- ganinv's own ``.safetensors``: the state_dict plus the config as JSON in the metadata.
"""
from __future__ import annotations

import _compat_pickle
import argparse
import collections
import functools
import io
import json
import os
import pickle
import re
import types
import warnings
import zipfile

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .stylegan2 import StyleGAN2Config, StyleGAN2Generator, make_filter


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The file asks to import or call something outside the data-only whitelist."""


class CheckpointFormatError(ValueError):
    """The file is truncated, corrupt, or not a supported StyleGAN2 checkpoint."""


# --------------------------------------------------------------------------- restricted unpickler
class PersistentStub:
    """Inert stand-in for an NVIDIA persistent object: keeps its class name and state, runs nothing."""

    def __init__(self, class_name: str, state: dict, version: int | None):
        self.class_name = class_name
        self.state = state
        self.version = version

    def __repr__(self) -> str:
        return f"PersistentStub({self.class_name})"


def _persistent_stub(meta) -> PersistentStub:
    # Replaces torch_utils.persistence._reconstruct_persistent_obj: meta["module_src"] is never executed.
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointFormatError("malformed persistent object in NVIDIA pickle")
    return PersistentStub(str(meta.get("class_name")), dict(meta["state"]), meta.get("version"))


def _load_storage_from_bytes(b: bytes):
    if not isinstance(b, (bytes, bytearray)):
        raise CheckpointFormatError("tensor storage is not stored as bytes")
    try:
        return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(f"tensor storage refused by torch.load(weights_only=True): {e}") from None


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage) or not isinstance(offset, int) or not all(
            isinstance(v, int) for v in (*size, *stride)):
        raise CheckpointFormatError("malformed tensor in pickle")
    if backward_hooks:
        raise UnsafeCheckpointError("refusing tensor with backward hooks")
    t = torch.empty((0,), dtype=storage.dtype)
    t.set_(storage.untyped(), offset, tuple(size), tuple(stride))
    return t


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    if not isinstance(data, torch.Tensor):
        raise CheckpointFormatError("malformed parameter in pickle")
    if backward_hooks:
        raise UnsafeCheckpointError("refusing parameter with backward hooks")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


_NUMERIC_DTYPE = re.compile(r"^[<>|=]?[biuf][1248]$|^[<>|=]?f16$|^[<>|=]?c(8|16)$|^b1$|^\??$")


def _codecs_encode(text, encoding="latin1"):
    # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise UnsafeCheckpointError("refusing _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


def _np_dtype(spec, align=False, copy=False):
    if not isinstance(spec, str) or not _NUMERIC_DTYPE.match(spec):
        raise UnsafeCheckpointError(f"refusing numpy dtype {spec!r} (only numeric dtypes are allowed)")
    # Always a copy: numpy's builtin dtypes are process-wide singletons, and pickle's BUILD follows.
    return np.dtype(spec, copy=True)


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise UnsafeCheckpointError("refusing non-numeric numpy scalar")
    return np.frombuffer(data, dtype=dtype)[0]


def _numeric_dtype(spec) -> np.dtype:
    """A numeric numpy dtype from a dtype object or a dtype string; anything else is refused."""
    if isinstance(spec, (str, bytes)):
        try:
            spec = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec)
        except TypeError:
            pass
    if not isinstance(spec, np.dtype) or spec.kind not in "biufc" or spec.hasobject or spec.fields is not None:
        raise UnsafeCheckpointError(f"refusing numpy dtype {spec!r} (only numeric dtypes are allowed)")
    return spec


def _np_ndarray(shape, dtype="f8"):
    # Stands in for numpy.ndarray: numpy's pickles name the class only as _reconstruct's first argument,
    # but a crafted file can call it, e.g. ndarray((2,), "O") for an object array that SETITEM then fills.
    return np.ndarray(shape, _numeric_dtype(dtype))


def _np_frombuffer(buf, dtype, shape, order):
    # numpy's protocol-5 array pickling (numpy.core.numeric._frombuffer); in-band buffers arrive as bytes.
    if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
        raise UnsafeCheckpointError("refusing numpy array that is not built from raw bytes")
    return np.frombuffer(buf, _numeric_dtype(dtype)).reshape(shape, order=order).copy()


def _np_reconstruct(cls, shape, dtype_code):
    # numpy's array pickling: an empty array here, then BUILD fills in the data (checked in _load_build).
    if getattr(cls, "__wrapped__", None) is not _np_ndarray:
        raise UnsafeCheckpointError("refusing numpy array subclass")
    return np.ndarray.__new__(np.ndarray, shape, _numeric_dtype(dtype_code))


class _EasyDict(dict):
    """dnnlib.EasyDict without its code; dict subclass so pickle's NEWOBJ / BUILD work.

    Each load uses its own subclass (``_SafeUnpickler``), so nothing a file does to it outlives the load."""


_SAFE_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_stub,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): _np_dtype,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _np_frombuffer,
    ("numpy", "ndarray"): _np_ndarray,
}


def _per_load(obj):
    """A fresh copy of a whitelisted callable for one load: a new function object (a wrapper, so its
    ``__defaults__`` and ``__dict__`` are its own) or a new EasyDict subclass; builtin types are immutable."""
    if obj is _EasyDict:
        return type("EasyDict", (_EasyDict,), {"__module__": __name__})
    if isinstance(obj, types.FunctionType):
        return functools.wraps(obj)(lambda *args, **kwargs: obj(*args, **kwargs))
    return obj


class _SafeUnpickler(pickle._Unpickler):
    """Unpickler that resolves only the data-building globals above, each created anew for this load.

    The pure-Python unpickler, because its BUILD can be checked: pickle's BUILD calls ``__setstate__``
    or ``setattr`` on whatever is on the stack, so it is allowed only on the data objects this loader
    builds (EasyDict / OrderedDict instances, numeric numpy arrays), never on a class or a function.
    """

    def __init__(self, f):
        super().__init__(f)
        self._globals = {key: _per_load(obj) for key, obj in _SAFE_GLOBALS.items()}
        self._easydict = self._globals[("dnnlib.util", "EasyDict")]
        self._globals[("dnnlib", "EasyDict")] = self._easydict

    def find_class(self, module: str, name: str):
        # Python 2 names (protocol <= 2), mapped as pickle's fix_imports does; never in newer pickles.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        fn = self._globals.get((module, name))
        if fn is None:
            hint = (" This is a TensorFlow StyleGAN pickle: convert it with NVIDIA's legacy.py first."
                    if module.startswith("dnnlib.tflib") else "")
            raise UnsafeCheckpointError(f"refusing to load global '{module}.{name}': it is not on the "
                                        f"whitelist of data-only constructors, and loading it could run code.{hint}")
        return fn

    def persistent_load(self, pid):
        raise UnsafeCheckpointError("refusing pickle persistent ids (not an NVIDIA network pickle)")

    def _load_build(self) -> None:
        state, inst = self.stack[-1], self.stack[-2]
        if type(inst) is np.ndarray:
            # numpy's __setstate__ (version, shape, dtype, is_fortran, raw bytes); an object array's data
            # would be a list of objects.
            if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], np.dtype)
                    and isinstance(state[4], (bytes, bytearray))):
                raise UnsafeCheckpointError("refusing numpy array state that is not numeric raw data")
            _numeric_dtype(state[2])
        elif isinstance(inst, np.dtype):
            # numpy's dtype state for a plain numeric type: only the byte order may be set.
            if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                    and state[1] in ("<", ">", "|", "=") and state[2:] == (None, None, None, -1, -1, 0)
                    and inst.kind in "biufc" and not inst.hasobject):
                raise UnsafeCheckpointError("refusing numpy dtype state other than a numeric type's byte order")
        elif type(inst) in (self._easydict, collections.OrderedDict):
            if not (state is None or isinstance(state, dict) and all(isinstance(k, str) for k in state)):
                raise UnsafeCheckpointError("refusing slot state on a dict (pickle BUILD would setattr)")
        else:
            raise UnsafeCheckpointError(f"refusing pickle BUILD on {type(inst).__name__!r}: only the data "
                                        "objects the loader creates may take state")
        self.load_build()

    dispatch = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: _load_build}


def safe_unpickle(f) -> object:
    """Unpickle an NVIDIA network pickle into plain data + PersistentStub records."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
            return _SafeUnpickler(f).load()
    except UnsafeCheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, RuntimeError, OverflowError, MemoryError, zipfile.BadZipFile) as e:
        raise CheckpointFormatError(f"cannot read the pickle (truncated or corrupt?): {type(e).__name__}: {e}") from None


# --------------------------------------------------------------------------- NVIDIA pickles
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


# --------------------------------------------------------------------------- rosinality
def _ros_names(config: StyleGAN2Config) -> list[tuple[str, str]]:
    """(ours, rosinality) name pairs, excluding the FIR buffers (regenerated from the config)."""
    pairs = [(f"mapping.fc{i}.{p}", f"style.{i + 1}.{p}") for i in range(config.mapping_layers) for p in ("weight", "bias")]
    pairs.append(("synthesis.b4.const", "input.input"))

    def conv(ours: str, theirs: str, noise_idx: int) -> None:
        pairs.extend([(f"{ours}.weight", f"{theirs}.conv.weight"),
                      (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
                      (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
                      (f"{ours}.bias", f"{theirs}.activate.bias"),
                      (f"{ours}.noise_strength", f"{theirs}.noise.weight"),
                      (f"{ours}.noise_const", f"noises.noise_{noise_idx}")])

    def torgb(ours: str, theirs: str) -> None:
        pairs.extend([(f"{ours}.weight", f"{theirs}.conv.weight"),
                      (f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight"),
                      (f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias"),
                      (f"{ours}.bias", f"{theirs}.bias")])

    conv("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k, res in enumerate(config.block_resolutions[1:]):
        conv(f"synthesis.b{res}.conv0", f"convs.{2 * k}", 2 * k + 1)
        conv(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}")
    return pairs


def _ros_shape(ours_name: str, t: torch.Tensor) -> torch.Tensor:
    """Reshape one of our tensors to rosinality's layout."""
    if ours_name.endswith("noise_const"):
        return t.reshape(1, 1, *t.shape)                          # [1, 1, r, r]
    if ours_name.endswith(".const"):
        return t.unsqueeze(0)                                     # [1, C, 4, 4]
    if ours_name.endswith("noise_strength"):
        return t.reshape(1)
    if ours_name.endswith("torgb.bias"):
        return t.reshape(1, -1, 1, 1)
    if ours_name.endswith(".weight") and t.ndim == 4:
        return t.unsqueeze(0)                                     # [1, O, I, k, k]
    return t


def save_rosinality(G: StyleGAN2Generator, path: str) -> None:
    """Write G as a rosinality/stylegan2-pytorch checkpoint ``{"g_ema": ..., "latent_avg": ...}``."""
    c = G.config
    problems = [msg for bad, msg in [
        (not (c.z_dim == c.w_dim == (c.mapping_features or c.w_dim)), "z_dim, w_dim and mapping width must be equal"),
        (c.img_channels != 3, "img_channels must be 3"), (c.conv_clamp is not None, "conv_clamp must be None"),
        (c.mapping_lr_multiplier != 0.01, "mapping_lr_multiplier must be 0.01"),
        (c.mapping_activation != "lrelu" or c.synthesis_activation != "lrelu", "activations must be lrelu"),
        (not c.use_noise, "use_noise must be True")] if bad]
    if problems:
        raise ValueError("rosinality's format cannot represent this model: " + "; ".join(problems))
    sd = G.state_dict()
    out = {theirs: _ros_shape(ours, sd[ours]).clone() for ours, theirs in _ros_names(c)}
    fir = make_filter(c.resample_filter) * 4                      # rosinality stores the upsampling gain in the kernel
    for k in range(len(c.block_resolutions) - 1):
        out[f"convs.{2 * k}.conv.blur.kernel"] = fir.clone()
        out[f"to_rgbs.{k}.upsample.kernel"] = fir.clone()
    torch.save({"g_ema": out, "latent_avg": G.w_avg.detach().clone()}, path)


def _torch_load(path: str):
    try:
        # argparse.Namespace: rosinality's training checkpoints store their CLI args (plain data).
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            # Keep only torch's "Unsupported global ..." line: the rest of its message suggests
            # weights_only=False, which would run the file's code.
            detail = next((ln.strip() for ln in str(e).splitlines() if "global" in ln.lower()), "")
            raise UnsafeCheckpointError(f"{path}: refused: the file contains Python objects that could run code "
                                        f"when loaded ({detail or 'not plain tensors'}). It was not loaded.") from None
        raise CheckpointFormatError(f"{path}: cannot read the torch checkpoint (truncated or corrupt?): {e}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointFormatError(f"{path}: cannot read the torch checkpoint (truncated or corrupt?): "
                                    f"{type(e).__name__}: {e}") from None


def _ros_config(g: dict[str, torch.Tensor]) -> StyleGAN2Config:
    """Infer the architecture from tensor shapes (rosinality stores no config)."""
    try:
        n_mlp = sum(1 for k in g if re.fullmatch(r"style\.\d+\.weight", k))
        w_dim, z_dim = g["style.1.weight"].shape
        n_blocks = 1 + sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k))
        resolution = 4 * 2 ** (n_blocks - 1)
        chans = {4: g["conv1.conv.weight"].shape[1]}
        for k in range(n_blocks - 1):
            chans[8 * 2 ** k] = g[f"convs.{2 * k}.conv.weight"].shape[1]
    except KeyError as e:
        raise CheckpointFormatError(f"not a rosinality StyleGAN2 generator: missing {e}") from None
    cmax = max(chans.values())
    candidates = [c * r for r, c in chans.items() if c < cmax] or [cmax * resolution]
    for base in candidates:
        if all(min(base // r, cmax) == c for r, c in chans.items()):
            break
    else:
        raise CheckpointFormatError(f"channel counts {chans} do not follow min(base // res, max)")
    fir = g.get("convs.0.conv.blur.kernel")
    if fir is not None and not torch.allclose(fir, make_filter((1, 3, 3, 1)) * 4):
        raise CheckpointFormatError("only the [1, 3, 3, 1] blur kernel is supported")
    return StyleGAN2Config(z_dim=z_dim, w_dim=w_dim, resolution=resolution, mapping_layers=n_mlp,
                           channel_base=base, channel_max=cmax, img_channels=g["to_rgb1.bias"].shape[1])


def load_rosinality(path: str, *, w_avg_samples: int = 10_000) -> StyleGAN2Generator:
    """Generator from a rosinality/stylegan2-pytorch ``.pt`` (key ``g_ema``), loaded with weights_only=True.

    Without a stored ``latent_avg`` (training checkpoints), w_avg is estimated from
    ``w_avg_samples`` z's with a fixed seed, as rosinality's ``mean_latent`` does.
    """
    ckpt = _torch_load(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        raise CheckpointFormatError(f"{path}: no 'g_ema' state_dict (not a rosinality checkpoint)")
    g = ckpt["g_ema"]
    config = _ros_config(g)
    pairs = _ros_names(config)
    G = StyleGAN2Generator(config)
    ours = G.state_dict()
    missing = [t for _, t in pairs if t not in g]
    known = {t for _, t in pairs} | {k for k in g if k.endswith((".blur.kernel", ".upsample.kernel"))}
    extra = sorted(set(g) - known)
    if missing or extra:
        raise CheckpointFormatError(f"{path}: rosinality keys do not match the inferred architecture "
                                    f"(missing {missing[:5]}, unexpected {extra[:5]})")
    sd = {o: g[t].reshape(ours[o].shape) for o, t in pairs}
    sd.update({k: v for k, v in ours.items() if k.endswith("resample_filter")})
    sd["mapping.w_avg"] = ckpt["latent_avg"].reshape(config.w_dim).float() if "latent_avg" in ckpt else ours["mapping.w_avg"]
    G.load_state_dict(sd, strict=True)
    if "latent_avg" not in ckpt:
        with torch.no_grad():
            z = torch.randn(w_avg_samples, config.z_dim, generator=torch.Generator().manual_seed(0))
            G.mapping.w_avg.copy_(G.mapping(z).mean(0))
    return G.eval().requires_grad_(False)


# --------------------------------------------------------------------------- safetensors
SAFETENSORS_FAMILY_KEY = "ganinv_family"


def save_safetensors(G: StyleGAN2Generator, path: str) -> None:
    """state_dict -> ``path`` (.safetensors) with the config JSON in the file's metadata."""
    tensors = {k: v.detach().contiguous().clone() for k, v in G.state_dict().items()}
    meta = {SAFETENSORS_FAMILY_KEY: G.family, "config": json.dumps(G.config.to_dict()), "name": G.name}
    save_file(tensors, path, metadata=meta)


def load_safetensors(path: str) -> StyleGAN2Generator:
    """StyleGAN2Generator from a file written by ``save_safetensors`` (strict load)."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointFormatError(f"{path}: cannot read safetensors file (truncated or corrupt?): {e}") from None
    if meta.get(SAFETENSORS_FAMILY_KEY) != "stylegan2" or "config" not in meta:
        raise CheckpointFormatError(f"{path}: not a ganinv StyleGAN2 safetensors file (no config metadata)")
    try:
        config = StyleGAN2Config.from_dict(json.loads(meta["config"]))
    except (ValueError, TypeError) as e:
        raise CheckpointFormatError(f"{path}: invalid config metadata: {e}") from None
    G = StyleGAN2Generator(config, name=meta.get("name", "stylegan2"))
    G.load_state_dict(tensors, strict=True)
    return G.eval().requires_grad_(False)


# --------------------------------------------------------------------------- dispatch
_TORCH_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def sniff_format(path: str) -> str:
    """'nvidia-pkl' | 'torch' | 'safetensors' from the file's first bytes."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise CheckpointFormatError(f"{path} is empty")
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head[:1] == b"\x80" and head[2:4] == b"\x8a\x0a" and head[4:14] == _TORCH_LEGACY_MAGIC:
        return "torch"                                            # torch.save legacy (non-zip) format
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "nvidia-pkl"
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if n + 8 <= size:
            return "safetensors"
        raise CheckpointFormatError(f"{path}: safetensors header claims {n} bytes but the file has {size} "
                                    "(truncated?)")
    raise CheckpointFormatError(f"{path}: unrecognised checkpoint format (expected an NVIDIA .pkl, a rosinality "
                                ".pt or a ganinv .safetensors)")


def load_stylegan2(path: str, *, name: str | None = None) -> StyleGAN2Generator:
    """Load any supported StyleGAN2 checkpoint as an eval-mode, grad-free StyleGAN2Generator."""
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        G = load_safetensors(path)
    elif kind == "torch":
        G = load_rosinality(path)
    else:
        config, state = load_nvidia_pkl(path)
        G = StyleGAN2Generator(config)
        try:
            G.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise CheckpointFormatError(f"{path}: parameters do not match the pickled configuration: {e}") from None
        G = G.eval().requires_grad_(False)
    G.name = name or os.path.splitext(os.path.basename(path))[0]
    return G


__all__ = ["UnsafeCheckpointError", "CheckpointFormatError", "PersistentStub", "safe_unpickle", "load_nvidia_pkl",
           "load_rosinality", "save_rosinality", "save_safetensors", "load_safetensors", "sniff_format",
           "load_stylegan2"]
