"""Packages `bash run.sh test` installs.  A missing one is a broken setup, reported as an error
(never a skip: a skipped test would hide it), with the line that installs it."""
from __future__ import annotations

import importlib.util
import shutil


def require(module: str, install: str) -> None:
    """Fail with how to install ``module`` when it is missing.  Only looks: some packages ship
    weights the project reads by path and must never be imported."""
    if importlib.util.find_spec(module) is None:
        raise AssertionError(f"{module} is not installed ({install}); `bash run.sh test` installs it")


def require_program(name: str, install: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH ({install}); `bash run.sh test` installs it"
    return path
