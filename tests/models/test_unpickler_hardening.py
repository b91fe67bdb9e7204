"""Crafted NVIDIA-style pickles that try to change the loader's own objects.

Each file is written opcode by opcode (no class of ours is pickled).  A safe loader refuses every one as
unsafe, not as a format error, and the loader module looks exactly the same afterwards: no class gained
an attribute, no function's defaults changed, in this process.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import types

import numpy as np
import pytest

from ganinv.models import safe_pickle
from ganinv.models.loaders import UnsafeCheckpointError, load_nvidia_pkl, safe_unpickle


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _str(s: str) -> bytes:
    b = s.encode()
    return pickle.SHORT_BINUNICODE + bytes([len(b)]) + b


def _slot_build(attr: str, value: bytes) -> bytes:
    """BUILD with state (None, {attr: value}): pickle setattr()s each slot-state item on the object."""
    return pickle.NONE + pickle.EMPTY_DICT + _str(attr) + value + pickle.SETITEM + pickle.TUPLE2 + pickle.BUILD


def _snapshot() -> dict:
    """Every class's and function's attributes and defaults in the loader module."""
    out = {}
    for name, obj in vars(safe_pickle).items():
        if isinstance(obj, type) and obj.__module__ == safe_pickle.__name__:
            out[name] = dict(vars(obj))
        elif isinstance(obj, types.FunctionType) and obj.__module__ == safe_pickle.__name__:
            out[name] = (dict(vars(obj)), obj.__defaults__, obj.__kwdefaults__)
    return out


# (a) BUILD with slot state on whitelisted module-level objects.
SETATTR_ON_CLASS = (pickle.PROTO + b"\x04" + _global("dnnlib.util", "EasyDict")
                    + _slot_build("injected", pickle.BININT1 + b"\x01") + pickle.STOP)
SETATTR_ON_FUNCTION = (pickle.PROTO + b"\x04" + _global("_codecs", "encode")
                       + _slot_build("__defaults__", _str("utf-16") + pickle.TUPLE1) + pickle.STOP)
DICT_ON_FUNCTION = (pickle.PROTO + b"\x04" + _global("torch._utils", "_rebuild_tensor_v2")
                    + pickle.EMPTY_DICT + _str("injected") + pickle.BININT1 + b"\x01" + pickle.SETITEM
                    + pickle.BUILD + pickle.STOP)
# (b) numpy.ndarray called directly: an object-dtype array, then filled with SETITEM.
OBJECT_ARRAY = (pickle.PROTO + b"\x04" + _global("numpy", "ndarray")
                + pickle.BININT1 + b"\x02" + pickle.TUPLE1 + _str("O") + pickle.TUPLE2 + pickle.REDUCE
                + pickle.BININT1 + b"\x00" + _global("dnnlib.util", "EasyDict") + pickle.SETITEM + pickle.STOP)
# (b') numpy's own _reconstruct asked for an object array, then filled with SETITEM.
OBJECT_ARRAY_RECONSTRUCT = (pickle.PROTO + b"\x04" + _global("numpy.core.multiarray", "_reconstruct")
                            + _global("numpy", "ndarray") + pickle.BININT1 + b"\x02" + pickle.TUPLE1 + _str("O")
                            + pickle.TUPLE3 + pickle.REDUCE + pickle.BININT1 + b"\x00"
                            + _global("dnnlib.util", "EasyDict") + pickle.SETITEM + pickle.STOP)

CRAFTED = {"setattr_on_class": SETATTR_ON_CLASS, "setattr_on_function": SETATTR_ON_FUNCTION,
           "dict_on_function": DICT_ON_FUNCTION, "object_array": OBJECT_ARRAY,
           "object_array_reconstruct": OBJECT_ARRAY_RECONSTRUCT}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_pickle_is_refused_and_leaves_no_trace(name, tmp_path):
    data = CRAFTED[name]
    pickletools.dis(data, out=io.StringIO())                     # well-formed opcodes, so any refusal is ours
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(data)
    before = _snapshot()
    try:
        load_nvidia_pkl(str(path))
        error = None
    except Exception as e:  # noqa: BLE001 - the kind of error is the point of the test
        error = e
    assert _snapshot() == before
    assert isinstance(error, UnsafeCheckpointError), repr(error)


def test_the_crafted_pickles_do_what_they_claim_under_plain_pickle():
    """Under plain pickle (with stand-in classes) the files really mutate, so refusing them matters."""
    class EasyDict(dict):
        pass

    def encode(text, encoding="latin1"):
        return text.encode(encoding)

    class Finder(pickle.Unpickler):
        def find_class(self, module, name):
            return {("dnnlib.util", "EasyDict"): EasyDict, ("_codecs", "encode"): encode,
                    ("numpy", "ndarray"): np.ndarray}[(module, name)]

    Finder(io.BytesIO(SETATTR_ON_CLASS)).load()
    Finder(io.BytesIO(SETATTR_ON_FUNCTION)).load()
    assert EasyDict.injected == 1 and encode.__defaults__ == ("utf-16",)
    arr = Finder(io.BytesIO(OBJECT_ARRAY)).load()
    assert arr.dtype == object and arr[0] is EasyDict
    arr = pickle.loads(OBJECT_ARRAY_RECONSTRUCT.replace(b"dnnlib.util\nEasyDict", b"builtins\nset"))
    assert arr.dtype == object and arr[0] is set


def test_each_load_gets_its_own_callables():
    """Whitelisted callables are created per load: two loads never share a mutable object."""
    blob = pickle.PROTO + b"\x04" + _global("dnnlib.util", "EasyDict") + pickle.STOP
    a, b = (safe_unpickle(io.BytesIO(blob)) for _ in range(2))
    assert a is not b and issubclass(a, dict)
    assert a is not safe_pickle._EasyDict


def test_numeric_arrays_and_easydicts_still_load(tmp_path, fake_nvidia_env):
    """The data objects the loader builds itself may still be BUILT (numpy arrays, EasyDict instances)."""
    with fake_nvidia_env(tmp_path / "canary.txt") as (_, easy):
        e = easy(a=1)
        e.extra = "instance attribute"                           # pickled as BUILD state on the instance
        blob = pickle.dumps({"e": e, "x": np.arange(6, dtype=np.float32).reshape(2, 3),
                             "i": np.array([1, 2], dtype=np.int64)}, protocol=4)
    assert pickle.BUILD in blob
    out = safe_unpickle(io.BytesIO(blob))
    assert out["e"] == {"a": 1} and out["e"].extra == "instance attribute"
    assert np.array_equal(out["x"], np.arange(6, dtype=np.float32).reshape(2, 3)) and out["i"].dtype == np.int64
