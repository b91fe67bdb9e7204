"""Task: edit a latent towards a text prompt with StyleCLIP (Patashnik et al., ICCV 2021).

latent optimisation (Sec. 4, eq. 1-2), latent mapper (Sec. 5), global direction (Sec. 6, StyleGAN2).
CLIP is picked once per process: env GANINV_CLIP unset -> ViT-B-32/openai; "tiny-random" -> a random
test CLIP (meaningless edits); "ARCH" or "ARCH:TAG_OR_FILE" -> that open_clip model.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..clip_models import (hub_offline, DEFAULT_CLIP, DEFAULT_PRETRAINED, TINY_NAME, ClipModel, ClipUnavailableError,
                           is_clip_available, load_clip)
from ..edit import styleclip_global as sg
from ..edit import styleclip_mapper as sm
from ..edit.prompts import PromptCheck, PromptError, check_prompt, text_embedding
from ..edit.styleclip_optimize import text_edit_optimize
from ..io import save_latent
from ..latent import render
from ..registry import ModelUnavailableError, checkpoints_dir, get_spec, offline
from ..settings import (DEFAULT_MODEL, MAPPER_STEPS, MAX_MAPPER_STEPS, STRENGTH_LIMIT, TEXT_STEPS, ProgressFn,
                        sub_progress)
from .common import (source_generator, InputError, Source, check_steps, default_of, defaults_from, generator, number,
                     optional_number, seed as check_seed)
from .sources import resolve_source, resolve_sources

TEXT_METHODS = ("optimize", "mapper", "global")
TINY_NOTE = "Using the tiny random CLIP (GANINV_CLIP=tiny-random), for testing only: edits are meaningless."


@dataclass(frozen=True)
class ClipChoice:
    name: str = DEFAULT_CLIP
    pretrained: str = DEFAULT_PRETRAINED

    @property
    def tiny(self) -> bool:
        return self.name == TINY_NAME

    @property
    def label(self) -> str:
        return f"{self.name}/{os.path.basename(self.pretrained)}"


def clip_from_env(value: str | None = None) -> ClipChoice:
    """The CLIP named by env GANINV_CLIP (or ``value``)."""
    value = (os.environ.get("GANINV_CLIP", "") if value is None else value).strip()
    if not value:
        return ClipChoice()
    if value == TINY_NAME:
        return ClipChoice(TINY_NAME, "random")
    name, _, pretrained = value.partition(":")
    return ClipChoice(name, pretrained or DEFAULT_PRETRAINED)


def get_clip(clip: ClipChoice, device: str | None = None, progress: ProgressFn | None = None) -> ClipModel:
    """The shared CLIP of ``clip``; missing weights are downloaded when allowed, ``progress`` seeing the
    download (size and speed) as a picked model's download does."""
    return load_clip(clip.name, clip.pretrained, device=device, progress=sub_progress(progress, 0.0, 1.0, "CLIP: "))


def clip_problem(clip: ClipChoice, device: str | None = None) -> str | None:
    """None when CLIP can be used, else one sentence saying what is missing and how to add it."""
    if is_clip_available(clip.name, clip.pretrained) or not (offline() or hub_offline()):
        return None
    try:                                       # offline and missing: fails in milliseconds with the sentence
        get_clip(clip, device)
    except ClipUnavailableError as e:
        return str(e)
    return None


def check_text(prompt, clip: ClipModel | None = None, *, what: str = "Prompt") -> PromptCheck:
    """A prompt checked before anything heavy runs (empty, non-English, over-long are refused or reported)."""
    try:
        return check_prompt("" if prompt is None else str(prompt),
                            context_length=clip.context_length if clip is not None else 77)
    except PromptError as e:
        raise InputError(f"{what}: {e}.") from None


