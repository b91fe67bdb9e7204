"""One call per interactive edit action (used by the web app; usable from any front end).

Each function takes a generator, latents and plain settings, calls the method modules
(``apply``, ``interfacegan``, ``sefa``, ``ganspace``, ``mixing``) and returns a small result
dataclass holding what a UI shows.  No UI objects and no global state: a session's own
directions (trained boundaries, discovered components promoted to sliders) are ordinary
direction files under a folder the caller owns (``extra_root``), addressed by their .npy path.

Papers: InterFaceGAN (Shen et al., CVPR 2020) x' = x + alpha n (Eq. 3) and the conditional
direction n1 - (n1^T n2) n2 (Eq. 6); SeFa (Shen & Zhou, CVPR 2021) eigenvectors of A^T A
(Eq. 5); GANSpace (Harkonen et al., NeurIPS 2020) PCA; Image2StyleGAN (Abdal et al.,
ICCV 2019) crossover (Sec. 6.1) and expression transfer w1 + lambda (w3 - w2) (Eq. 5);
In-Domain GAN Inversion (Zhu et al., ECCV 2020) semantic diffusion (Sec. 4.3).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..io import image_grid, tensor_to_pil
from ..latent import check_latent, render, to_ws
from ..models.base import Generator
from .apply import RENDER_KWARGS, edit, edit_by_name, sweep
from .directions import Direction, list_directions, load_direction, save_direction
from .interfacegan import conditional_direction
from .sefa import Components

ProgressFn = Callable[[float, str], None]

STRENGTH_LIMIT = 10.0                           # |alpha| beyond this leaves the latent prior's typical set
STRIP_STRENGTHS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
SOURCE_KINDS = ("session", "seed", "file")


def check_strength(value: float, *, limit: float = STRENGTH_LIMIT, what: str = "strength") -> float:
    """``value`` as a float, or ValueError when it is not finite or |value| > ``limit``."""
    v = float(value)
    if not math.isfinite(v) or abs(v) > limit:
        raise ValueError(f"{what} {value} is out of range: use a value between -{limit:g} and {limit:g}")
    return v


# --------------------------------------------------------------------------- directions
def session_directions(model: str, *, extra_root: str | None = None) -> list[tuple[str, Direction]]:
    """(key, direction) for every shipped direction of ``model`` and then the session's own.

    Shipped directions are keyed by name, session ones by their .npy path (both are what
    ``load_direction`` / ``edit_by_name`` accept).
    """
    out = [(d.name, d) for d in list_directions(model)]
    if extra_root:
        folder = os.path.join(extra_root, model)
        out += [(os.path.join(folder, d.name + ".npy"), d) for d in list_directions(model, root=extra_root)]
    return out


def direction_label(key: str) -> str:
    """Display name of a direction key (a session .npy path shows as 'name (session)')."""
    return f"{os.path.splitext(os.path.basename(key))[0]} (session)" if key.endswith(".npy") else key


def condition_names(model: str) -> list[str]:
    """Shipped supervised (attribute) directions that can be kept fixed."""
    return [d.name for d in list_directions(model) if d.method == "interfacegan"]


# --------------------------------------------------------------------------- edit
@dataclass
class SessionEdit:
    latent: torch.Tensor                        # edited latent, same shape as the input
    image: torch.Tensor                         # [1, C, H, W] in [-1, 1]
    before: torch.Tensor                        # [1, C, H, W] unedited image
    space: str
    strengths: dict[str, float]                 # the non-zero strengths applied
    cosines: list[dict] = field(default_factory=list)   # direction, condition, cos_before, cos_after
    scores: dict[str, tuple[float, float]] | None = None  # attribute -> (before, after); NaN: no face
    pasted: Image.Image | None = None           # the whole photo with the edited face pasted back
    identity: dict | None = None                # identity_metric(original photo, pasted)


def _cosine_report(G: Generator, keys: Sequence[str], without: Sequence[str]) -> list[dict]:
    rows = []
    conds = [load_direction(c, G=G) for c in without]
    for k in keys:
        d = load_direction(k, G=G)
        others = [c for c in conds if c.name != d.name]
        if not others:
            continue
        r = conditional_direction(d.tensor(), [c.tensor() for c in others])
        rows += [{"direction": direction_label(k), "condition": c.name, "cos_before": round(b, 4),
                  "cos_after": round(a, 6)} for c, b, a in zip(others, r.cos_before, r.cos_after)]
    return rows


def score_pair(before: torch.Tensor, after: torch.Tensor, *, scorer: str = "face") -> dict[str, tuple[float, float]]:
    """Attribute scores of two images [1, C, H, W] (NaN when the scorer finds no face)."""
    from ..attributes import get_scorer
    s = get_scorer(scorer).score(torch.cat([before, after]).float().cpu())
    return {k: (float(v[0]), float(v[1])) for k, v in s.items()}


def edit_session(G: Generator, latent: torch.Tensor, space: str, strengths: dict[str, float], *,
                 without: Sequence[str] = (), limit: float = STRENGTH_LIMIT, score: bool = False,
                 prepared=None, paste: bool = False) -> SessionEdit:
    """Slider edit of one latent [1, ...]: ``strengths`` maps direction keys to alpha.

    ``without``: shipped directions every edit is made orthogonal to (conditional editing).
    ``score``: also score the attributes before and after.  ``paste`` with an aligned
    ``prepared`` photo (``ganinv.api.Prepared``): paste the edited face back into the photo
    and measure its identity distance to the original photo.
    """
    check_latent(G, latent, space)
    if latent.shape[0] != 1:
        raise ValueError("edit one latent at a time ([1, ...])")
    active = {k: check_strength(v, limit=limit, what=f"strength of {direction_label(k)!r}")
              for k, v in strengths.items() if v}
    latent = latent.to(G.device)
    if active:
        out = edit_by_name(G, latent, space, active, without=list(without))
        new, img = out.latent, out.image
    else:
        new = latent.clone()
        with torch.no_grad():
            img = render(G, new, space, **RENDER_KWARGS)
    with torch.no_grad():
        before = render(G, latent, space, **RENDER_KWARGS)
    result = SessionEdit(new.detach().cpu(), img.cpu(), before.cpu(), space, active,
                         _cosine_report(G, list(active), without))
    if score:
        result.scores = score_pair(result.before, result.image)
    if paste and prepared is not None and getattr(prepared, "aligned", None) is not None:
        from ..api import identity_metric, paste_into_photo
        result.pasted = paste_into_photo(prepared, result.image)
        result.identity = identity_metric(prepared.original, result.pasted)
    return result


@dataclass
class Strip:
    images: torch.Tensor                        # [F, C, H, W] in [-1, 1]
    strengths: list[float]
    grid: Image.Image                           # the frames side by side
    label: str


def _render_batch(G: Generator, latents: torch.Tensor, space: str) -> torch.Tensor:
    with torch.no_grad():
        return render(G, latents.to(G.device), space, **RENDER_KWARGS).cpu()


def _strip(G: Generator, latent: torch.Tensor, space: str, d: Direction, strengths: Sequence[float],
           label: str) -> Strip:
    ed = edit(G, latent.to(G.device), space, [d], [0.0], render_image=False)   # validates d against G and space
    lat = sweep(ed.latent, d.tensor(G.device), strengths, layers=d.layers if space == "W+" else None)
    imgs = _render_batch(G, lat, space)
    return Strip(imgs, list(strengths), image_grid(tensor_to_pil(imgs), cols=len(strengths)), label)


def strength_strip(G: Generator, latent: torch.Tensor, space: str, key: str, *,
                   strengths: Sequence[float] = STRIP_STRENGTHS, without: Sequence[str] = (),
                   limit: float = STRENGTH_LIMIT) -> Strip:
    """The latent moved along direction ``key`` by each strength (conditioned on ``without``)."""
    check_latent(G, latent, space)
    strengths = [check_strength(a, limit=limit) for a in strengths]
    d = load_direction(key, G=G)
    conds = [c for c in (load_direction(n, G=G) for n in without) if c.name != d.name]
    if conds:
        from .interfacegan import conditional
        d = conditional(d, conds)[0]
    return _strip(G, latent, space, d, strengths, direction_label(key))


def save_session_latent(path: str, result: SessionEdit, *, model: str) -> str:
    """The edited latent as a ganinv .npz (with the strengths in its metadata)."""
    from ..io import save_latent
    return save_latent(path, result.latent, model=model, space=result.space,
                       extra={"source": "edit", "strengths": {direction_label(k): v for k, v in result.strengths.items()}})


# --------------------------------------------------------------------------- train a boundary
@dataclass
class TrainedDirection:
    direction: Direction
    path: str                                   # the saved .npy
    accuracy_val: float
    accuracy_rest: float
    num_samples: int
    detection_rate: float
    seconds: float


def train_session_direction(G: Generator, attribute: str, *, root: str, num_samples: int = 200, seed: int = 0,
                            progress: ProgressFn | None = None) -> TrainedDirection:
    """Sample, score, fit an InterFaceGAN boundary for ``attribute`` and save it under ``root``."""
    import time
    from ..attributes import get_scorer, scorer_for_attribute
    from .interfacegan import sample_and_score, train_direction
    t0 = time.perf_counter()
    scorer = get_scorer(scorer_for_attribute(attribute))
    sample_progress = (lambda f, m: progress(0.9 * f, m)) if progress else None
    samples = sample_and_score(G, scorer, num_samples=int(num_samples), seed=int(seed), progress=sample_progress)
    d, r = train_direction(G, samples, attribute, name=f"{attribute}-trained-n{int(num_samples)}", seed=int(seed))
    path = save_direction(d, root=root)
    if progress:
        progress(1.0, f"validation accuracy {r.accuracy_val:.3f}")
    return TrainedDirection(d, path, r.accuracy_val, r.accuracy_rest, len(samples.latents), samples.detection_rate,
                            time.perf_counter() - t0)


# --------------------------------------------------------------------------- discover
@dataclass
class Discovery:
    components: Components
    grid: Image.Image                           # one row per component: its strength strip
    rows: list[dict]                            # index, value, what the value means


def discover_session(G: Generator, latent: torch.Tensor, space: str, *, method: str = "sefa",
                     num_components: int = 5, num_samples: int = 500, strengths: Sequence[float] = STRIP_STRENGTHS,
                     seed: int = 0, progress: ProgressFn | None = None) -> Discovery:
    """SeFa or GANSpace components of ``G`` and a strength strip of ``latent`` along each."""
    from .ganspace import ganspace
    from .sefa import sefa
    if not 1 <= int(num_components) <= 50:
        raise ValueError("number of components must be between 1 and 50")
    if method == "sefa":
        comps = sefa(G, num_components=int(num_components))
    elif method == "ganspace":
        comps = ganspace(G, num_components=int(num_components), num_samples=int(num_samples), seed=int(seed),
                         progress=progress)
    else:
        raise ValueError(f"method must be 'sefa' or 'ganspace', got {method!r}")
    check_latent(G, latent, space)
    strips = [component_strip(G, latent, space, comps, i, strengths=strengths) for i in range(len(comps.components))]
    grid = image_grid([im for s in strips for im in tensor_to_pil(s.images)], cols=len(strengths))
    meaning = "eigenvalue of A^T A" if method == "sefa" else "explained variance ratio"
    rows = [{"index": i, "value": round(float(v), 5), "meaning": meaning} for i, v in enumerate(comps.values)]
    return Discovery(comps, grid, rows)


def component_strip(G: Generator, latent: torch.Tensor, space: str, components: Components, index: int, *,
                    strengths: Sequence[float] = STRIP_STRENGTHS) -> Strip:
    """The latent moved along component ``index`` by each strength."""
    d = components.direction(int(index))
    return _strip(G, latent, space, d, [check_strength(a) for a in strengths], d.name)


def promote_component(components: Components, index: int, *, root: str) -> str:
    """Save component ``index`` as a direction file under ``root`` (so it can be a slider); its .npy path."""
    return save_direction(components.direction(int(index)), root=root)


# --------------------------------------------------------------------------- sources for morph / mix
@dataclass
class LatentSource:
    """Where a latent comes from: the session's latent, a seed sample, or a file (.npz or a photo)."""

    kind: str                                   # "session" | "seed" | "file"
    latent: torch.Tensor | None = None          # for "session": [1, ...]
    space: str | None = None
    seed: int = 0
    path: str | None = None
    label: str = "source"


