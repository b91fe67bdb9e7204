"""CLIP models for text-driven editing (StyleCLIP): registry, offline-safe loading, preprocessing.

CLIP (Radford et al., ICML 2021, "Learning Transferable Visual Models From Natural Language
Supervision") embeds images and text in one space; StyleCLIP (Patashnik et al., ICCV 2021)
uses the cosine distance D_CLIP between an image and a text embedding as its loss (Sec. 4).
StyleCLIP used OpenAI's ViT-B/32, which is our default (``ViT-B-32`` / ``openai`` in open_clip).

Two registries are kept apart, as in open_clip: architectures (open_clip's model configs)
and weights (``CLIP_WEIGHTS`` below: where a (model, tag) pair lives on the Hugging Face hub
and how to preprocess for it).  Weights are looked up, without any network access, in

    1. the ``pretrained=`` argument when it is a file path,
    2. ``checkpoints/clip/<model>-<tag>.{safetensors,bin,pt,pth}``,
    3. the Hugging Face hub cache (``$HF_HUB_CACHE``),

and only then downloaded.  Registered weights (``CLIP_WEIGHTS``) are fetched from the Hub
(``$HF_ENDPOINT``, default https://huggingface.co: a mirror works) into
``checkpoints/clip/<model>-<tag>.bin`` by ``ganinv.download``: resumable, one download per
file, checked against the Hub's size and sha256 (X-Linked-Size / X-Linked-Etag), with progress.
Other open_clip tags download through open_clip.  Offline (``--offline``, ``GANINV_OFFLINE=1``,
or the Hub's own ``HF_HUB_OFFLINE=1``) a missing file raises ``ClipUnavailableError`` at once,
before open_clip is even imported (importing it alone takes 3-10 s on our CPUs); online, a 4 s
connect probe of the endpoint runs first, so a blocked network fails in seconds too.

Only state_dict files are read (``weights_only=True`` / safetensors); OpenAI's TorchScript
archives are not supported.  ``tiny_clip()`` builds a small random-init model for tests:
its embeddings are meaningless, but its maths and shapes are those of a real CLIP.
"""
from __future__ import annotations

import functools
import glob
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .cache import LoadOnceCache
from .download import DownloadError, fetch, offline, probe
from .registry import checkpoints_dir, default_device
from .settings import ProgressFn

DEFAULT_CLIP = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
TINY_NAME = "tiny-random"                       # load_clip(TINY_NAME) == tiny_clip(): tests and benches only
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHT_EXTS = (".safetensors", ".bin", ".pt", ".pth")
HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")   # open_clip's names on the hub
HF_DEFAULT_ENDPOINT = "https://huggingface.co"


class ClipUnavailableError(RuntimeError):
    """CLIP weights are not on this machine and cannot be downloaded; the message says what to do."""


@dataclass(frozen=True)
class ClipWeights:
    """Where one (architecture, tag) pair's weights live and how to feed images to it."""

    model: str                                  # open_clip architecture name
    tag: str                                    # open_clip pretrained tag
    hf_repo: str                                # Hugging Face repo holding open_clip's state_dict
    quick_gelu: bool = False                    # OpenAI-trained weights use QuickGELU
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    licence: str = "MIT (OpenAI CLIP)"

    @property
    def local_name(self) -> str:
        return f"{self.model}-{self.tag}.bin"

    @property
    def url(self) -> str:
        """The weights on the Hub, or on the mirror ``$HF_ENDPOINT`` names."""
        return f"{hub_endpoint()}/{self.hf_repo}/resolve/main/open_clip_pytorch_model.bin"


