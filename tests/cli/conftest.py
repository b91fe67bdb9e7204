"""Fixtures for the CLI tests: ``cli(*argv)`` runs ``python -m ganinv`` in this process (models stay
cached between calls) inside the test's own empty working folder, and photos to feed it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from factories import TINY_SG2, tiny_checkpoints
from ganinv.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*argv) -> Run(code, out, err)`` with the working folder ``tmp_path`` (empty at the start)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GANINV_DEBUG", raising=False)

    def run(*argv) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Run(code, out, err)
    return run


@pytest.fixture(scope="session")
def photos(tmp_path_factory, astronaut) -> dict[str, Path]:
    """astronaut.png (one face, 512 px) and two.png (two astronauts side by side), outside any test's folder."""
    d = tmp_path_factory.mktemp("photos")
    astronaut.save(d / "astronaut.png")
    two = Image.new("RGB", (1024, 512))
    two.paste(astronaut, (0, 0))
    two.paste(astronaut.resize((384, 384)), (576, 64))     # the second face smaller: "largest first" is defined
    two.save(d / "two.png")
    return {"astronaut": d / "astronaut.png", "two": d / "two.png"}


@pytest.fixture(scope="session")
def sg2_checkpoints(tmp_path_factory) -> Path:
    """A checkpoints folder: the repository's files (linked) plus the tiny StyleGAN2 as ``TINY_SG2``."""
    return tiny_checkpoints(tmp_path_factory.mktemp("ck") / "checkpoints")


@pytest.fixture
def tiny_model(sg2_checkpoints, monkeypatch) -> str:
    """The name of the tiny StyleGAN2 for ``--model`` (checkpoints folder pointed at ``sg2_checkpoints``)."""
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(sg2_checkpoints))
    return TINY_SG2
