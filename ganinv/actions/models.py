"""Task: see which generators exist, what each supports, and sample from one."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import torch
from PIL import Image
from skimage import data as skdata

from ..atomic import atomic_write
from ..download import set_offline
from ..io import tensor_to_pil
from ..registry import (CACHE, ChecksumError, ModelUnavailableError, default_device, describe_models,
                        download_url, get_spec, is_available, is_downloadable, offline, resolve_weights)
from ..settings import DEFAULT_MODEL, LATENT_SPACES, RENDER_KWARGS, SEED_MAX, ProgressFn
from .common import USER_ERRORS, InputError, generator, number

MAX_SAMPLES = 16
SAMPLE_SEEDS = (0, 1, 2, 3)


@dataclass
class ModelInfo:
    name: str
    available: bool                             # weights on this machine
    spaces: list[str]                           # latent spaces an inversion can target
    default_space: str
    message: str                                # one paragraph for the user (Markdown)
    downloadable: bool = False                  # missing, and fetch_weights() would download it


def list_models() -> list[dict]:
    """One row per registered or local model (name, family, resolution, spaces, availability, licence)."""
    return describe_models()


def loaded_models() -> list[dict]:
    """Generators in the shared cache: one instance per (model, device), whatever the number of sessions."""
    return [{"model": name, "device": dev} for name, dev in CACHE.loaded()]


def spaces_for(model: str) -> list[str]:
    """Latent spaces an inversion into ``model`` can target (unknown models: an empty list)."""
    try:
        return [s for s in LATENT_SPACES if s in get_spec(model).spaces]
    except ModelUnavailableError:
        return []


def model_info(model: str) -> ModelInfo:
    """What the app says when ``model`` is picked: description and licence, or how to get its weights.
    Never downloads (offline it fails at once with the registry's instructions)."""
    spec = get_spec(str(model))
    spaces = spaces_for(spec.name)
    default = "W+" if "W+" in spaces else spaces[0]
    if is_available(spec):
        return ModelInfo(spec.name, True, spaces, default,
                         f"**{spec.name}**: {spec.description} Licence: {spec.licence}.")
    if spec.package or offline():
        try:
            resolve_weights(spec)
        except (ModelUnavailableError, ChecksumError) as e:
            return ModelInfo(spec.name, False, spaces, default, f"⚠️ {e}")
    return ModelInfo(spec.name, False, spaces, default,
                     f"⚠️ **{spec.name}** is not on this machine yet: it is downloaded once from "
                     f"{download_url(spec)} into `checkpoints/`.", downloadable=is_downloadable(spec))


def forbid_downloads() -> None:
    """What ``--offline`` does: no weights are downloaded in this process (nor the processes it starts);
    missing ones give their one-line message at once."""
    set_offline(True)


def fetch_weights(model: str, *, progress: ProgressFn | None = None) -> ModelInfo:
    """Download ``model``'s weights when they are missing and downloads are allowed, then its info.

    ``progress`` sees the size and speed; one download per file even when several sessions ask;
    an interrupted download resumes on the next call.  Offline or with no route: ModelUnavailableError
    (within seconds) naming the file to place in ``checkpoints/``.
    """
    spec = get_spec(str(model))
    if not is_available(spec):
        resolve_weights(spec, progress=progress)
    return model_info(spec.name)


def feature_layers(model: str, device: str | None = None) -> list[str]:
    """The generator's hidden layers (what feature crossover, multi-code and layer-wise inversion
    can work at), input and output excluded; [] when the model's weights are not on this machine
    (never downloads) or cannot be loaded."""
    try:
        if not is_available(get_spec(str(model))):
            return []
        return list(generator(model, device).layer_names[1:-1])
    except USER_ERRORS:
        return []


def parse_seeds(text) -> list[int]:
    """'0 1, 2' -> [0, 1, 2] (at most MAX_SAMPLES); a list of ints passes through, checked."""
    parts = text if isinstance(text, (list, tuple)) else str(text).replace(",", " ").split()
    try:
        seeds = [int(s) for s in parts]
    except (TypeError, ValueError):
        raise InputError("Seeds must be whole numbers separated by spaces or commas.") from None
    if not seeds:
        raise InputError("Give at least one seed.")
    if len(seeds) > MAX_SAMPLES:
        raise InputError(f"At most {MAX_SAMPLES} seeds at a time, got {len(seeds)}.")
    return [number(s, "Seed", 0, SEED_MAX, whole=True) for s in seeds]


def sample(seeds=SAMPLE_SEEDS, *, model: str = DEFAULT_MODEL, truncation_psi: float = 1.0,
           device: str | None = None) -> list[Image.Image]:
    """One image per seed (the same seed gives the same image on every machine)."""
    seeds = parse_seeds(seeds)
    psi = number(truncation_psi, "Truncation psi", 0, 2)
    G = generator(model, device)
    z = torch.cat([G.sample_z(1, seed=s) for s in seeds])
    with torch.no_grad():
        imgs = tensor_to_pil(G(z, truncation_psi=psi, **RENDER_KWARGS))
    return imgs if isinstance(imgs, list) else [imgs]





EXAMPLE_SEEDS = (1, 7, 42)                      # example faces drawn from the bundled model


def check_device(device: str | None) -> str | None:
    """``device`` if this machine has it ("cuda" needs a CUDA device), else InputError."""
    if device not in (None, "cpu", "cuda"):
        raise InputError(f"Device must be cpu or cuda, got {str(device)[:20]!r}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    return device


def device_in_use(device: str | None) -> str:
    """The device a ``device`` setting runs on: itself, or cuda when None and a CUDA device is present."""
    return device or default_device()


def _save_atomic(img: Image.Image, path: str) -> str:
    """Several app processes may share the examples folder: never expose a half-written file."""
    with atomic_write(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def example_images(folder: str | None = None, *, device: str | None = None) -> list[str]:
    """PNG paths: the astronaut portrait (scikit-image, public domain) and a few bundled-model samples."""
    folder = folder or os.path.join(tempfile.gettempdir(), "ganinv-app-examples")
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, "astronaut.png")]
    if not os.path.isfile(paths[0]):
        _save_atomic(Image.fromarray(skdata.astronaut()), paths[0])
    try:
        imgs = sample(list(EXAMPLE_SEEDS), model=DEFAULT_MODEL, device=device)
    except USER_ERRORS:
        return paths
    for s, im in zip(EXAMPLE_SEEDS, imgs):
        p = os.path.join(folder, f"{DEFAULT_MODEL}-seed{s}.png")
        if not os.path.isfile(p):
            _save_atomic(im, p)
        paths.append(p)
    return paths


__all__ = ["ModelInfo", "fetch_weights", "forbid_downloads", "list_models", "loaded_models", "spaces_for", "model_info", "feature_layers", "parse_seeds",
           "sample", "MAX_SAMPLES", "SAMPLE_SEEDS", "EXAMPLE_SEEDS", "check_device", "device_in_use",
           "example_images"]
