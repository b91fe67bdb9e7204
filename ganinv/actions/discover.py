"""Task: find unsupervised edit directions and look at them.

SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): the top
eigenvectors of A^T A, A the generator's first latent-to-feature weight (eq. 5).  GANSpace
(Härkönen et al., NeurIPS 2020): principal components of sampled latents or features.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from PIL import Image

from ..edit.directions import save_direction
from ..edit.ganspace import ganspace
from ..edit.sefa import Components, sefa
from ..io import image_grid, tensor_to_pil
from ..settings import DEFAULT_MODEL, MAX_COMPONENTS, STRIP_STRENGTHS, ProgressFn
from .common import (source_generator, InputError, Source, check_layer, choice, generator, layer_list, number, seed as check_seed,
                     strength as check_strength)
from .edit import SESSION_SUFFIX, Strip, direction_strip, strip_strengths
from .sources import resolve_source

DISCOVER_METHODS = ("sefa", "ganspace")
GANSPACE_SAMPLES = (100, 20000)


@dataclass
class Discovery:
    components: Components
    grid: Image.Image                           # one row per component: its strength strip
    rows: list[dict]                            # index, value, what the value means
    note: str                                   # where the latent shown came from


def find_components(*, model: str = DEFAULT_MODEL, method: str = "sefa", num_components: int = 5,
                    num_samples: int = 500, layers: str | Sequence[int] | None = None, layer: str | None = None,
                    seed: int = 0, device: str | None = None, progress: ProgressFn | None = None) -> Components:
    """SeFa or GANSpace components of the model (``layers``: SeFa W+ layers; ``layer``: GANSpace features)."""
    choice(method, "Method", DISCOVER_METHODS)
    k = number(num_components, "Number of components", 1, MAX_COMPONENTS, whole=True)
    G = generator(model, device)
    if method == "sefa":
        return sefa(G, num_components=k, layers=layer_list(layers, G.num_ws) if layers else None)
    layer = check_layer(G, layer, allowed=G.layer_names)
    return ganspace(G, num_components=k, num_samples=number(num_samples, "GANSpace samples", *GANSPACE_SAMPLES,
                                                            whole=True),
                    layer=layer, seed=check_seed(seed), progress=progress)


def discover(source: Source, *, model: str = DEFAULT_MODEL, method: str = "sefa", num_components: int = 5,
             num_samples: int = 500, strengths: Sequence[float] = STRIP_STRENGTHS, strength: float | None = None,
             layers: str | Sequence[int] | None = None, layer: str | None = None, seed: int = 0,
             device: str | None = None, progress: ProgressFn | None = None) -> Discovery:
    """The components and a strength strip of ``source``'s latent along each.

    ``strength``: when given, the strips run over ``len(strengths)`` strengths from -strength to
    +strength instead of ``strengths``.  ``layers`` / ``layer`` as in ``find_components``.
    """
    strengths = (strip_strengths(strength, len(strengths)) if strength is not None
                 else [check_strength(a) for a in strengths])
    comps = find_components(model=model, method=method, num_components=num_components, num_samples=num_samples,
                            layers=layers, layer=layer, seed=seed, device=device, progress=progress)
    G = generator(model, device)
    G = source_generator(G, source)
    lat, space, note = resolve_source(G, source)
    strips = [direction_strip(G, lat, space, comps.direction(i), strengths, comps.direction(i).name)
              for i in range(len(comps.components))]
    grid = image_grid([im for s in strips for im in tensor_to_pil(s.images)], cols=len(strengths))
    meaning = "eigenvalue of A^T A" if method == "sefa" else "explained variance ratio"
    rows = [{"index": i, "value": round(float(v), 5), "meaning": meaning} for i, v in enumerate(comps.values)]
    return Discovery(comps, grid, rows, note)


def _index(components: Components | None, index) -> int:
    if components is None:
        raise InputError("Run Discover first.")
    return number(index, "Component index", 0, len(components.components) - 1, whole=True)


def component_strip(components: Components | None, index: int, source: Source, *, model: str = DEFAULT_MODEL,
                    strengths: Sequence[float] = STRIP_STRENGTHS, device: str | None = None) -> Strip:
    """The latent moved along component ``index`` by each strength."""
    i = _index(components, index)
    G = generator(model, device)
    G = source_generator(G, source)
    if components.model != G.name:
        raise InputError(f"These components belong to {components.model!r}; run Discover for {G.name!r}.")
    lat, space, _ = resolve_source(G, source)
    d = components.direction(i)
    return direction_strip(G, lat, space, d, [check_strength(a) for a in strengths], d.name)


def promote_component(components: Components | None, index: int, *, root: str) -> str:
    """Save component ``index`` as a session direction (a new slider); returns its key."""
    d = components.direction(_index(components, index))
    save_direction(d, root=root)
    return d.name + SESSION_SUFFIX


def save_components(components: Components, root: str) -> list[str]:
    """Every component as a direction file (.npy + .json) under ``root``/<model>/; their paths."""
    return [save_direction(components.direction(i), root) for i in range(len(components.components))]


__all__ = ["DISCOVER_METHODS", "Discovery", "find_components", "discover", "component_strip", "promote_component",
           "save_components"]