def mapper_files(model: str) -> list[tuple[str, str]]:
    """(label, file name) of checkpoints/mapper-<model>-*.safetensors, newest first."""
    stem = sm.default_mapper_path(model, "x")[: -len("x.safetensors")]
    out = []
    for p in sorted(glob.glob(glob.escape(stem) + "*.safetensors"), key=os.path.getmtime, reverse=True):
        try:
            with open(sm.json_path(p)) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            meta = {}
        label = (f"'{meta['prompt']}' ({meta.get('steps', '?')} steps, CLIP {meta.get('clip_model', '?')})"
                 if isinstance(meta, dict) and meta.get("prompt") else os.path.basename(p))
        out.append((label, os.path.basename(p)))
    return out


@dataclass
class TextInfo:
    """What each method can do for a model with this machine's CLIP (nothing is loaded)."""

    status: str
    clip_ok: bool
    opt_reason: str
    map_reason: str
    glob_reason: str
    mappers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def glob_ok(self) -> bool:
        return not self.glob_reason


def text_info(model: str, clip: ClipChoice, *, device: str | None = None) -> TextInfo:
    missing = clip_problem(clip, device)
    if missing:
        status = f"⚠️ {missing}"
    elif clip.tiny:
        status = f"⚠️ {TINY_NOTE}"
    elif is_clip_available(clip.name, clip.pretrained):
        status = f"CLIP {clip.label}: weights on this machine (loaded at the first edit)."
    else:
        status = f"CLIP {clip.label} is downloaded once at the first edit (about 600 MB)."
    need_clip = "Needs CLIP weights (see the note above)." if missing else ""
    try:
        spaces = get_spec(model).spaces
    except ModelUnavailableError:
        spaces = ()
    directions = sg.default_directions_path(model, clip.label)
    if "S" not in spaces:
        glob_reason = (f"Global direction needs a StyleGAN2 model (StyleSpace S); {model} has only "
                       f"{'/'.join(spaces) or 'unknown'} spaces: use latent optimisation or a mapper.")
    elif need_clip:
        glob_reason = need_clip
    elif not os.path.isfile(directions):
        glob_reason = (f"Needs precomputed channel directions: run `python -m ganinv global-directions "
                       f"--model {model}` (slow, resumable) to create `{os.path.relpath(directions, checkpoints_dir())}` "
                       f"in the checkpoints folder.")
    else:
        glob_reason = ""
    mappers = mapper_files(model)
    map_reason = " ".join(filter(None, [
        "Training a mapper needs CLIP weights; applying a saved mapper does not." if missing else "",
        "" if mappers else "No mapper for this model in checkpoints/ yet: train one below."]))
    return TextInfo(status, not missing, need_clip, map_reason, glob_reason, mappers)


@dataclass
class TextOutput:
    method: str
    model: str
    before: torch.Tensor                        # [N, C, H, W]
    image: torch.Tensor                         # [N, C, H, W] edited
    latent: torch.Tensor | None                 # edited latent (None for the global direction: styles)
    space: str
    metrics: list[tuple[str, object]]           # (name, value) rows
    note: str
    warnings: list[str] = field(default_factory=list)
    loss_history: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)   # method-specific (styles, mapper path, ...)


def _source_list(source: Source | Sequence[Source]) -> list[Source]:
    return [source] if isinstance(source, Source) else list(source or [])


def _latents(G, source: Source | Sequence[Source]) -> tuple[torch.Tensor, str, str]:
    """(latents [N, ...] in one space, the space, a note) of one source or several."""
    if isinstance(source, Source):
        return resolve_source(G, source)
    sources = list(source or [])
    if not sources:
        raise InputError("Give at least one latent source.")
    lats, space, notes = resolve_sources(G, sources)
    return torch.cat(lats), space, "; ".join(notes)


def _first_check(prompt, what: str = "Prompt") -> None:
    """Empty prompts are refused before CLIP is looked at (no tokenizer needed for that)."""
    if not isinstance(prompt, str) or not prompt.split():
        check_text(prompt, what=what)


