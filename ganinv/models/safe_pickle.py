"""A restricted unpickler that never executes code from the file.

NVIDIA's network pickles embed Python source via
``torch_utils.persistence._reconstruct_persistent_obj`` and would ``exec`` it under plain
``pickle``.  ``_SafeUnpickler`` maps that function to an inert record of the object's ``state``
(``PersistentStub``), rebuilds tensors from bytes with ``torch.load(..., weights_only=True)``, turns
``dnnlib.EasyDict`` into ``dict`` and refuses every other global (``UnsafeCheckpointError``).
Arrays are built only with numeric dtypes; the whitelisted callables are created anew for each
load, and pickle's BUILD (which calls ``setattr``) is allowed only on the data objects the loader
builds, so a file cannot change the loader.  ``safe_unpickle(f, names=...)`` narrows the
whitelist further (e.g. ``NUMPY_ARRAY_GLOBALS`` for a file of plain arrays).
"""
from __future__ import annotations

import _compat_pickle
import collections
import functools
import io
import pickle
import re
import types
import warnings
import zipfile
from typing import Collection

import numpy as np
import torch


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

    def __init__(self, f, names: Collection[tuple[str, str]] | None = None):
        super().__init__(f)
        self._globals = {key: _per_load(obj) for key, obj in _SAFE_GLOBALS.items()}
        self._easydict = self._globals[("dnnlib.util", "EasyDict")]
        self._globals[("dnnlib", "EasyDict")] = self._easydict
        if names is not None:
            self._globals = {key: obj for key, obj in self._globals.items() if key in names}

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


# What a pickle of dicts, lists and numeric numpy arrays needs (numpy 1 and 2 module names).
NUMPY_ARRAY_GLOBALS = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                                 ("numpy._core.multiarray", "_reconstruct")})


def safe_unpickle(f, *, names: Collection[tuple[str, str]] | None = None) -> object:
    """Unpickle an NVIDIA network pickle into plain data + PersistentStub records.

    ``names``: only these (module, name) globals of the whitelist are resolved; the rest are refused.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
            return _SafeUnpickler(f, names).load()
    except UnsafeCheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, RuntimeError, OverflowError, MemoryError, zipfile.BadZipFile) as e:
        raise CheckpointFormatError(f"cannot read the pickle (truncated or corrupt?): {type(e).__name__}: {e}") from None


__all__ = ["UnsafeCheckpointError", "CheckpointFormatError", "PersistentStub", "NUMPY_ARRAY_GLOBALS", "safe_unpickle"]
