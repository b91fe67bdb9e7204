"""Task: edit a latent along named directions (sliders), see a strength strip, train a new boundary.

InterFaceGAN (Shen et al., CVPR 2020): x' = x + alpha n (eq. 3); conditional editing makes n
orthogonal to the directions kept fixed, n1 - (n1^T n2) n2 (eq. 6).  Directions are keyed by
name: the model's shipped directions, then the session's own (trained boundaries, promoted
components) as "<name> (session)".  No key is a path, so API callers cannot name files.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from PIL import Image

from ..attributes import ATTRIBUTE_NAMES, LANDMARK_ATTRIBUTES, SCORERS, get_scorer
from ..attributes.photo import face_box, score_photo
from ..edit.apply import edit as apply_edit, sweep
from ..edit.directions import Direction, DirectionError, directions_root, list_directions, load_direction, save_direction
from ..edit.steering import (HOLD_AXES, HOLD_TOLERANCE, STEER_EVALUATIONS, TARGET_LIMIT, TARGET_TOLERANCE,
                             SteeringError, hold_summary, hold_tone, initial_strength, steer_edit, tone_slope)
from ..edit.interfacegan import conditional, conditional_direction, sample_and_score, train_direction
from ..io import image_grid, save_latent, tensor_to_pil
from ..latent import render, to_ws
from ..models.base import Generator
from ..settings import DEFAULT_MODEL, RENDER_KWARGS, STRENGTH_LIMIT, STRIP_STRENGTHS, ProgressFn
from ..faces import DEFAULT_PASTE_MODE, PASTE_MODES as _PASTE_MODES, paste_edit, paste_flow
from .common import (InputError, Source, choice, generator, layer_list, number, seed as check_seed,
                     source_generator, strength)
from .faces import crop_similarity, paste_into_photo, prepare_image
from .sources import resolve_source

SESSION_SUFFIX = " (session)"
PASTE_MODES = tuple(_PASTE_MODES)               # flow (default) / delta / face: ganinv.faces.PASTE_MODES
PASTE_MODE_HELP = dict(_PASTE_MODES)
ATTRIBUTES = ATTRIBUTE_NAMES                    # every attribute a scorer declares (ganinv.attributes)
TRAIN_SAMPLES = (60, 3000)                      # range of "train a boundary" sample counts
STRIP_PHOTO_PX = 256                            # largest side of a strip frame cut from the photo
MAX_STRIP = 25                                  # frames of a strength strip
TRAIN_SPACES = ("Z", "W")                       # boundaries are fitted in Z or W (InterFaceGAN Sec. 2.1, 3.3)
TONE_DIRECTION = "skin_tone"                    # the shipped ITA boundary edits step along to keep skin tone
TONE_TOLERANCE = 1.0                            # degrees of ITA the held edit may differ from the original


# --------------------------------------------------------------------------- directions
def directions_for(model: str, *, extra_root: str | None = None, root: str | None = None) -> dict[str, Direction]:
    """Every direction of ``model`` by key, in slider order: shipped ones (or those under ``root``),
    then the session's."""
    out = {d.name: d for d in list_directions(model, root=root)}
    if extra_root:
        out.update({d.name + SESSION_SUFFIX: d for d in list_directions(model, root=extra_root)})
    return out


def condition_names(model: str) -> list[str]:
    """Shipped supervised (attribute) directions that can be kept fixed."""
    return [d.name for d in list_directions(model) if d.method == "interfacegan"]


def _pick(catalog: dict[str, Direction], key: str, G: Generator, allow_path: bool = False) -> Direction:
    if allow_path and key not in catalog and str(key).endswith(".npy") and os.path.isfile(key):
        catalog[key] = load_direction(key, G=G)               # the CLI may name a direction file
    if key not in catalog:
        raise InputError(f"No direction {str(key)[:60]!r} for {G.name}; available: {', '.join(catalog) or 'none'}.")
    return catalog[key]


def _conditioned(d: Direction, conds: Sequence[Direction]) -> Direction:
    others = [c for c in conds if c.name != d.name]               # a direction is not conditioned on itself
    return conditional(d, others)[0] if others else d


