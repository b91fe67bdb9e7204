"""Task: restore a photo with the multi-code GAN prior: inpaint, colourise, super-resolve.

mGANprior (Gu, Shen & Zhou, "Image Processing Using Multi-Code GAN Prior", CVPR 2020, eq. 2):
N codes composed at an intermediate layer with per-channel weights; the degradation is applied
to the generated image inside the loss, so the generator fills in what the observation lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..invert.multicode import center_hole_mask, restore as mc_restore, to_grey
from ..io import center_crop_resize, load_image, pil_to_tensor, tensor_to_pil
from ..models.base import Generator
from ..settings import DEFAULT_MODEL, INVERT_STEPS, MAX_CODES, MULTICODE_N, RESTORE_FACTORS, RESTORE_TASKS, ProgressFn
from .common import Record, record_generator, InputError, check_steps, choice, generator, number
from .faces import Prepared, prepare_image

HOLE = 0.35                                     # centre hole side, fraction of the image (inpainting preset)


@dataclass
class RestorationInput:
    observation: torch.Tensor                   # y: [1, 3, R, R], grey [1, 1, R, R] or low-res [1, 3, R/f, R/f]
    clean: torch.Tensor | None                  # the reference for "vs clean" metrics; None for a real photo
    note: str                                   # what y is, in words


@dataclass
class Restoration:
    task: str
    degraded: torch.Tensor                      # [1, 3, R, R] what the method saw, shown at the model's size
    image: torch.Tensor                         # [1, 3, R, R] restored, CPU
    layer: str
    codes: int
    steps: int
    seconds: float
    note: str
    metrics: dict = field(default_factory=dict)        # deg(restored) vs the observation
    clean_metrics: dict = field(default_factory=dict)  # restored vs the undegraded input (when there is one)


def _is_grey(img: Image.Image) -> bool:
    if img.mode in ("L", "LA", "I", "I;16", "F", "1"):
        return True
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int(np.abs(a - a.mean(-1, keepdims=True)).max()) <= 2


def prepare_restoration(prep: Prepared, G: Generator, task: str, *, factor: int = 4) -> RestorationInput:
    """The observation y, and whether a clean reference exists.

    A colour photo is degraded here (grey, down-sampled, or masked inside the method) and kept as
    the clean reference, so the metrics say how well the method recovers it.  A real grey photo
    (colourise) or a real low-resolution one (super-resolve: shorter side at most half the model's
    resolution) is itself the observation: there is nothing to compare with.
    """
    choice(task, "Task", RESTORE_TASKS)
    if factor not in RESTORE_FACTORS or G.resolution % factor:
        raise InputError(f"Factor must be 2, 4 or 8 and divide {G.resolution}, got {factor}.")
    original = prep.original if prep.original is not None else prep.image
    if task == "colorize" and _is_grey(original):
        return RestorationInput(to_grey(prep.tensor), None, "the upload is already grey: it is the observation "
                                "(no colour reference to compare with)")
    if task == "superres" and min(original.size) <= G.resolution // 2:
        low = G.resolution // factor
        y = pil_to_tensor(center_crop_resize(original, low)).to(G.device)
        return RestorationInput(y, None, f"the {original.width}x{original.height} upload is the low-resolution "
                                f"observation ({low} px, x{factor}); no high-resolution reference to compare with")
    if task == "colorize":
        return RestorationInput(to_grey(prep.tensor), prep.tensor, "colour image turned grey; metrics vs the colour")
    if task == "superres":
        y = torch.nn.functional.avg_pool2d(prep.tensor, factor)
        return RestorationInput(y, prep.tensor, f"image down-sampled x{factor}; metrics vs the full-resolution crop")
    return RestorationInput(prep.tensor, prep.tensor, "known pixels kept, the hole removed; metrics vs the input")


def mask_from_image(mask: Image.Image, resolution: int) -> torch.Tensor:
    """[1, 1, R, R] from a mask image over the whole photo (white = known pixel), centre-cropped like the photo."""
    m = pil_to_tensor(center_crop_resize(load_image(mask), resolution)).mean(1, keepdim=True) > 0
    return m.float()


def mask_from_strokes(layers: Sequence[Image.Image], size: tuple[int, int], resolution: int) -> torch.Tensor | None:
    """[1, 1, R, R] hole mask (0 = hole) from brush layers drawn over a ``size`` photo (alpha > 0 = hole);
    None when nothing is drawn.  The model sees the photo's centre square: so does the mask."""
    alpha = np.zeros((resolution, resolution), dtype=np.float32)
    for layer in layers:
        if layer is None:
            continue
        im = layer if layer.size == size else layer.resize(size, Image.BILINEAR)   # a canvas of another size
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        square = im.convert("RGBA").crop((left, top, left + side, top + side))
        a = np.asarray(square.resize((resolution, resolution), Image.BILINEAR))[..., 3]
        alpha = np.maximum(alpha, a.astype(np.float32) / 255.0)
    if alpha.max() <= 0:
        return None
    return torch.from_numpy((alpha < 0.5).astype(np.float32))[None, None]