@defaults_from(text_edit_optimize)
def text_edit(source: Source | Sequence[Source], prompt: str, *, model: str = DEFAULT_MODEL, clip: ClipChoice = ClipChoice(),
              steps: int = TEXT_STEPS, lr: float = 0.1, l2_weight: float | None = None, id_weight: float | None = None,
              strict: bool = False, device: str | None = None, progress: ProgressFn | None = None) -> TextOutput:
    """Latent optimisation: move ``source``'s latent (or several sources' latents, as one batch) towards
    ``prompt`` (eq. 1).  ``metrics`` describe the first image; ``extra`` has every image's distances.
    ``l2_weight`` / ``id_weight`` None: the method's (the paper's) weights."""
    _first_check(prompt)
    weights = {k: v for k, v in (("l2_weight", optional_number(l2_weight, "λ_L2", 0, 100)),
                                 ("id_weight", optional_number(id_weight, "λ_ID", 0, 100))) if v is not None}
    n = check_steps(steps)
    lr = number(lr, "Learning rate", 1e-5, 10)
    if progress:
        progress(0.0, "loading CLIP")
    cm = get_clip(clip, device, progress)
    check_text(prompt, cm)
    G = generator(model, device)
    G = source_generator(G, *_source_list(source))
    lat, space, note = _latents(G, source)
    r = text_edit_optimize(G, lat, prompt, latent_space=space, clip=cm, num_steps=n, lr=lr, **weights,
                           on_overlong="error" if strict else "truncate",
                           progress_every=max(1, n // 50), progress=progress)
    metrics = [("D_CLIP before", r.clip_distance_before[0]), ("D_CLIP after", r.clip_distance_after[0]),
               ("||w - w_s||", r.latent_distance[0]), ("identity term", r.identity_reason), ("steps", str(n)),
               ("space", r.space), ("CLIP", r.clip_model), ("time (s)", f"{r.seconds:.1f}")]
    return TextOutput("optimize", G.name, r.start_image.detach().cpu(), r.image.detach().cpu(),
                      r.latent.detach().cpu(), r.space, metrics, note, list(r.warnings), r.loss_history,
                      dict(r.settings), {"prompt": r.prompt, "clip_model": r.clip_model,
                                         "identity_reason": r.identity_reason, "seconds": r.seconds,
                                         "clip_distance_before": list(r.clip_distance_before),
                                         "clip_distance_after": list(r.clip_distance_after),
                                         "latent_distance": list(r.latent_distance)})


@dataclass
class TrainedMapper:
    path: str                                   # the saved .safetensors
    prompt: str
    seconds: float
    loss_history: list[dict]
    warnings: list[str]
    identity_reason: str
    settings: dict


def train_mapper(prompt: str, *, model: str = DEFAULT_MODEL, clip: ClipChoice = ClipChoice(),
                 steps: int = MAPPER_STEPS, batch: int = 2, lr: float = 0.5, l2_weight: float = 0.8,
                 id_weight: float = 0.1, truncation_psi: float = 0.7, seed: int = 0, strict: bool = False,
                 out: str | None = None, device: str | None = None,
                 progress: ProgressFn | None = None) -> TrainedMapper:
    """Train a latent mapper M_t for ``prompt`` and save it (default checkpoints/mapper-<model>-<prompt>)."""
    _first_check(prompt)
    n = check_steps(steps, "Mapper steps", MAX_MAPPER_STEPS)
    b = number(batch, "Batch", 1, 64, whole=True)
    seed = check_seed(seed)
    for v, what in ((lr, "Learning rate"), (l2_weight, "λ_L2"), (id_weight, "λ_ID"), (truncation_psi, "Truncation")):
        number(v, what, 0, 100)
    if progress:
        progress(0.0, "loading CLIP")
    cm = get_clip(clip, device, progress)
    chk = check_text(prompt, cm)
    G = generator(model, device)
    r = sm.train_mapper(G, prompt, clip=cm, num_steps=n, batch_size=b, lr=float(lr), l2_weight=float(l2_weight),
                        id_weight=float(id_weight), truncation_psi=float(truncation_psi), seed=int(seed),
                        on_overlong="error" if strict else "truncate", progress_every=max(1, n // 50),
                        progress=progress)
    # a test CLIP's mapper gets its own file name, so it never replaces a real one
    path = sm.save_mapper(r, out or sm.default_mapper_path(G.name, chk.text + (" tiny random" if clip.tiny else "")))
    return TrainedMapper(path, r.prompt, r.seconds, r.loss_history, list(r.warnings), r.identity_reason,
                         dict(r.settings))


def apply_mapper(source: Source | Sequence[Source], mapper: str, *, model: str = DEFAULT_MODEL, strength: float = 1.0,
                 clip: ClipChoice | None = None, allow_path: bool = False,
                 device: str | None = None) -> TextOutput:
    """Apply a saved mapper: w + alpha M_t(w).  ``mapper`` is a file name among ``mapper_files(model)``
    (or, with ``allow_path`` for the CLI, a file path).  With CLIP on this machine the D_CLIP of the
    images to the mapper's prompt is reported too.  Several sources are edited as one batch."""
    alpha = number(strength, "Mapper strength", -STRENGTH_LIMIT, STRENGTH_LIMIT)
    G = generator(model, device)
    G = source_generator(G, *_source_list(source))
    if not mapper:
        raise InputError("Choose a mapper (or train one first).")
    names = [n for _, n in mapper_files(G.name)]
    if allow_path and os.path.isfile(mapper):
        path = mapper
    elif mapper in names:                          # only files from the listing: no paths from API callers
        path = os.path.join(checkpoints_dir(), mapper)
    else:
        raise InputError(f"No mapper {str(mapper)[:80]!r} for {G.name} in checkpoints/; available: "
                         f"{', '.join(names) or 'none'}.")
    lat, space, note = _latents(G, source)
    m, meta = sm.load_mapper(path, G=G)
    r = sm.apply_mapper(G, m, lat, latent_space=space, strength=alpha)
    with torch.no_grad():
        before = render(G, lat.to(G.device), space)
    rows = [("strength α", alpha), ("||α M_t(w)||", r.step_norm[0]), ("prompt", str(meta.get("prompt", "?"))),
            ("trained steps", str(meta.get("steps", "?"))), ("space", r.space)]
    if meta.get("prompt") and clip is not None and is_clip_available(clip.name, clip.pretrained):
        cm = get_clip(clip, device)
        with torch.no_grad():
            t, _ = text_embedding(cm, meta["prompt"])
            rows += [("D_CLIP before", float(cm.distance(before, t)[0])),
                     ("D_CLIP after", float(cm.distance(r.image, t)[0]))]
    return TextOutput("mapper", G.name, before.cpu(), r.image.detach().cpu(), r.latent.detach().cpu(), r.space,
                      rows, note, extra={"mapper": os.path.basename(path), "prompt": meta.get("prompt"),
                                         "clip_model": meta.get("clip_model"), "strength": alpha,
                                         "step_norm": list(r.step_norm), "steps": meta.get("steps")})


@defaults_from(sg.global_edit)
def global_edit(source: Source | Sequence[Source], neutral: str, target: str, *, model: str = DEFAULT_MODEL,
                clip: ClipChoice = ClipChoice(), alpha: float | None = None, beta: float | None = None,
                directions: str | None = None, device: str | None = None,
                progress: ProgressFn | None = None) -> TextOutput:
    """Global direction: move the style channels relevant to neutral -> target (StyleGAN2 only); several
    sources are edited as one batch.  ``alpha`` / ``beta`` None: the method's defaults."""
    _first_check(neutral, "Neutral prompt")
    _first_check(target)
    a = number(default_of(global_edit, "alpha") if alpha is None else alpha, "α", -20, 20)
    b = number(default_of(global_edit, "beta") if beta is None else beta, "β", 0, 1)
    G = generator(model, device)
    G = source_generator(G, *_source_list(source))
    sg.require_stylespace(G)                   # before loading CLIP: the DCGAN cannot do this at all
    if progress:
        progress(0.0, "loading CLIP and the channel directions")
    cm = get_clip(clip, device, progress)
    check_text(neutral, cm, what="Neutral prompt")
    check_text(target, cm)
    lat, space, note = _latents(G, source)
    r = sg.global_edit(G, lat, neutral, target, latent_space=space, clip=cm, alpha=a, beta=b,
                       **({"directions": directions} if directions else {}))
    rows = [("channels with |R_c| ≥ β", str(r.num_channels)), ("max |R_c|", float(r.relevance.abs().max())),
            ("α", a), ("β", b)] + [(f"channels in {k}", str(v)) for k, v in r.channels_per_layer.items() if v]
    styles = {k: v[:1].detach().cpu().numpy() for k, v in r.styles.items()}
    return TextOutput("global", G.name, r.start_image.detach().cpu(), r.image.detach().cpu(), None, "S", rows, note,
                      list(r.warnings), extra={"styles": styles, "num_channels": r.num_channels,
                                               "neutral": r.neutral, "target": r.target})


def global_directions(*, model: str = DEFAULT_MODEL, clip: ClipChoice = ClipChoice(), images: int = 100,
                      perturb: float = 5.0, include_torgb: bool = False, stats: int = 10000, batch: int = 8,
                      max_channels: int | None = None, restart: bool = False, seed: int = 0, out: str | None = None,
                      device: str | None = None, progress: ProgressFn | None = None):
    """Precompute the channel directions Δi_c of the global method (slow, resumable)."""
    images = number(images, "Images per channel", 1, 10_000, whole=True)
    perturb = number(perturb, "Perturbation (stds)", 0.01, 100)
    stats = number(stats, "Statistics samples", 2, 1_000_000, whole=True)
    batch = number(batch, "Batch", 1, 256, whole=True)
    if max_channels not in (None, ""):
        max_channels = number(max_channels, "Max channels", 1, 1_000_000, whole=True)
    seed = check_seed(seed)
    G = generator(model, device)
    sg.require_stylespace(G)                   # fail before loading CLIP
    cm = get_clip(clip, device, progress)
    return sg.precompute_global_directions(G, cm, path=out, num_images=int(images), perturb=float(perturb),
                                           include_torgb=include_torgb, num_stats=int(stats), batch_size=int(batch),
                                           max_channels=max_channels, resume=not restart, seed=int(seed),
                                           progress=progress)


def save_styles(path: str, styles: dict[str, np.ndarray]) -> str:
    np.savez(path, **styles)
    return path


def save_output(path: str, out: TextOutput, *, source: str = "text edit") -> str:
    """A text edit's result as a file: the edited latent(s) as a ganinv .npz (its method, prompt and CLIP in
    the metadata; every code of a batch), or for the global direction (which edits styles, not a latent)
    the styles .npz."""
    if out.latent is None:
        return save_styles(path, out.extra["styles"])
    meta = {k: v for k, v in out.extra.items() if k != "styles"}
    return save_latent(path, out.latent, model=out.model, space=out.space,
                       extra={"styleclip": {"method": out.method, **meta}, "source": source})


__all__ = ["TEXT_METHODS", "TINY_NOTE", "ClipChoice", "clip_from_env", "get_clip", "clip_problem", "check_text",
           "mapper_files", "TextInfo", "text_info", "TextOutput", "text_edit", "TrainedMapper", "train_mapper",
           "apply_mapper", "global_edit", "global_directions", "save_styles", "save_output"]