def _layers(G: Generator, latent: torch.Tensor, space: str, layers) -> tuple[torch.Tensor, str, list[int] | None]:
    """(latent, space, layer indices) for an edit restricted to W+ ``layers``: a W latent becomes W+."""
    if layers in (None, ""):
        return latent, space, None
    if G.num_ws < 2 or space not in ("W", "W+"):
        raise InputError(f"Layers apply to W / W+ latents of a StyleGAN2 model; this latent of {G.name} is in {space}.")
    idx = layer_list(layers, G.num_ws)
    if space == "W":
        with torch.no_grad():
            latent, space = to_ws(G, latent, "W"), "W+"
    return latent, space, idx


def _cosines(catalog: dict[str, Direction], keys: Sequence[str], conds: Sequence[Direction]) -> list[dict]:
    rows = []
    for k in keys:
        others = [c for c in conds if c.name != catalog[k].name]
        if others:
            r = conditional_direction(catalog[k].tensor(), [c.tensor() for c in others])
            rows += [{"direction": k, "condition": c.name, "cos_before": round(b, 4), "cos_after": round(a, 6)}
                     for c, b, a in zip(others, r.cos_before, r.cos_after)]
    return rows


# --------------------------------------------------------------------------- edit
@dataclass
class EditOutput:
    latent: torch.Tensor                        # edited latent [1, ...], CPU
    image: torch.Tensor                         # [1, C, H, W] in [-1, 1]
    before: torch.Tensor                        # [1, C, H, W] unedited image
    space: str
    model: str
    strengths: dict[str, float]                 # the non-zero strengths applied, by key
    note: str                                   # where the latent came from
    cosines: list[dict] = field(default_factory=list)   # direction, condition, cos_before, cos_after
    scores: dict[str, tuple[float, float]] | None = None  # attribute -> (before, after); NaN: no face
    pasted: Image.Image | None = None           # the whole photo with the edited face pasted back
    identity: dict | None = None                # identity_metric(original photo, pasted)
    tone: dict | None = None                    # skin tone held: ita_before / ita_edited / ita_after, step, held, note
    held: list[dict] = field(default_factory=list)  # per steered attribute: before, edited, after, target, step, held
    photo_scores: dict[str, tuple[float, float]] | None = None  # attribute -> (photo, pasted photo), full resolution
    prepared: object | None = field(default=None, repr=False)   # the photo the edit was pasted into


def score_pair(before: torch.Tensor, after: torch.Tensor, *, scorer: str = "face") -> dict[str, tuple[float, float]]:
    """Attribute scores of two images [1, C, H, W] (NaN when the scorer finds no face)."""
    s = get_scorer(scorer).score(torch.cat([before, after]).float().cpu())
    return {k: (float(v[0]), float(v[1])) for k, v in s.items()}