def hub_endpoint() -> str:
    """The Hugging Face Hub address: ``$HF_ENDPOINT`` (a mirror) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """Downloads forbidden: ganinv's offline mode, or the Hub's own HF_HUB_OFFLINE."""
    return offline() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


CLIP_WEIGHTS: dict[tuple[str, str], ClipWeights] = {(w.model, w.tag): w for w in [
    ClipWeights("ViT-B-32", "openai", "timm/vit_base_patch32_clip_224.openai", quick_gelu=True),
    ClipWeights("ViT-B-16", "openai", "timm/vit_base_patch16_clip_224.openai", quick_gelu=True),
    ClipWeights("ViT-L-14", "openai", "timm/vit_large_patch14_clip_224.openai", quick_gelu=True),
    ClipWeights("RN50", "openai", "timm/resnet50_clip.openai", quick_gelu=True),
]}


# --------------------------------------------------------------------------- the model wrapper
class ClipModel(nn.Module):
    """A frozen open_clip model with differentiable preprocessing for generator images.

    ``encode_image`` takes NCHW images in [-1, 1] (any square size) and returns unit
    embeddings [N, embed_dim]; gradients flow back to the pixels.  ``encode_text`` takes
    strings and returns unit embeddings [N, embed_dim].
    """

    def __init__(self, model: nn.Module, tokenizer, *, name: str, pretrained: str,
                 mean: tuple[float, ...] = OPENAI_MEAN, std: tuple[float, ...] = OPENAI_STD,
                 random_init: bool = False):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name, self.pretrained, self.random_init = name, pretrained, random_init
        self.weights_path: str | None = None                    # local file the weights were read from
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(getattr(tokenizer, "context_length", 77))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def label(self) -> str:
        """Tag label such as "ViT-B-32/openai" (a file name for path weights): keys caches and metadata."""
        return f"{self.name}/{os.path.basename(self.pretrained)}"

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") \
            else int(self.encode_text(["x"]).shape[1])

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def train(self, mode: bool = True) -> "ClipModel":
        return super().train(False)                 # CLIP is only ever a frozen critic here

    def preprocess(self, img: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> CLIP input [N, 3, S, S] (resized, mean/std normalised).

        Downsizing uses an antialiased (area-like) bilinear filter, as StyleCLIP's
        upsample-then-average-pool does; upsizing uses bicubic, CLIP's own interpolation.
        """
        assert img.ndim == 4 and img.shape[1] == 3, f"expected [N, 3, H, W], got {tuple(img.shape)}"
        s = self.image_size
        if img.shape[-2:] != (s, s):
            down = img.shape[-1] > s
            img = F.interpolate(img, size=(s, s), mode="bilinear" if down else "bicubic", antialias=down,
                                align_corners=False)
        x = (img.to(torch.float32) + 1) / 2
        return (x - self.mean) / self.std

    def encode_image(self, img: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> [N, embed_dim] (unit length unless normalize=False)."""
        e = self.model.encode_image(self.preprocess(img.to(self.device)))
        return F.normalize(e, dim=-1) if normalize else e

    def tokenize(self, texts: list[str] | str) -> torch.Tensor:
        """Strings -> token ids [N, context_length] (longer texts are cut by the tokenizer)."""
        return self.tokenizer([texts] if isinstance(texts, str) else list(texts))

    def encode_text(self, texts: list[str] | str, *, normalize: bool = True) -> torch.Tensor:
        """Strings -> [N, embed_dim] (unit length unless normalize=False)."""
        e = self.model.encode_text(self.tokenize(texts).to(self.device))
        return F.normalize(e, dim=-1) if normalize else e

    def distance(self, img: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """D_CLIP = 1 - cos(E_I(img), t) per image, [N]; ``text_emb`` is [D] or [N, D]."""
        t = F.normalize(text_emb.to(self.device), dim=-1)
        return 1 - (self.encode_image(img) * t).sum(-1)


# --------------------------------------------------------------------------- weight lookup
def _hf_cache_dir() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return os.path.join(home, "hub")


def _hf_cached_file(repo: str) -> str | None:
    """A cached open_clip weights file of ``repo`` in the hub cache, without importing the hub client."""
    snap = os.path.join(_hf_cache_dir(), "models--" + repo.replace("/", "--"), "snapshots")
    for fname in HF_FILES:
        hits = sorted(glob.glob(os.path.join(snap, "*", fname)))
        if hits and os.path.isfile(hits[-1]):
            return hits[-1]
    return None


def clip_dir() -> str:
    return os.path.join(checkpoints_dir(), "clip")


def find_local_weights(name: str, pretrained: str) -> str | None:
    """Local weights file for (name, pretrained) or None; never touches the network."""
    if os.path.isfile(pretrained):
        return pretrained
    for ext in WEIGHT_EXTS:
        p = os.path.join(clip_dir(), f"{name}-{pretrained}{ext}")
        if os.path.isfile(p):
            return p
    spec = CLIP_WEIGHTS.get((name, pretrained))
    return _hf_cached_file(spec.hf_repo) if spec else None


def missing_message(name: str, pretrained: str, reason: str) -> str:
    """One sentence naming the file to place and where."""
    spec = CLIP_WEIGHTS.get((name, pretrained))
    # A folder relative to the checkpoints folder: messages reach remote users and never show server paths.
    where = f"checkpoints/clip/{name}-{pretrained}.bin"
    src = f"open_clip_pytorch_model.bin from {hub_endpoint()}/{spec.hf_repo}" if spec else \
        f"the open_clip state_dict for {name!r} / {pretrained!r}"
    return f"CLIP {name}/{pretrained} is not on this machine ({reason}): download {src} and place it at {where}."


def is_clip_available(name: str = DEFAULT_CLIP, pretrained: str = DEFAULT_PRETRAINED) -> bool:
    """True when the weights are on this machine (no network needed)."""
    return name == TINY_NAME or find_local_weights(name, pretrained) is not None


# --------------------------------------------------------------------------- building
@functools.lru_cache(maxsize=4)
def get_tokenizer(context_length: int = 77):
    """open_clip's BPE tokenizer (its vocabulary ships in the package: works offline), cached."""
    import open_clip
    return open_clip.get_tokenizer("ViT-B-32", context_length=context_length)


def tiny_clip(*, seed: int = 0, embed_dim: int = 32, image_size: int = 32, device: str | None = None) -> ClipModel:
    """A tiny random-init open_clip ViT (2 layers per tower, embed dim 32) for tests and benches.

    Same tokenizer, preprocessing and maths as a real CLIP; its embeddings mean nothing.
    """
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    torch.manual_seed(seed)
    model = CLIP(embed_dim=embed_dim,
                 vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=image_size),
                 text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
    clip = ClipModel(model, get_tokenizer(77), name=TINY_NAME, pretrained="random", random_init=True)
    return clip.to(device or "cpu")


def _download(name: str, pretrained: str, progress: ProgressFn | None) -> str | None:
    """Fetch registered weights into checkpoints/clip/ (None: not registered, open_clip downloads)."""
    spec = CLIP_WEIGHTS.get((name, pretrained))
    if spec is None:
        return None
    dest = os.path.join(clip_dir(), spec.local_name)
    try:
        fetch(spec.url, dest, progress=progress)
    except DownloadError as e:
        raise ClipUnavailableError(missing_message(name, pretrained, str(e))) from None
    return dest


def _build(name: str, pretrained: str, device: str, progress: ProgressFn | None = None) -> ClipModel:
    if name == TINY_NAME:
        return tiny_clip(device=device)
    path = find_local_weights(name, pretrained)
    if path is None and hub_offline():
        raise ClipUnavailableError(missing_message(name, pretrained, "offline mode"))
    if path is None:                                     # before the slow open_clip import
        path = _download(name, pretrained, progress)
    if path is None:
        try:
            probe(hub_endpoint())
        except DownloadError as e:
            raise ClipUnavailableError(missing_message(name, pretrained, str(e))) from None
    import open_clip
    if name.replace("/", "-") not in open_clip.list_models():
        raise ValueError(f"unknown CLIP architecture {name!r}; open_clip knows e.g. ViT-B-32, ViT-B-16, RN50")
    spec = CLIP_WEIGHTS.get((name, pretrained))
    tag_cfg = spec and {"quick_gelu": spec.quick_gelu, "mean": spec.mean, "std": spec.std}
    if not tag_cfg and not os.path.isfile(pretrained):
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained) or None
    if path is None:
        if not tag_cfg:
            raise ClipUnavailableError(missing_message(name, pretrained, "unknown tag and no local file"))
        try:                                            # online: open_clip downloads into the hub cache
            model = open_clip.create_model(name, pretrained=pretrained, device=device,
                                           force_quick_gelu=bool(tag_cfg.get("quick_gelu")))
        except Exception as e:  # noqa: BLE001 - any hub / network failure means the same thing to the user
            raise ClipUnavailableError(missing_message(name, pretrained, f"{type(e).__name__}")) from None
    else:
        # A bare file does not say how it was trained: OpenAI weights need QuickGELU.
        quick = bool(tag_cfg["quick_gelu"]) if tag_cfg else "openai" in os.path.basename(path).lower()
        model = open_clip.create_model(name, pretrained=path, device=device, force_quick_gelu=quick)
    mean = tuple((tag_cfg or {}).get("mean") or OPENAI_MEAN)
    std = tuple((tag_cfg or {}).get("std") or OPENAI_STD)
    ctx = int(getattr(model, "context_length", 77) or 77)
    clip = ClipModel(model, get_tokenizer(ctx), name=name, pretrained=pretrained, mean=mean, std=std)
    clip.weights_path = path or find_local_weights(name, pretrained)      # where the weights came from
    return clip.to(device)


