"""Edits that do what they say per face: hold what was not asked, reach a target in the attribute's units.

InterFaceGAN's conditional manipulation (Shen et al., CVPR 2020, Sec. 2.2, eq. 6) removes a second attribute's
*average* linear trend from an edit.  Per face that is not enough: on the bundled DCGAN a smile also turns some
heads by 15-20 degrees of yaw, ages or lightens others.  So after the edit w' = w + sum_j alpha_j n_j the latent
is steered along the boundaries n_k of the attributes to keep (each made orthogonal to the edit's directions,
eq. 6), and, in target mode, along the edit's own direction, until every score is where it should be:

    w'' = w' + sum_k c_k n_k,     s_k(G(w'')) = t_k                                              (1)

with t_k = s_k(G(w)) for a held attribute and s_k(G(w)) + change for a target.  With the hold on, the edit's
own score can get a floor (``deliver``, one-sided: s_k >= t_k): t_k = s_k(G(w)) + alpha x its measured slope, so
a face that lags behind the direction's average effect gets strength added (at most alpha again).  It is opt-in:
on the pasted photos of bench/fidelity.py it made more faces smile but fewer stay the same person
(docs/benchmarks.md).  (1) is solved by
``ganinv.edit.hold.steer`` (damped Broyden), its Jacobian started from each direction's measured effects
(score change per unit step on held-out samples, in the direction's metadata).

Legend: ``axes`` -> the k of (1) as (attribute, direction n_k, role: "target" or "hold"), ``start`` -> s_k(G(w)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..attributes import get_scorer
from ..latent import render
from ..settings import RENDER_KWARGS, STRENGTH_LIMIT
from .apply import edit as apply_edit
from .directions import Direction, DirectionError
from .hold import hold_score, steer
from .interfacegan import conditional

# Attributes held at their unedited value while editing (attribute -> the shipped direction it is steered along)
HOLD_AXES = {"yaw": "yaw", "pitch": "pitch", "ita": "skin_tone", "age": "age", "male": "gender"}
HOLD_TOLERANCE = {"yaw": 2.0, "pitch": 2.0, "ita": 1.0, "age": 8.0, "male": 0.25}
TARGET_TOLERANCE = {"smile": 0.05, "mouth_open": 0.05, "eyes_closed": 0.05, "happy": 0.05, "yaw": 2.0,
                    "pitch": 2.0, "age": 2.0, "male": 0.05, "ita": 1.0}
TARGET_LIMIT = 100.0                            # largest target change accepted (degrees / years / score units)
HOLD_MAX_STEP = 2.0                             # a held attribute's boundary moves the latent at most this far
DELIVER_SHARE = 1.0                             # an edit moves its own score at least this share of its average
#                                                 effect (strength x measured slope), when the face lags behind
DELIVER_MAX = 1.0                               # ... by adding at most this times its strength (so at most 2x)
SCORE_RANGE = {"smile": (0.0, 1.0), "mouth_open": (0.0, 1.0), "eyes_closed": (0.0, 1.0), "happy": (0.0, 1.0),
               "male": (0.0, 1.0)}              # bounded scores: a floor stops RANGE_MARGIN inside them
RANGE_MARGIN = 0.15
STEER_EVALUATIONS = 10                          # renders + scores the closed loop may spend per edit


class SteeringError(ValueError):
    """A target the loop cannot aim at (its direction has no measured effect on a score)."""


@dataclass
class Steered:
    latent: torch.Tensor                        # w'' of eq. 1
    image: torch.Tensor                         # G(w'')
    rows: list[dict]                            # per axis: attribute, direction, role, before, edited, after, ...
    strength_steps: dict[str, float] = field(default_factory=dict)   # target key -> strength added by the loop
    tone: dict | None = None                    # the skin-tone axis in the edit's tone format


def effect_slope(d: Direction, attribute: str) -> float | None:
    """Score change of ``attribute`` per unit step along ``d``, from its measured held-out effect
    (-s to +s, in its metadata; scripts/train_directions.py); None when not measured."""
    effect = (d.extra or {}).get("effect", {})
    v = effect.get(f"delta_{attribute}")
    return float(v) / (2 * float(effect.get("strength") or 1)) if v is not None else None


def initial_strength(d: Direction, change: float) -> float:
    """Where the target mode's loop starts: the change divided by the direction's measured slope."""
    slope = effect_slope(d, d.attribute or "")
    if not slope or abs(slope) < 1e-6:
        raise SteeringError(f"Direction {d.name!r} has no measured effect on a score, so it has no target mode; "
                            f"use a strength instead.")
    return float(np.clip(change / slope, -STRENGTH_LIMIT, STRENGTH_LIMIT))


def _measured(catalog: dict[str, Direction], d: Direction) -> Direction:
    """The shipped direction a conditioned one came from (its measured effects start the loop's Jacobian)."""
    primal = (d.extra or {}).get("primal")
    return next((v for v in catalog.values() if v.name == primal), d) if primal else d


def _key_of(catalog: dict[str, Direction], d: Direction) -> str:
    return next((k for k, v in catalog.items() if v is d), d.name)


def steer_edit(G, catalog: dict[str, Direction], before: torch.Tensor, edited_image: torch.Tensor,
               edited: torch.Tensor, space: str, layers, active: dict[str, float], targets: dict[str, float], *,
               keep_tone: bool, hold: bool, deliver: bool = False, tone_direction: str = "skin_tone") -> Steered | None:
    """Eq. 1 for one edited latent ``edited`` [1, ...] (its render ``edited_image``, the unedited ``before``):
    ``targets`` (direction key -> change) reach their change, and with ``hold`` every HOLD_AXES attribute the
    edit was not asked to change keeps its value (skin tone only with ``keep_tone``); with ``deliver`` each edit's own
    score moves at least its average effect (the floor).  None: nothing to steer."""
    asked = {catalog[k].attribute for k in active}
    axes: list[tuple[str, Direction, str]] = [(catalog[k].attribute, catalog[k], "target") for k in targets]
    edits = [catalog[k] for k in active]
    if deliver:
        axes += _deliver_axes(catalog, active, targets)
    if hold:
        for attribute, key in HOLD_AXES.items():
            if key in catalog and key not in active and attribute not in asked and (attribute != "ita" or keep_tone):
                axes.append((attribute, conditional(catalog[key], edits)[0] if edits else catalog[key], "hold"))
    if not axes:
        return None
    scorer = get_scorer("face")
    names = [a for a, _, _ in axes]

    def read(images: torch.Tensor) -> np.ndarray:           # one scorer pass per render, every axis read off it
        s = scorer.score(images.float().cpu())
        return np.array([s[n][0] for n in names])

    s0 = scorer.score(before.float().cpu())
    start = np.array([float(s0[n][0]) for n in names])
    target = np.array([start[i] + targets[_key_of(catalog, d)] if role == "target" else
                       _floor(a, start[i], active[_key_of(catalog, d)] * DELIVER_SHARE
                              * (effect_slope(_measured(catalog, d), a) or 0.0)) if role == "deliver" else start[i]
                       for i, (a, d, role) in enumerate(axes)])
    side = [np.sign(active[_key_of(catalog, d)] * (effect_slope(_measured(catalog, d), a) or 0.0))
            if role == "deliver" else 0 for a, d, role in axes]
    steps = torch.cat([apply_edit(G, edited, space, [d], [1.0], layers=layers, render_image=False).latent - edited
                       for _, d, _ in axes])
    jac = np.array([[(effect_slope(_measured(catalog, d), a) or 0.0) for _, d, _ in axes] for a in names])
    for i, (a, _, _) in enumerate(axes):
        if abs(jac[i, i]) < 1e-6:
            jac[i, i] = HOLD_TOLERANCE.get(a, 1.0)                       # unmeasured: one tolerance per unit step
    tol = [HOLD_TOLERANCE.get(a, 1.0) if role == "hold" else TARGET_TOLERANCE.get(a, 0.05) for a, _, role in axes]
    bound = [STRENGTH_LIMIT if role == "target" else HOLD_MAX_STEP if role == "hold" else
             min(DELIVER_MAX * abs(active[_key_of(catalog, d)]), STRENGTH_LIMIT) for _, d, role in axes]
    r = steer(lambda lat: render(G, lat, space, **RENDER_KWARGS), read, edited, steps, target, jac, tolerance=tol,
              max_evaluations=STEER_EVALUATIONS, max_step=bound, side=side)
    rows = [{"attribute": a, "direction": d.name, "role": role, "before": float(start[i]), "edited": r.start_score[i],
             "after": r.score[i], "target": r.target[i], "step": r.correction[i], "held": r.held[i]}
            for i, (a, d, role) in enumerate(axes)]
    out = Steered(r.latent, r.image, rows)
    for i, (a, d, role) in enumerate(axes):
        if role in ("target", "deliver"):
            out.strength_steps[_key_of(catalog, d)] = r.correction[i]
        if a == "ita":
            out.tone = {"ita_before": float(start[i]), "ita_edited": r.start_score[i], "ita_after": r.score[i],
                        "step": r.correction[i], "held": r.held[i]}
    return out


def _deliver_axes(catalog: dict[str, Direction], active: dict[str, float], targets: dict[str, float]) -> list:
    """(attribute, direction, "deliver") for each edit that is not a target and has a measured effect on its own
    score: the loop makes that score move at least DELIVER_SHARE of the average effect of the strength."""
    out = []
    for k, a in active.items():
        d = catalog[k]
        if k in targets or not d.attribute or abs(effect_slope(_measured(catalog, d), d.attribute) or 0.0) < 1e-6:
            continue
        out.append((d.attribute, d, "deliver"))
    return out


def _floor(attribute: str, start: float, change: float) -> float:
    """start + change, kept RANGE_MARGIN inside a bounded score's range (and never behind the start)."""
    lo, hi = SCORE_RANGE.get(attribute, (-math.inf, math.inf))
    want = start + change
    if change >= 0:
        return max(min(want, hi - RANGE_MARGIN), start)
    return min(max(want, lo + RANGE_MARGIN), start)


def tone_slope(tone: Direction) -> float:
    """Degrees of ITA per unit step along the skin-tone boundary, from its measured held-out effect
    (the change from -s to +s recorded in its metadata by scripts/train_directions.py); 10 when unmeasured."""
    slope = effect_slope(tone, "ita") or 0.0
    return slope if slope > 1 else 10.0


def hold_tone(G, tone: Direction | None, edited: torch.Tensor, space: str, before: torch.Tensor,
              layers: list[int] | None, *, tolerance: float = 1.0) -> dict:
    """Skin tone alone (``hold=False``): the edited latent stepped along the skin-tone boundary ``tone`` until
    the face's ITA is back (ganinv.edit.hold.hold_score, eq. 1).  Returns the figures, the new latent and image."""
    if tone is None:
        return {"held": False, "note": f"{G.name} has no skin-tone direction: skin tone not held"}
    try:
        unit = apply_edit(G, edited, space, [tone], [1.0], layers=layers, render_image=False).latent - edited
    except DirectionError:
        return {"held": False, "note": f"the skin-tone direction cannot move a {space} latent: not held"}
    skin = get_scorer("skin")
    score = lambda images: skin.score(images.float().cpu())["ita"]              # noqa: E731
    target = score(before)[0]
    if not math.isfinite(target):
        return {"held": False, "note": "no face found in the unedited image: skin tone not held"}
    r = hold_score(lambda lat: render(G, lat, space, **RENDER_KWARGS), score, edited.detach(), unit, [target],
                   slope=tone_slope(tone), tolerance=tolerance)
    out = {"ita_before": float(target), "ita_edited": r.edited_score[0], "ita_after": r.score[0],
           "step": r.correction[0], "held": r.held[0], "latent": r.latent.detach().cpu(), "image": r.image.cpu()}
    if not math.isfinite(r.edited_score[0]):
        out["note"] = "no face found in the edited image: skin tone not held"
    return out


def hold_summary(held: list[dict]) -> str:
    """One line on the steered attributes (``rows``), for the app's status and the CLI."""
    parts = []
    for h in held:
        mark = "" if h["held"] else " (not reached)"
        if h["role"] == "target":
            parts.append(f"{h['attribute']} {h['before']:.2f} → {h['after']:.2f}{mark}")
        elif h["role"] == "deliver":
            if abs(h["step"]) > 1e-3:     # the face lagged behind the direction's average effect: strength added
                parts.append(f"{h['attribute']} {h['before']:.2f} → {h['after']:.2f} (strength {h['step']:+.2f} "
                             f"to reach the average effect{', not reached' if not h['held'] else ''})")
        else:
            digits = 2 if abs(h["before"]) < 2 else 1
            parts.append(f"{h['attribute']} kept {h['before']:.{digits}f} → {h['after']:.{digits}f}{mark}")
    return ("Held by the closed loop: " + ", ".join(parts)) if parts else ""


__all__ = ["HOLD_AXES", "HOLD_TOLERANCE", "DELIVER_SHARE", "DELIVER_MAX", "TARGET_TOLERANCE", "TARGET_LIMIT", "HOLD_MAX_STEP", "STEER_EVALUATIONS",
           "SteeringError", "Steered", "effect_slope", "initial_strength", "steer_edit", "hold_summary", "hold_tone",
           "tone_slope"]