def edit(source: Source, strengths: dict[str, float], *, model: str = DEFAULT_MODEL, without: Sequence[str] = (),
         keep_tone: bool = True, layers: str | Sequence[int] | None = None, score: bool = True, paste: bool = False,
         paste_mode: str = DEFAULT_PASTE_MODE, photo=None, hold: bool = True, deliver: bool = False,
         targets: dict[str, float] | None = None,
         extra_root: str | None = None, root: str | None = None, allow_path: bool = False,
         device: str | None = None) -> EditOutput:
    """Move one latent along directions: ``strengths`` maps direction keys to alpha (0 = off).

    ``without``: shipped directions every edit is made orthogonal to (conditional editing).
    ``keep_tone``: step along the model's skin-tone boundary until the edited face has the original's
    skin tone again (ITA within TONE_TOLERANCE degrees; ganinv.edit.hold), when the model ships one.
    ``layers``: W+ layers the edit moves (e.g. "0-3"; a W latent becomes W+), StyleGAN2 only.
    ``score``: also score the attributes before and after, and how much the edited face is still
    the original person (``identity``: ArcFace similarity and dlib distance to the aligned photo,
    or to the unedited render).  ``paste``: for a session latent inverted from an aligned face,
    put the edit into the whole photo (``paste_mode`` "edit": add the change only; "face": the
    generator's face); ``photo`` re-aligns a photo for a record loaded from a file (the CLI's
    ``--paste``), with the face index the record was made from.  ``root`` replaces the shipped directions folder;
    ``allow_path`` (the CLI) lets a key be a direction .npy file.
    ``hold``: keep every scored attribute the edit was not asked to change (HOLD_AXES: yaw, pitch, age,
    gender, and skin tone with ``keep_tone``) at its unedited value, per face, by a closed loop along their
    boundaries (ganinv.edit.hold.steer).  ``targets``: direction key -> the change wanted in its attribute's
    own units (e.g. {"smile": 0.5}); the strength is then found by the same loop (capped at STRENGTH_LIMIT)
    instead of taken from ``strengths``.  ``deliver``: a face whose render lags behind a direction's average effect
    (strength x measured slope) gets strength added by the same loop, at most as much again.
    """
    G = generator(model, device)
    G = source_generator(G, source)
    catalog = directions_for(G.name, extra_root=extra_root, root=root)
    targets = {k: number(v, f"target change of {k!r}", -TARGET_LIMIT, TARGET_LIMIT) for k, v in (targets or {}).items()}
    try:
        strengths = {**(strengths or {}), **{k: initial_strength(_pick(catalog, k, G, allow_path), t)
                                             for k, t in targets.items()}}
    except SteeringError as e:
        raise InputError(str(e)) from None
    checked = {k: strength(v, f"strength of {k!r}") for k, v in (strengths or {}).items()}
    active = {k: a for k, a in checked.items() if _pick(catalog, k, G, allow_path) is not None and a}
    conds = [_pick(catalog, c, G, allow_path) for c in without or ()]
    lat, space, note = resolve_source(G, source)
    lat, space, idx = _layers(G, lat, space, layers)
    dirs = [_conditioned(catalog[k], conds) for k in active]
    out = apply_edit(G, lat, space, dirs, list(active.values()), layers=idx)
    with torch.no_grad():
        before = render(G, lat, space, **RENDER_KWARGS)
    result = EditOutput(out.latent.detach().cpu(), out.image.cpu(), before.cpu(), space, G.name, active, note,
                        _cosines(catalog, list(active), conds))
    if active and (hold or targets or deliver):
        _steer_edit(G, catalog, result, space, idx, active, targets, keep_tone=keep_tone, hold=hold, deliver=deliver)
    elif keep_tone and active and TONE_DIRECTION not in active:
        tone = hold_tone(G, catalog.get(TONE_DIRECTION), out.latent, space, before, idx, tolerance=TONE_TOLERANCE)
        held_latent, held_image = tone.pop("latent", None), tone.pop("image", None)
        if held_latent is not None:
            result.latent, result.image = held_latent, held_image
        result.tone = tone
    prepared = getattr(source.record, "prepared", None) if source.kind == "session" else None
    if photo is not None:                      # the CLI's --paste PHOTO: align the record's face again
        meta = _record_meta(G, source)
        prepared = prepare_image(photo, generator(model, device), align="face",
                                 face_index=int(meta.get("face", 0) or 0))
    if (paste or photo is not None) and prepared is not None and getattr(prepared, "aligned", None) is not None:
        result.pasted = paste_photo(prepared, result.before, result.image, mode=paste_mode,
                                    keep_tone=keep_tone and TONE_DIRECTION not in active)
    result.prepared = prepared
    if score:
        score_edit(result, model=model, device=device)
    return result


def score_edit(result: EditOutput, *, model: str = DEFAULT_MODEL, device: str | None = None) -> EditOutput:
    """Fill in ``result``'s scores: the renders' attributes, ArcFace of the edited face to the aligned photo (or to
    the unedited render), and, when the edit was pasted, every score read off the whole photo (``score_photo``).
    Separate from ``edit`` so that a front end can show the image first."""
    G = generator(model, device)
    prepared = result.prepared
    result.scores = score_pair(result.before, result.image)
    reference = prepared.tensor.cpu() if prepared is not None else result.before
    result.identity = crop_similarity(G, reference, result.image)
    if result.pasted is not None and prepared is not None and getattr(prepared, "aligned", None) is not None:
        result.photo_scores, photo_id = score_photo(prepared.original, result.pasted, prepared.aligned)
        result.identity = {**result.identity, **photo_id}
    return result