def _seed_latent(G: Generator, seed: int, space: str) -> torch.Tensor:
    z = G.sample_z(1, seed=int(seed)).to(G.device)
    with torch.no_grad():
        return {"Z": lambda: z, "W": lambda: G.mapping(z), "W+": lambda: G.broadcast(G.mapping(z))}[space]()


def resolve_source(G: Generator, src: LatentSource, *, invert_steps: int = 30,
                   progress: ProgressFn | None = None) -> tuple[torch.Tensor, str, str]:
    """(latent [1, ...], space, a note saying where it came from)."""
    if src.kind == "session":
        if src.latent is None:
            raise ValueError(f"{src.label}: there is no session latent yet; invert an image in tab 1 or use a seed")
        check_latent(G, src.latent, src.space)
        return src.latent[:1].to(G.device), src.space, f"{src.label}: session latent ({src.space})"
    if src.kind == "seed":
        space = "Z"
        return _seed_latent(G, src.seed, space), space, f"{src.label}: seed {int(src.seed)}"
    if src.kind == "file":
        if not src.path:
            raise ValueError(f"{src.label}: upload a .npz latent or a photo first")
        if src.path.lower().endswith(".npz"):
            from ..io import load_latent
            lf = load_latent(src.path, G=G)
            return lf.latent[:1].to(G.device), lf.space, f"{src.label}: latent file ({lf.space})"
        from ..api import prepare_image
        from ..invert.optimize import invert_optimize
        prep = prepare_image(src.path, G)
        r = invert_optimize(G, prep.tensor, num_steps=int(invert_steps), progress=progress)
        return r.latent[:1].detach(), r.space, f"{src.label}: photo inverted with {int(invert_steps)} steps ({prep.note})"
    raise ValueError(f"source kind must be one of {', '.join(SOURCE_KINDS)}, got {src.kind!r}")


