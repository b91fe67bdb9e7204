"""Hostile and damaged checkpoints placed in checkpoints/ as ``local:<file>``, loaded through
``ganinv.registry.load_generator``: each is refused with a clear message and nothing in the file runs.

The NVIDIA-format pickles come from tests/models/conftest.py (imported by path: its fixtures are
scoped to tests/models/).  ``Canary`` (tests/bad_inputs.py) pickles as ``os.system("touch <path>")``.
"""
from __future__ import annotations

import importlib.util
import os
import pickle

import pytest
import torch

from bad_inputs import Canary
from ganinv import registry
from ganinv.models.loaders import CheckpointFormatError, UnsafeCheckpointError, save_rosinality, save_safetensors

_spec = importlib.util.spec_from_file_location(
    "ganinv_tests_models_helpers", os.path.join(os.path.dirname(__file__), "models", "conftest.py"))
models_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models_helpers)
make_tiny, write_nvidia_pickle = models_helpers.make_tiny, models_helpers.write_nvidia_pickle


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    """An empty GANINV_CHECKPOINTS folder and an empty model cache (restored afterwards)."""
    d = tmp_path / "checkpoints"
    d.mkdir()
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(d))
    registry.CACHE.clear()
    yield d
    registry.CACHE.clear()


def load_local(filename: str):
    return registry.load_generator(f"local:{filename}", "cpu")


def truncate(path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


# --------------------------------------------------------------------------- controls: valid files load
def test_valid_checkpoints_load_and_are_listed(ckpt_dir, tmp_path):
    G = make_tiny()
    write_nvidia_pickle(G, ckpt_dir / "nv.pkl", tmp_path / "canary")
    save_rosinality(G, str(ckpt_dir / "ros.pt"))
    save_safetensors(G, str(ckpt_dir / "own.safetensors"))
    assert {"local:nv.pkl", "local:ros.pt", "local:own.safetensors"} <= set(registry.list_model_names())
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    ref = G(z, noise_mode="const")
    for name in ("nv.pkl", "ros.pt", "own.safetensors"):
        loaded = load_local(name)
        assert torch.allclose(loaded(z, noise_mode="const"), ref, atol=1e-5), name
    assert not (tmp_path / "canary").exists()            # the persistent-object hook was never called


# --------------------------------------------------------------------------- truncated / corrupt
@pytest.mark.parametrize("name", ["nv.pkl", "ros.pt", "own.safetensors"])
@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_truncated_checkpoint_is_refused(name, fraction, ckpt_dir, tmp_path):
    G = make_tiny()
    path = ckpt_dir / name
    {"nv.pkl": lambda: write_nvidia_pickle(G, path, tmp_path / "canary"),
     "ros.pt": lambda: save_rosinality(G, str(path)),
     "own.safetensors": lambda: save_safetensors(G, str(path))}[name]()
    truncate(path, fraction)
    with pytest.raises(CheckpointFormatError, match="truncated|corrupt|unrecognised"):
        load_local(name)
    assert registry.CACHE.loaded() == []                 # nothing half-built is cached
    assert not (tmp_path / "canary").exists()


def test_empty_and_foreign_files_are_refused(ckpt_dir):
    (ckpt_dir / "empty.pt").write_bytes(b"")
    (ckpt_dir / "page.pkl").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CheckpointFormatError, match="empty"):
        load_local("empty.pt")
    with pytest.raises(CheckpointFormatError, match="unrecognised checkpoint format"):
        load_local("page.pkl")


# --------------------------------------------------------------------------- checksums
def test_pinned_checksum_mismatch_is_refused(ckpt_dir, tmp_path):
    G = make_tiny()
    path = ckpt_dir / "pinned.safetensors"
    save_safetensors(G, str(path))
    (ckpt_dir / "pinned.safetensors.sha256").write_text(registry.sha256_file(str(path)) + "\n")
    assert load_local("pinned.safetensors").z_dim == G.z_dim           # matching pin: loads
    registry.CACHE.clear()
    save_safetensors(make_tiny(seed=1), str(path))                     # replaced by other weights
    with pytest.raises(registry.ChecksumError, match="does not match its sha256"):
        load_local("pinned.safetensors")
    assert registry.CACHE.loaded() == []


def test_registered_model_with_wrong_checksum_is_refused(ckpt_dir, tmp_path):
    """A registered StyleGAN2 file whose first download was pinned, later swapped for another file."""
    spec = registry.get_spec("stylegan2-ffhq-256")
    path = ckpt_dir / spec.filename
    write_nvidia_pickle(make_tiny(), path, tmp_path / "canary")
    (ckpt_dir / (spec.filename + ".sha256")).write_text("0" * 64 + "\n")
    with pytest.raises(registry.ChecksumError) as e:
        registry.load_generator(spec.name, "cpu")
    assert spec.url in str(e.value) and str(path) in str(e.value)
    assert not (tmp_path / "canary").exists()