def _steer_edit(G: Generator, catalog: dict[str, Direction], result: EditOutput, space: str, layers, active: dict,
                targets: dict[str, float], *, keep_tone: bool, hold: bool, deliver: bool = False) -> None:
    """The closed loop of ganinv.edit.steering on the edited latent; updates ``result``."""
    if keep_tone and TONE_DIRECTION not in catalog:
        result.tone = {"held": False, "note": f"{G.name} has no skin-tone direction: skin tone not held"}
    try:
        r = steer_edit(G, catalog, result.before, result.image, result.latent.to(G.device), space, layers, active,
                       targets, keep_tone=keep_tone, hold=hold, deliver=deliver, tone_direction=TONE_DIRECTION)
    except DirectionError:
        return
    if r is None:
        return
    result.latent, result.image, result.held = r.latent.detach().cpu(), r.image.cpu(), r.rows
    for k, step in r.strength_steps.items():
        result.strengths[k] = round(result.strengths.get(k, 0.0) + step, 4)
    result.tone = r.tone or result.tone
    missed = [h for h in r.rows if h["role"] == "target" and not h["held"]]
    if missed:
        result.note += "; " + "; ".join(f"{h['attribute']} reached {h['after'] - h['before']:+.2f} of the "
                                        f"{h['target'] - h['before']:+.2f} asked (strength capped at "
                                        f"{STRENGTH_LIMIT:g}, or this face does not move further)" for h in missed)


def tone_summary(tone: dict) -> str:
    """One sentence on the skin tone of an edit (``EditOutput.tone``), for the app's status and the CLI."""
    if "ita_after" not in tone:
        note = tone.get("note", "skin tone not held")
        return note[:1].upper() + note[1:]
    verdict = "kept" if tone["held"] else "not fully kept"
    return (f"Skin tone {verdict}: ITA {tone['ita_before']:.1f}° → {tone['ita_after']:.1f}° (the edit alone: "
            f"{tone['ita_edited']:.1f}°; step {tone['step']:+.2f} along {TONE_DIRECTION})")


def _record_meta(G: Generator, source: Source) -> dict:
    """The metadata of the record a source stands for (face index and alignment of its photo)."""
    if source.kind == "session" and source.record is not None:
        return source.record.meta or {}
    if source.kind == "file" and str(source.path or "").lower().endswith(".npz"):
        return source.latent_file(G).meta
    return {}


def paste_photo(prepared, before: torch.Tensor, after: torch.Tensor, *, mode: str = DEFAULT_PASTE_MODE,
                keep_tone: bool = True) -> Image.Image:
    """The whole photo with the edited face (modes: ganinv.faces.PASTE_MODES).  "flow" moves the photo's own
    pixels along the edit's motion and adds what motion does not explain (``keep_tone``: without the
    residual's mean skin-colour change); "delta" adds the edit's change G'(w + a n) - G'(w) as it is; both
    keep the photo's resolution and return it unchanged at strength 0.  "face" pastes the generator's face."""
    mode = "delta" if mode == "edit" else mode                # the name this mode had before "flow" existed
    choice(mode, "Paste mode", PASTE_MODES)
    if mode == "face":
        return paste_into_photo(prepared, after)
    if mode == "flow":
        return paste_flow(prepared.original, before, after, prepared.aligned, keep_tone=keep_tone)
    return paste_edit(prepared.original, before, after, prepared.aligned)


def save_edit(path: str, result: EditOutput) -> str:
    """The edited latent as a ganinv .npz, with its strengths in the metadata."""
    return save_latent(path, result.latent, model=result.model, space=result.space,
                       extra={"source": "edit", "strengths": dict(result.strengths),
                              **({"tone": result.tone} if result.tone else {})})


# --------------------------------------------------------------------------- disentanglement
DISENTANGLEMENT_FILE = "disentanglement.json"   # written by scripts/disentanglement.py beside the directions


@dataclass
class Disentanglement:
    """How much each shipped direction moves every score, from -s to +s on held-out samples."""

    strength: float
    num_samples: int
    attributes: list[str]
    units: dict[str, str]
    rows: list[dict]                            # {"direction", <attribute>: change, ...} per direction