def _common(G: Generator, items: list[tuple[torch.Tensor, str, str]]) -> tuple[list[torch.Tensor], str, list[str]]:
    """Bring latents to one space: their own when they agree, else W+ (one code per layer)."""
    spaces = {s for _, s, _ in items}
    if len(spaces) == 1:
        return [x for x, _, _ in items], spaces.pop(), [n for _, _, n in items]
    if not G.supports("W+"):
        raise ValueError(f"cannot combine latents in {sorted(spaces)} on {G.name!r}")
    with torch.no_grad():
        return [to_ws(G, x, s) for x, s, _ in items], "W+", [n for _, _, n in items]


def resolve_sources(G: Generator, sources: Sequence[LatentSource], *, invert_steps: int = 30,
                    progress: ProgressFn | None = None) -> tuple[list[torch.Tensor], str, list[str]]:
    return _common(G, [resolve_source(G, s, invert_steps=invert_steps, progress=progress) for s in sources])


@dataclass
class MorphOutput:
    frames: torch.Tensor                        # [F, C, H, W]
    strip: Image.Image                          # up to 8 frames side by side
    gif: str
    mp4: str | None                             # None when ffmpeg is missing
    method: str
    notes: list[str]


def morph_session(G: Generator, a: LatentSource, b: LatentSource, *, folder: str, num_frames: int = 16,
                  fps: float = 12.0, mp4: bool = True, invert_steps: int = 30, min_size: int = 256,
                  progress: ProgressFn | None = None) -> MorphOutput:
    """Morph a -> b (slerp in Z, lerp in W / W+), saved as GIF (+ MP4 with ffmpeg) in ``folder``;
    both are upscaled to at least ``min_size`` pixels."""
    from .mixing import ffmpeg_path, morph, save_gif, save_mp4
    if not 2 <= int(num_frames) <= 120:
        raise ValueError("number of frames must be between 2 and 120")
    (la, lb), space, notes = resolve_sources(G, [a, b], invert_steps=invert_steps, progress=progress)
    r = morph(G, la, lb, space, num_frames=int(num_frames))
    frames = r.images.cpu()
    os.makedirs(folder, exist_ok=True)
    pil = tensor_to_pil(frames)
    scale = max(1, -(-min_size // max(pil[0].size)))                  # small GAN frames: upscale (nearest) to view
    gif = save_gif([im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in pil],
                   os.path.join(folder, "morph.gif"), fps=fps, boomerang=True)
    video = save_mp4(frames, os.path.join(folder, "morph.mp4"), fps=fps, boomerang=True) \
        if mp4 and ffmpeg_path() else None                              # save_mp4 upscales to 256 itself
    pick = np.unique(np.linspace(0, len(frames) - 1, min(8, len(frames))).round().astype(int))
    strip = image_grid(tensor_to_pil(frames[pick]), cols=len(pick))
    return MorphOutput(frames, strip, gif, video, r.method, notes)


@dataclass
class MixOutput:
    image: torch.Tensor                         # [1, C, H, W]
    inputs: list[torch.Tensor]                  # the source images, [1, C, H, W] each
    note: str
    latent: torch.Tensor | None = None          # the result's code, when it has one (semantic diffusion)
    space: str | None = None


def crossover_session(G: Generator, a: LatentSource, b: LatentSource, *, layer: str | None = None,
                      mode: str = "spatial", region: str = "bottom", fraction: float = 0.5,
                      layers: Sequence[int] | None = None, seed: int = 0, invert_steps: int = 30,
                      progress: ProgressFn | None = None) -> MixOutput:
    """Image2StyleGAN crossover: W+ layers ``layers`` from b (StyleGAN2), or, for single-code models
    (the DCGAN), b's feature maps mixed into a's at ``layer`` (region or channels)."""
    from .mixing import crossover, feature_crossover
    (la, lb), space, notes = resolve_sources(G, [a, b], invert_steps=invert_steps, progress=progress)
    with torch.no_grad():
        wa, wb = to_ws(G, la, space), to_ws(G, lb, space)
    if layers is not None and G.num_ws > 1:
        img = crossover(G, wa, wb, layers)
        note = f"W+ layers {list(layers)} from B, the rest from A"
    else:
        if layer is None:
            raise ValueError(f"choose a feature layer: {', '.join(G.layer_names[1:-1])}")
        if not 0 < float(fraction) <= 1:
            raise ValueError("fraction must be in (0, 1]")
        r = feature_crossover(G, wa, wb, layer=layer, mode=mode, region=region, fraction=float(fraction),
                              seed=int(seed))
        img = r.image
        what = f"the {region} {fraction:.0%}" if mode == "spatial" else f"{fraction:.0%} of the channels"
        note = f"features at {layer}: {what} from B, the rest from A"
    return MixOutput(img.cpu(), [_render_batch(G, la, space), _render_batch(G, lb, space)],
                     "; ".join(notes + [note]))


def expression_session(G: Generator, w1: LatentSource, w2: LatentSource, w3: LatentSource, *,
                       strength: float = 1.0, threshold: float = 0.0, invert_steps: int = 30,
                       progress: ProgressFn | None = None) -> MixOutput:
    """Image2StyleGAN expression transfer w1 + strength * (w3 - w2), small channels of the
    difference (|w3 - w2| < threshold) zeroed."""
    from .mixing import expression_transfer
    check_strength(strength, what="lambda")
    (l1, l2, l3), space, notes = resolve_sources(G, [w1, w2, w3], invert_steps=invert_steps, progress=progress)
    r = expression_transfer(l1, l2, l3, strength=float(strength), threshold=float(threshold))
    img = _render_batch(G, r.latent, space)
    return MixOutput(img, [_render_batch(G, x, space) for x in (l1, l2, l3)],
                     "; ".join(notes + [f"kept {r.kept_fraction:.0%} of the difference's channels"]))


def source_image(G: Generator, src: LatentSource) -> tuple[torch.Tensor, str]:
    """The image [1, C, R, R] a source stands for: a photo's model-sized crop as it is (no
    inversion), or the rendering of a session latent, seed or latent file."""
    if src.kind == "file" and src.path and not src.path.lower().endswith(".npz"):
        from ..api import prepare_image
        prep = prepare_image(src.path, G)
        return prep.tensor[:1].to(G.device), f"{src.label}: photo ({prep.note})"
    latent, space, note = resolve_source(G, src)
    return _render_batch(G, latent, space), note


def diffusion_session(G: Generator, context: LatentSource, target: LatentSource, *, box: float = 0.5,
                      feather: int = 2, num_steps: int = 100, l_dom: float = 0.1, encoder=None,
                      progress: ProgressFn | None = None) -> MixOutput:
    """Semantic diffusion (In-Domain GAN Inversion, Zhu et al., ECCV 2020, Sec. 4.3): the centre
    box (side ``box`` x R) of ``target`` pasted into ``context``, then inverted in-domain so that the
    generator blends it (ganinv.invert.diffusion).  ``inputs`` are context, target and the composite."""
    from ..invert.diffusion import center_box_mask, semantic_diffusion
    from ..invert.encoder import load_encoder
    if not 0.1 <= float(box) <= 0.9:
        raise ValueError(f"the pasted box must be 0.1 to 0.9 of the image side, got {box}")
    if not 1 <= int(num_steps) <= 1000:
        raise ValueError(f"steps must be 1 to 1000, got {num_steps}")
    if not 0 <= float(l_dom) <= 100:                   # also refuses NaN
        raise ValueError(f"the domain weight must be 0 to 100, got {l_dom}")
    try:
        E = encoder if encoder is not None else load_encoder(G.name, G=G, device=G.device)
    except FileNotFoundError:
        raise ValueError(f"semantic diffusion needs a trained encoder for {G.name!r} "
                         f"(python -m ganinv train-encoder --model {G.name})") from None
    ctx, n_ctx = source_image(G, context)
    tgt, n_tgt = source_image(G, target)
    mask = center_box_mask(G.resolution, float(box), feather=int(feather), device=G.device)
    r = semantic_diffusion(G, E, tgt, ctx, mask=mask, num_steps=int(num_steps), l_dom=float(l_dom),
                           progress=progress)
    inside = (r.mask > 0.999).expand_as(tgt)
    err = float((r.image - tgt)[inside].square().mean())
    psnr_in = 10 * math.log10(4.0 / max(err, 1e-12))
    note = (f"centre {float(box):.0%} box of the target pasted into the context and inverted in-domain "
            f"({int(num_steps)} evaluations, domain weight {float(l_dom)}); PSNR inside the box "
            f"{psnr_in:.2f} dB")
    return MixOutput(r.image.detach().cpu(), [ctx.cpu(), tgt.cpu(), r.composite.detach().cpu()],
                     "; ".join([n_ctx, n_tgt, note]), latent=r.inversion.latent.detach().cpu(),
                     space=r.inversion.space)


# --------------------------------------------------------------------------- real photos
def alignment_preview(prepared) -> Image.Image | None:
    """The original photo with every detected face's landmarks and the chosen face's crop quad;
    None when no face was aligned (``prepared`` is a ``ganinv.api.Prepared``)."""
    if prepared is None or not getattr(prepared, "faces", None) or prepared.original is None:
        return None
    from ..faces import draw_landmarks
    out = draw_landmarks(prepared.original, prepared.faces)
    a = prepared.aligned
    if a is not None and a.face is not None:
        out = draw_landmarks(out, [a.face], quads=[a.quad], numbers=False)
    return out


__all__ = ["STRENGTH_LIMIT", "STRIP_STRENGTHS", "SOURCE_KINDS", "check_strength", "session_directions",
           "direction_label", "condition_names", "SessionEdit", "score_pair", "edit_session", "Strip",
           "strength_strip", "save_session_latent", "TrainedDirection", "train_session_direction", "Discovery",
           "discover_session", "component_strip", "promote_component", "LatentSource", "resolve_source",
           "resolve_sources", "MorphOutput", "morph_session", "MixOutput", "crossover_session",
           "expression_session", "source_image", "diffusion_session", "alignment_preview"]