class ClipCache(LoadOnceCache[ClipModel]):
    """Thread-safe cache of loaded CLIP models keyed by (name, pretrained, device): concurrent
    first requests load once, other keys load in parallel (ganinv.cache)."""

    def get(self, name: str, pretrained: str, device: str, progress: ProgressFn | None = None) -> ClipModel:
        return super().get((name, pretrained, device), lambda: _build(name, pretrained, device, progress))


CACHE = ClipCache()


def load_clip(name: str = DEFAULT_CLIP, pretrained: str = DEFAULT_PRETRAINED, *,
              device: str | None = None, progress: ProgressFn | None = None) -> ClipModel:
    """The shared, cached CLIP ``name`` with weights ``pretrained`` (an open_clip tag or a file path).

    Raises ``ClipUnavailableError`` (one sentence: which file to place where) when the
    weights are neither local nor downloadable; offline this takes milliseconds, with no route
    under 5 s.  ``progress`` sees a download (tqdm on stderr without it).
    ``name="tiny-random"`` gives the random-init test model.
    """
    return CACHE.get(name, pretrained, device or default_device(), progress)


__all__ = ["ClipModel", "ClipUnavailableError", "ClipWeights", "CLIP_WEIGHTS", "DEFAULT_CLIP", "DEFAULT_PRETRAINED",
           "TINY_NAME", "get_tokenizer", "load_clip", "tiny_clip", "is_clip_available", "find_local_weights",
           "missing_message", "clip_dir", "hub_endpoint", "hub_offline"]