def disentanglement(model: str = DEFAULT_MODEL) -> Disentanglement | None:
    """The model's measured disentanglement matrix, or None when it has none."""
    path = os.path.join(directions_root(), os.path.basename(str(model)), DISENTANGLEMENT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict) or not str(d.get("format", "")).startswith("ganinv-disentanglement/"):
        raise InputError("the disentanglement file is not a ganinv disentanglement matrix.")
    attrs = [a for a in d["attributes"] if a not in ("angry", "disgust", "fear", "sad", "surprise", "neutral")]
    rows = [{"direction": r["name"], **{a: r["span"].get(a) for a in attrs}} for r in d["directions"]]
    return Disentanglement(float(d["strength"]), int(d["num_samples"]), attrs, dict(d.get("units", {})), rows)


# --------------------------------------------------------------------------- strips
@dataclass
class Strip:
    images: torch.Tensor                        # [F, C, H, W] in [-1, 1]
    strengths: list[float]
    grid: Image.Image                           # the frames side by side
    label: str
    on_photo: bool = False                      # the frames are the photo with each edit pasted in (face crops)


def direction_strip(G: Generator, latent: torch.Tensor, space: str, d: Direction, strengths: Sequence[float],
                    label: str, *, layers: Sequence[int] | None = None) -> Strip:
    """The latent moved along ``d`` by each strength, rendered side by side (W+: on ``layers``, else d's own)."""
    ed = apply_edit(G, latent.to(G.device), space, [d], [0.0], render_image=False)   # validates d
    lay = layers if layers is not None else d.layers
    lat = sweep(ed.latent, d.tensor(G.device), strengths, layers=lay if space == "W+" else None)
    with torch.no_grad():
        imgs = render(G, lat, space, **RENDER_KWARGS).cpu()
    return Strip(imgs, list(strengths), image_grid(tensor_to_pil(imgs), cols=len(strengths)), label)


def strip_strengths(limit: float, count: int = len(STRIP_STRENGTHS)) -> list[float]:
    """``count`` strengths evenly from -limit to +limit (a negative limit runs the other way)."""
    lim = number(limit, "Strip range", -STRENGTH_LIMIT, STRENGTH_LIMIT)
    if abs(lim) < 0.1:
        raise InputError(f"Strip range must be at least 0.1 away from 0, got {str(limit)[:40]}.")
    n = number(count, "Strip frames", 2, MAX_STRIP, whole=True)
    return [round(lim * (2 * i / (n - 1) - 1), 3) for i in range(n)]


def strip(source: Source, key: str, *, model: str = DEFAULT_MODEL, strengths: Sequence[float] = STRIP_STRENGTHS,
          without: Sequence[str] = (), layers: str | Sequence[int] | None = None, extra_root: str | None = None,
          root: str | None = None, allow_path: bool = False, device: str | None = None,
          on_photo: bool = False, paste_mode: str = DEFAULT_PASTE_MODE) -> Strip:
    """The latent moved along direction ``key`` by each strength (conditioned on ``without``; options as ``edit``).
    ``on_photo``: for a session latent inverted from an aligned face, each frame is the photo with that edit
    pasted in (``paste_mode``), cropped around the face at the photo's resolution."""
    if not key:
        raise InputError("Choose a direction for the strip.")
    G = generator(model, device)
    G = source_generator(G, source)
    catalog = directions_for(G.name, extra_root=extra_root, root=root)
    d = _conditioned(_pick(catalog, key, G, allow_path), [_pick(catalog, c, G, allow_path) for c in without or ()])
    strengths = [strength(a) for a in strengths]
    lat, space, _ = resolve_source(G, source)
    lat, space, idx = _layers(G, lat, space, layers)
    s = direction_strip(G, lat, space, d, strengths, key, layers=idx)
    prepared = getattr(source.record, "prepared", None) if source.kind == "session" else None
    if on_photo and prepared is not None and getattr(prepared, "aligned", None) is not None:
        with torch.no_grad():
            base = render(G, lat, space, **RENDER_KWARGS).cpu()
        box = face_box(prepared.aligned)
        side = min(STRIP_PHOTO_PX, box[2] - box[0])
        frames = [paste_photo(prepared, base, f[None], mode=paste_mode).crop(box).resize((side, side), Image.LANCZOS)
                  for f in s.images]
        s.grid, s.on_photo = image_grid(frames, cols=len(frames)), True
    return s


# --------------------------------------------------------------------------- train a boundary
@dataclass
class TrainedDirection:
    direction: Direction
    key: str                                    # its key among the session's directions
    accuracy_val: float
    accuracy_rest: float
    num_samples: int
    detection_rate: float
    seconds: float
    path: str = ""                              # the saved .npy (its .json metadata beside it)