def test_registry_sha256_is_checked_for_registered_specs(ckpt_dir, monkeypatch):
    """A spec that carries its own sha256 refuses a local file that differs, with no pin file present."""
    G = make_tiny()
    save_safetensors(G, str(ckpt_dir / "ffhq.pkl"))
    spec = registry.MODELS["stylegan2-ffhq-1024"]
    monkeypatch.setitem(registry.MODELS, spec.name, registry.ModelSpec(
        spec.name, spec.family, spec.resolution, spec.description, spec.licence, filename=spec.filename,
        url=spec.url, sha256="f" * 64, spaces=spec.spaces))
    with pytest.raises(registry.ChecksumError, match="f" * 64):
        registry.load_generator(spec.name, "cpu")


# --------------------------------------------------------------------------- code-running payloads
def _evil_nvidia_pickle(path, canary) -> None:
    """An NVIDIA-looking snapshot whose generator is replaced by ``os.system("touch canary")``."""
    with open(path, "wb") as f:
        pickle.dump({"training_set_kwargs": {"resolution": 16}, "G_ema": Canary(str(canary))}, f, protocol=4)


def _evil_nested_pickle(path, canary) -> None:
    """A real NVIDIA-format pickle of a tiny generator with the payload hidden in its constructor kwargs."""
    G = make_tiny()
    with models_helpers.fake_nvidia_modules(canary) as (pers, easy):
        kwargs = models_helpers.nvidia_kwargs(G, easy)
        kwargs["synthesis_kwargs"]["evil"] = Canary(str(canary))
        snap = {"G_ema": models_helpers._as_persistent(G, pers._reconstruct_persistent_obj, kwargs)}
        with open(path, "wb") as f:
            pickle.dump(snap, f, protocol=4)


def _evil_pt(path, canary) -> None:
    """A rosinality-looking .pt (zip) whose dict also holds the payload."""
    G = make_tiny()
    save_rosinality(G, str(path))
    ckpt = torch.load(str(path), weights_only=True)
    ckpt["args"] = Canary(str(canary))
    torch.save(ckpt, str(path))


def _evil_legacy_pt(path, canary) -> None:
    """The same payload in torch's legacy (non-zip) serialisation."""
    torch.save({"g_ema": {}, "evil": Canary(str(canary))}, str(path), _use_new_zipfile_serialization=False)


def _evil_storage_pickle(path, canary) -> None:
    """An NVIDIA pickle whose tensor-storage bytes are themselves a hostile torch file."""
    import io
    buf = io.BytesIO()
    torch.save(Canary(str(canary)), buf)

    class Storage:
        def __reduce__(self):
            import torch.storage
            return (torch.storage._load_from_bytes, (buf.getvalue(),))

    with open(path, "wb") as f:
        pickle.dump({"G_ema": Storage()}, f, protocol=4)


EVIL = {"nvidia-pkl": ("evil.pkl", _evil_nvidia_pickle),
        "nested-pkl": ("nested.pkl", _evil_nested_pickle),
        "rosinality-pt": ("evil.pt", _evil_pt),
        "legacy-pt": ("legacy.pt", _evil_legacy_pt),
        "storage-bytes": ("storage.pkl", _evil_storage_pickle)}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_code_running_checkpoint_is_refused(case, ckpt_dir, tmp_path):
    filename, make = EVIL[case]
    canary = tmp_path / "CANARY"
    make(ckpt_dir / filename, canary)
    assert not canary.exists()
    with pytest.raises(UnsafeCheckpointError) as e:
        load_local(filename)
    assert "refus" in str(e.value).lower(), str(e.value)
    assert not canary.exists(), "loading the checkpoint executed code from it"
    assert registry.CACHE.loaded() == []


@pytest.mark.parametrize("case", ["nvidia-pkl", "rosinality-pt"])
def test_the_payloads_really_run_under_plain_unpickling(case, ckpt_dir, tmp_path):
    """Control: the same files run their payload when unpickled naively, so the canary can fire."""
    filename, make = EVIL[case]
    canary = tmp_path / "CANARY"
    make(ckpt_dir / filename, canary)
    if case == "nvidia-pkl":
        with open(ckpt_dir / filename, "rb") as f:
            pickle.load(f)
    else:
        torch.load(str(ckpt_dir / filename), weights_only=False)
    assert canary.exists()


def test_front_ends_report_unsafe_checkpoint_as_user_error(ckpt_dir, tmp_path):
    """The invert action refuses the file with the loader's message, a user error every front end shows as one
    line (the app as gr.Error, the CLI as `error: ...`); nothing from the pickle runs."""
    from PIL import Image
    from ganinv.actions import USER_ERRORS, invert, user_message
    canary = tmp_path / "CANARY"
    _evil_nvidia_pickle(ckpt_dir / "evil.pkl", canary)
    img = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(img)
    with pytest.raises(UnsafeCheckpointError) as e:
        invert.invert(str(img), model="local:evil.pkl", align="center", method="optimize", steps=1, device="cpu")
    assert isinstance(e.value, USER_ERRORS)
    msg = user_message(e.value)
    assert "refusing to load global" in msg and "\n" not in msg and str(ckpt_dir) not in msg
    assert not canary.exists()
