"""Other files users hand us (directions, mappers, encoders): a .npy header read without its data, and a
size-capped JSON reader."""
from __future__ import annotations

import json
import os

import numpy as np

MAX_META_BYTES = 1 << 20                        # JSON metadata (a 1024 px record's delta list: ~40 KB)


def npy_header(fp) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape from the header of the .npy stream ``fp``, without reading its data
    (ValueError when it is not a .npy header numpy writes for plain arrays)."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"unsupported .npy format version {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    return dtype, tuple(shape)


def read_json(path: str, *, max_bytes: int = MAX_META_BYTES):
    """A JSON metadata file of at most ``max_bytes`` (ValueError, naming only the file, when it is
    larger, not UTF-8, malformed or nested too deeply)."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{os.path.basename(path)} is larger than {max_bytes >> 10} KB")
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{os.path.basename(path)} is not valid JSON") from None