def restore(image, task: str, *, model: str = DEFAULT_MODEL, mask: torch.Tensor | None = None,
            strokes: Sequence[Image.Image] | None = None, hole: float = HOLE, factor: int = 4,
            codes: int = MULTICODE_N, layer: str | None = None, steps: int = INVERT_STEPS, align: str = "center",
            record: Record | None = None, device: str | None = None,
            progress: ProgressFn | None = None) -> Restoration:
    """Restore ``image`` (path, PIL or array).  With a session ``record`` that carries pivotal tuning's
    weight delta, the tuned generator is the prior (the photo's own details).  Inpainting uses ``mask`` ([1, 1, R, R], 1 = known), else the
    brush ``strokes`` drawn over the photo (``mask_from_strokes``), else a centre hole of side ``hole``;
    masks are drawn on the whole photo, so alignment must stay "center"."""
    choice(task, "Task", RESTORE_TASKS)
    n = number(codes, "Codes N", 1, MAX_CODES, whole=True)
    num_steps = check_steps(steps)
    f = number(factor, "Factor", 2, 8, whole=True)
    G = record_generator(generator(model, device), record)
    if mask is not None and not isinstance(mask, torch.Tensor):
        mask = mask_from_image(mask, G.resolution)          # a mask image (or its path) over the whole photo
    layers = [x for x in G.layer_names[:-1] if x != "input"]
    if layer not in (None, "") and layer not in layers:
        raise InputError(f"Layer must be one of {', '.join(layers)}; got {str(layer)[:40]!r}.")
    if (mask is not None or strokes) and align != "center":
        raise InputError("A drawn mask lines up with the centre crop only: use alignment 'center'.")
    prep = prepare_image(image, G, align=align)
    if strokes and mask is None and task == "inpaint":     # None when nothing is drawn: the centre hole
        mask = mask_from_strokes(strokes, (prep.original if prep.original is not None else prep.image).size,
                                 G.resolution)
    inp = prepare_restoration(prep, G, task, factor=f)
    if task == "inpaint":
        mask = (mask if mask is not None else center_hole_mask(G.resolution, number(hole, "Hole", 0.05, 0.95)))
        if tuple(mask.shape) != (1, 1, G.resolution, G.resolution):
            raise InputError(f"The mask must be [1, 1, {G.resolution}, {G.resolution}], got {list(mask.shape)}.")
        mask = mask.to(G.device)
    r = mc_restore(G, inp.observation, task, mask=mask, factor=f, n_codes=n, layer=layer or None,
                   num_steps=num_steps, clean=inp.clean, progress=progress)
    y = inp.observation * mask if task == "inpaint" else inp.observation
    shown = torch.nn.functional.interpolate(y, size=(G.resolution, G.resolution), mode="nearest")
    return Restoration(task, shown.expand(-1, 3, -1, -1).detach().cpu(), r.image.detach().cpu(), r.layer, n,
                       num_steps, r.seconds, inp.note, r.metrics[0] if r.metrics else {},
                       r.clean_metrics[0] if r.clean_metrics else {})


def restored_image(r: Restoration) -> Image.Image:
    return tensor_to_pil(r.image[0])


__all__ = ["HOLE", "RestorationInput", "Restoration", "prepare_restoration", "mask_from_image", "mask_from_strokes",
           "restore", "restored_image"]
