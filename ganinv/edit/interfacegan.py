"""InterFaceGAN: attribute boundaries in latent space (Shen et al., CVPR 2020; TPAMI 2020).

Legend, variable -> paper symbol:

    latents     z (or w) samples, labelled by a pretrained attribute predictor
    normal      n, unit normal of the separating hyperplane n^T z + b = 0 (Sec. 2.1)
    strength    alpha in the edit z_edit = z + alpha n (Eq. 3)
    conditions  n_2 ... n_k, attributes to keep fixed while editing n_1 (Sec. 2.2)

Steps (Sec. 3, "Implementation details"):
 1. sample latents, render, score the images (``sample_and_score``);
 2. keep the most confident ``chosen_fraction`` at each end (top: positive, bottom:
    negative), split them into train / validation; the rest are the "remaining" samples;
 3. fit a linear SVM, report validation accuracy and accuracy on the remaining samples
    (labelled by the mid-point between the two chosen groups); n = w_svm / ||w_svm||,
    oriented so that +n means more of the attribute (``train_boundary``).

Conditional manipulation (Sec. 2.2, Eq. 6): n_1 - (n_1^T n_2) n_2, generalised to several
conditions as the projection onto the orthogonal complement of span(n_2 ... n_k)
(``conditional_direction``), computed with a QR decomposition.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..attributes import AttributeScorer, valid_mask
from ..latent import default_space, render
from ..models.base import Generator
from ..settings import RENDER_KWARGS
from .directions import Direction
from ..settings import ProgressFn
from .apply import edit

MIN_REST = 10                   # fewer remaining samples (chosen_fraction near 0.5): no accuracy on them


# --------------------------------------------------------------------------- step 1
@dataclass
class LabelledSamples:
    """Latent samples and their attribute scores (NaN: no face found)."""

    latents: np.ndarray                         # [N, dim] float32
    scores: dict[str, np.ndarray]               # attribute -> [N]
    space: str                                  # "Z" | "W"
    model: str
    seed: int
    seconds: float
    scorer: str

    @property
    def detection_rate(self) -> float:
        m = valid_mask(self.scores)
        return float(m.mean()) if m.size else 0.0


def sample_and_score(G: Generator, scorer: AttributeScorer, *, num_samples: int = 2000, seed: int = 0,
                     space: str | None = None, batch_size: int = 50, truncation_psi: float = 1.0,
                     progress: ProgressFn | None = None) -> LabelledSamples:
    """Sample ``num_samples`` latents (``G.sample_z(seed)``), render and score them.

    ``space`` "Z" keeps z; "W" keeps w = mapping(z) (truncated by ``truncation_psi``).
    """
    space = space or default_space(G)
    if space not in ("Z", "W") or not G.supports(space):
        raise ValueError(f"boundaries are trained in Z or W; {G.name!r} supports {', '.join(G.spaces)}")
    t0 = time.perf_counter()
    z_all = G.sample_z(num_samples, seed=seed)                       # [N, z_dim]
    latents, scores = [], {}
    for start in range(0, num_samples, batch_size):
        z = z_all[start:start + batch_size]
        with torch.no_grad():
            lat = z if space == "Z" else G.mapping(z, truncation_psi=truncation_psi)
            img = render(G, lat, space, **RENDER_KWARGS)
        latents.append(lat.float().cpu().numpy())
        for k, v in scorer.score(img).items():
            scores.setdefault(k, []).append(v)
        if progress:
            done = min(start + batch_size, num_samples)
            progress(done / num_samples, f"scored {done}/{num_samples} samples")
    return LabelledSamples(np.concatenate(latents), {k: np.concatenate(v) for k, v in scores.items()},
                           space, G.name, seed, time.perf_counter() - t0, scorer.name)


# --------------------------------------------------------------------------- steps 2-3
@dataclass
class BoundaryResult:
    normal: np.ndarray                          # [dim] unit, + = more of the attribute
    offset: float                               # b / ||w_svm||: the hyperplane is normal^T x + offset = 0
    accuracy_val: float                         # on held-out confident samples
    accuracy_rest: float                        # on the remaining samples (nan if none)
    num_train: int
    num_val: int
    num_rest: int
    num_valid: int                              # samples with a finite score (faces found)
    threshold: float                            # score separating the labels of the remaining samples
    low: float                                  # highest score among the negatives
    high: float                                 # lowest score among the positives
    seconds: float


def train_boundary(latents: np.ndarray, scores: np.ndarray, *, chosen_fraction: float = 0.2,
                   val_fraction: float = 0.3, svm_c: float = 1.0, seed: int = 0,
                   progress: ProgressFn | None = None) -> BoundaryResult:
    """Fit the InterFaceGAN boundary: latents [N, dim], scores [N] (NaN rows are dropped)."""
    from sklearn.svm import LinearSVC
    t0 = time.perf_counter()
    latents, scores = np.asarray(latents, np.float64), np.asarray(scores, np.float64)
    if latents.ndim != 2 or scores.shape != (len(latents),):
        raise ValueError(f"latents [N, dim] and scores [N] expected, got {latents.shape} and {scores.shape}")
    if not 0 < chosen_fraction <= 0.5:
        raise ValueError("chosen_fraction must be in (0, 0.5]")
    ok = np.isfinite(scores)
    x, s = latents[ok], scores[ok]
    order = np.argsort(s, kind="stable")[::-1]                      # most positive first
    k = int(len(s) * chosen_fraction)
    if k < 10:
        raise ValueError(f"only {len(s)} valid samples: too few for a boundary (need >= {int(np.ceil(10 / chosen_fraction))})")
    pos, neg, rest = order[:k], order[-k:], order[k:len(s) - k]
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(pos), rng.permutation(neg)
    n_val = int(round(k * val_fraction))
    train = np.concatenate([pos[n_val:], neg[n_val:]])
    val = np.concatenate([pos[:n_val], neg[:n_val]])
    label = np.zeros(len(s), dtype=np.int64)
    label[pos] = 1
    high, low = float(s[order[k - 1]]), float(s[order[len(s) - k]])
    threshold = (high + low) / 2
    label[rest] = s[rest] > threshold
    if progress:
        progress(0.1, f"fitting a linear SVM on {len(train)} samples")
    svm = LinearSVC(C=svm_c, max_iter=20000, random_state=seed).fit(x[train], label[train])
    w = svm.coef_.ravel()
    norm = float(np.linalg.norm(w))

    def acc(idx: np.ndarray) -> float:
        return float((svm.predict(x[idx]) == label[idx]).mean()) if len(idx) else float("nan")

    result = BoundaryResult((w / norm).astype(np.float32), float(svm.intercept_[0]) / norm, acc(val), acc(rest),
                            len(train), len(val), len(rest), int(ok.sum()), threshold, low, high,
                            time.perf_counter() - t0)
    if progress:
        progress(1.0, f"validation accuracy {result.accuracy_val:.3f}, remaining {result.accuracy_rest:.3f}")
    return result


def train_direction(G: Generator, samples: LabelledSamples, attribute: str, *, name: str | None = None,
                    chosen_fraction: float = 0.2, val_fraction: float = 0.3, seed: int = 0,
                    progress: ProgressFn | None = None) -> tuple[Direction, BoundaryResult]:
    """Boundary for ``attribute`` from scored samples, packaged as a Direction with metadata."""
    if attribute not in samples.scores:
        raise KeyError(f"attribute {attribute!r} was not scored; have {', '.join(samples.scores)}")
    r = train_boundary(samples.latents, samples.scores[attribute], chosen_fraction=chosen_fraction,
                       val_fraction=val_fraction, seed=seed, progress=progress)
    d = Direction(name=name or attribute, model=G.name, space=samples.space, vector=r.normal,
                  method="interfacegan", attribute=attribute, scorer=samples.scorer,
                  num_samples=len(samples.latents), accuracy_val=round(r.accuracy_val, 4),
                  accuracy_rest=round(r.accuracy_rest, 4) if r.num_rest >= MIN_REST else None,
                  extra={"seed": samples.seed, "chosen_fraction": chosen_fraction, "num_train": r.num_train,
                         "num_val": r.num_val, "num_rest": r.num_rest, "num_valid": r.num_valid,
                         "detection_rate": round(samples.detection_rate, 4), "offset": round(r.offset, 5),
                         "score_threshold": round(r.threshold, 5)})
    return d, r


# --------------------------------------------------------------------------- conditional
@dataclass
class ConditionalResult:
    direction: torch.Tensor                     # [dim] unit, orthogonal to every condition
    cos_before: list[float] = field(default_factory=list)   # cos(primal, condition_i)
    cos_after: list[float] = field(default_factory=list)    # cos(direction, condition_i), ~0


def conditional_direction(primal: torch.Tensor, conditions: Sequence[torch.Tensor]) -> ConditionalResult:
    """Project ``primal`` [dim] onto the orthogonal complement of span(conditions) and renormalise.

    With one unit condition this is n_1 - (n_1^T n_2) n_2 (Eq. 6).  Raises ValueError when
    the primal direction lies (almost) in the span of the conditions.
    """
    p = primal.detach().double().flatten()
    if not conditions:
        return ConditionalResult((p / p.norm()).to(primal.dtype), [], [])
    C = torch.stack([c.detach().double().flatten().to(p.device) for c in conditions], dim=1)   # [dim, k]
    if C.shape[0] != p.shape[0]:
        raise ValueError(f"conditions have dim {C.shape[0]}, the primal direction {p.shape[0]}")
    Q, R = torch.linalg.qr(C)                                         # [dim, k] orthonormal basis of span(C)
    diag = R.diagonal().abs()
    Q = Q[:, diag > 1e-8 * diag.max()]                                # drop dependent conditions
    residual = p - Q @ (Q.T @ p)
    if residual.norm() < 1e-6 * p.norm():
        raise ValueError("the primal direction lies in the span of the conditions: nothing is left to edit")
    d = residual / residual.norm()
    cos = lambda a, b: float(a @ b / (a.norm() * b.norm()))           # noqa: E731
    return ConditionalResult(d.to(primal.dtype).reshape(primal.shape),
                             [cos(p, C[:, i]) for i in range(C.shape[1])],
                             [cos(d, C[:, i]) for i in range(C.shape[1])])


def conditional(primal: Direction, conditions: Sequence[Direction], *, name: str | None = None
                ) -> tuple[Direction, ConditionalResult]:
    """``conditional_direction`` on Direction objects; the result records what it was conditioned on.

    ``name`` defaults to "<primal>-without-<condition>..." for every condition.
    """
    for c in conditions:
        if (c.model, c.space) != (primal.model, primal.space):
            raise ValueError(f"condition {c.name!r} ({c.model}, {c.space}) does not match "
                             f"{primal.name!r} ({primal.model}, {primal.space})")
    r = conditional_direction(primal.tensor(), [c.tensor() for c in conditions])
    name = name or primal.name + "".join(f"-without-{c.name}" for c in conditions)
    d = Direction(name=name, model=primal.model, space=primal.space, vector=r.direction.numpy(),
                  method="interfacegan-conditional", attribute=primal.attribute, layers=primal.layers,
                  scorer=primal.scorer, num_samples=primal.num_samples,
                  extra={"primal": primal.name, "conditions": [c.name for c in conditions],
                         "cos_before": [round(v, 4) for v in r.cos_before],
                         "cos_after": [round(v, 6) for v in r.cos_after]})
    return d, r


# --------------------------------------------------------------------------- evaluation
@dataclass
class EditEffect:
    """Mean attribute scores of held-out samples before and after +/- ``strength``."""

    strength: float
    before: dict[str, float]
    plus: dict[str, float]
    minus: dict[str, float]
    detection_rate: float                      # over all rendered images (before, plus, minus)
    num_samples: int
    num_paired: int = 0                        # samples with a face in all three images (the means' support)
    sem: dict[str, float] = field(default_factory=dict)   # standard error of delta(attribute)

    def delta(self, attribute: str) -> float:
        """Mean score change from -strength to +strength (paired over samples with faces)."""
        return self.plus[attribute] - self.minus[attribute]


def _score_batched(scorer: AttributeScorer, images: torch.Tensor, batch_size: int) -> dict[str, np.ndarray]:
    parts = [scorer.score(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def measure_effect(G: Generator, direction: Direction, scorer: AttributeScorer, *, strength: float = 2.0,
                   num_samples: int = 64, seed: int = 1_000_000, batch_size: int = 64) -> EditEffect:
    """Score held-out samples (seed differs from training) at 0, +strength, -strength.

    Means are taken over samples whose face is found in all three images, so they are paired.
    """
    z = G.sample_z(num_samples, seed=seed)
    with torch.no_grad():
        lat = z if direction.space == "Z" else G.mapping(z)
    imgs = [edit(G, lat, direction.space, [direction], [a]).image for a in (0.0, strength, -strength)]
    scores = [_score_batched(scorer, img, batch_size) for img in imgs]
    ok = valid_mask(scores[0]) & valid_mask(scores[1]) & valid_mask(scores[2])
    mean = lambda sc: {k: float(np.mean(v[ok])) if ok.any() else float("nan") for k, v in sc.items()}  # noqa: E731
    rate = float(np.mean([valid_mask(sc).mean() for sc in scores]))
    n = int(ok.sum())
    sem = {k: float(np.std(scores[1][k][ok] - scores[2][k][ok], ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
           for k in scores[0]}
    return EditEffect(strength, mean(scores[0]), mean(scores[1]), mean(scores[2]), rate, num_samples, n, sem)
