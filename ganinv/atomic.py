"""Write-then-rename: a reader never sees a half-written file, and two writers never share a temp file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[str]:
    """Yield a unique temp path beside ``path`` (same extension); on success it replaces ``path``.

    The folder is created; on an exception the temp file is removed and ``path`` is untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp" + ext, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)                    # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


__all__ = ["atomic_write"]