def train_boundary(attribute: str, *, root: str | None = None, model: str = DEFAULT_MODEL, num_samples: int = 200,
                   seed: int = 0, scorer: str | None = None, fraction: float = 0.2, space: str | None = None,
                   without: Sequence[str] = (), device: str | None = None,
                   progress: ProgressFn | None = None) -> TrainedDirection:
    """Sample, score, fit an InterFaceGAN boundary for ``attribute`` and save it under ``root``
    (options as ``train_boundaries``)."""
    return train_boundaries([attribute], root=root, model=model, num_samples=num_samples, seed=seed, scorer=scorer,
                            fraction=fraction, space=space, without=without, device=device, progress=progress)[0]


def train_boundaries(attributes: Sequence[str], *, root: str | None = None, model: str = DEFAULT_MODEL,
                     num_samples: int = 200, seed: int = 0, scorer: str | None = None, fraction: float = 0.2,
                     space: str | None = None, without: Sequence[str] = (), device: str | None = None,
                     progress: ProgressFn | None = None) -> list[TrainedDirection]:
    """Sample and score ``num_samples`` latents once, then fit one boundary per attribute and save it.

    ``scorer``: one of SCORERS (default: the landmarker when it gives every attribute, else "face").
    ``fraction``: the most confident fraction kept at each end (InterFaceGAN Sec. 3.3).  ``space``: Z or W
    (default: the model's default space).  ``without``: directions each boundary is made orthogonal to
    (eq. 6).  ``root``: where the directions are saved (None: the shipped folder; keys without the session
    suffix).
    """
    attributes = list(attributes or [])
    if not attributes:
        raise InputError("Choose at least one attribute.")
    for a in attributes:
        choice(a, "Attribute", ATTRIBUTES)
    name = scorer or ("landmarker" if all(a in LANDMARK_ATTRIBUTES for a in attributes) else "face")
    choice(name, "Scorer", SCORERS)
    missing = [a for a in attributes if a not in SCORERS[name].names]
    if missing:
        raise InputError(f"Scorer {name!r} does not give {', '.join(missing)}; it gives "
                         f"{', '.join(SCORERS[name].names)}.")
    n = number(num_samples, "Samples N", *TRAIN_SAMPLES, whole=True)
    s = check_seed(seed)
    frac = number(fraction, "Fraction", 0.01, 0.5)
    G = generator(model, device)
    if space not in (None, ""):
        choice(space, f"Space for boundaries of {G.name}", [x for x in TRAIN_SPACES if G.supports(x)])
    catalog = directions_for(G.name, extra_root=root)
    conds = [_pick(catalog, c, G) for c in without or ()]
    t0 = time.perf_counter()
    sample_progress = (lambda f, m: progress(0.9 * f, m)) if progress else None
    samples = sample_and_score(G, get_scorer(name), num_samples=n, seed=s, space=space or None,
                               progress=sample_progress)
    out = []
    for a in attributes:
        d, r = train_direction(G, samples, a, name=f"{a}-trained-n{n}", chosen_fraction=frac, seed=s)
        d = _conditioned(d, conds)
        path = save_direction(d, root=root)
        if progress:
            progress(1.0, f"{a}: validation accuracy {r.accuracy_val:.3f}")
        out.append(TrainedDirection(d, d.name + (SESSION_SUFFIX if root else ""), r.accuracy_val, r.accuracy_rest,
                                    len(samples.latents), samples.detection_rate, time.perf_counter() - t0, path))
    return out


__all__ = ["Disentanglement", "disentanglement", "SESSION_SUFFIX", "ATTRIBUTES", "TRAIN_SPACES", "MAX_STRIP", "directions_for", "condition_names",
           "EditOutput", "score_pair", "edit", "save_edit", "Strip", "direction_strip", "strip_strengths", "strip",
           "TrainedDirection", "train_boundary", "train_boundaries", "TONE_DIRECTION", "TONE_TOLERANCE", "tone_slope",
           "tone_summary", "hold_summary", "HOLD_AXES", "HOLD_TOLERANCE", "TARGET_TOLERANCE", "STEER_EVALUATIONS", "score_photo", "score_edit", "PASTE_MODES", "PASTE_MODE_HELP"]
