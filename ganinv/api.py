"""High-level calls shared by the CLI and the app: one function per user action."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
from PIL import Image

from .invert.optimize import InversionResult, invert_optimize, result_summary
from .io import center_crop_resize, load_image, pil_to_tensor, save_latent, tensor_to_pil, image_grid
from .latent import render
from .models.base import Generator
from .registry import DEFAULT_MODEL, MODELS, get_spec, load_generator

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


ALIGN_MODES = ("auto", "face", "center")


@dataclass
class Prepared:
    image: Image.Image                          # model-sized RGB crop that is inverted
    tensor: torch.Tensor                        # [1, 3, R, R] in [-1, 1]
    note: str                                   # how the crop was made, in words
    original: Image.Image | None = None         # the whole photo (RGB, EXIF-rotated)
    aligned: object | None = None               # ganinv.faces.Aligned when a face was aligned (for paste-back)
    faces: list = field(default_factory=list)   # all faces found, largest first


def prepare_image(src, G: Generator, *, align: str = "auto", face_index: int = 0) -> Prepared:
    """Load any image and bring it to the model's crop.

    align: "auto"   align the ``face_index``-th largest face with the model's template; when
                    no face is found use the centre square and say so in ``note``;
           "face"   as auto, but no face is an error (``NoFaceError``);
           "center" the centre square, resized (no detection).
    """
    if align not in ALIGN_MODES:
        raise ValueError(f"align must be one of {ALIGN_MODES}, not {align!r}")
    img = load_image(src)
    template = get_spec(G.name).align if G.name in MODELS else "center"
    if align == "center" or template == "center":
        crop = center_crop_resize(img, G.resolution)
        note = f"centre crop {min(img.size)} px -> {G.resolution} px (no face alignment)"
        return Prepared(crop, pil_to_tensor(crop).to(G.device), note, original=img)
    from . import faces as F
    spec = F.get_align_spec(template, G.resolution)
    found = F.detect_faces(img)
    if not found:
        if align == "face":
            raise F.NoFaceError(f"No face found in the {img.width}x{img.height} image. Use alignment "
                                f"'center' to invert the whole image centre-cropped.")
        crop = center_crop_resize(img, G.resolution)
        return Prepared(crop, pil_to_tensor(crop).to(G.device),
                        "no face found: used the whole image, centre-cropped", original=img)
    face = F.pick_face(found, face_index, img.size)
    a = F.align_face(img, face, spec)
    note = (f"face {face_index + 1} of {len(found)} aligned with the {template!r} template"
            + (" (largest)" if face_index == 0 and len(found) > 1 else ""))
    return Prepared(a.image, pil_to_tensor(a.image).to(G.device), note, original=img, aligned=a, faces=found)


@dataclass
class RestorationInput:
    observation: torch.Tensor                   # y: [1, 3, R, R], grey [1, 1, R, R] or low-res [1, 3, R/f, R/f]
    clean: torch.Tensor | None                  # the reference for "vs clean" metrics; None for a real photo
    note: str                                   # what y is, in words


def _is_grey(img: Image.Image) -> bool:
    if img.mode in ("L", "LA", "I", "I;16", "F", "1"):
        return True
    import numpy as np
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int(np.abs(a - a.mean(-1, keepdims=True)).max()) <= 2


def prepare_restoration(prep: Prepared, G: Generator, kind: str, *, factor: int = 4) -> RestorationInput:
    """The observation y for mGANprior restoration, and whether a clean reference exists.

    A colour photo is degraded here (grey, down-sampled, or masked inside ``restore``) and
    kept as the clean reference, so the metrics say how well the method recovers it.  A real
    grey photo (colourise) or a real low-resolution one (super-resolve: shorter side at most
    half the model's resolution) is itself the observation: there is nothing to compare with.
    """
    from .invert.multicode import to_grey
    if kind not in ("inpaint", "colorize", "superres"):
        raise ValueError(f"unknown restoration {kind!r}; use inpaint, colorize or superres")
    if factor not in (2, 4, 8) or G.resolution % factor:
        raise ValueError(f"factor must be 2, 4 or 8 and divide {G.resolution}, got {factor}")
    original = prep.original if prep.original is not None else prep.image
    if kind == "colorize" and _is_grey(original):
        return RestorationInput(to_grey(prep.tensor), None, "the upload is already grey: it is the observation "
                                "(no colour reference to compare with)")
    if kind == "superres" and min(original.size) <= G.resolution // 2:
        low = G.resolution // factor
        y = pil_to_tensor(center_crop_resize(original, low)).to(G.device)
        return RestorationInput(y, None, f"the {original.width}x{original.height} upload is the low-resolution "
                                f"observation ({low} px, x{factor}); no high-resolution reference to compare with")
    if kind == "colorize":
        return RestorationInput(to_grey(prep.tensor), prep.tensor, "colour image turned grey; metrics vs the colour")
    if kind == "superres":
        y = torch.nn.functional.avg_pool2d(prep.tensor, factor)
        return RestorationInput(y, prep.tensor, f"image down-sampled x{factor}; metrics vs the full-resolution crop")
    return RestorationInput(prep.tensor, prep.tensor, "known pixels kept, the hole removed; metrics vs the input")


def identity_metric(a: Image.Image, b: Image.Image) -> dict:
    """Same-person distance (dlib descriptor; < 0.6 means same person) or the reason it is missing."""
    from .identity import compare_identity
    r = compare_identity(a, b)
    return {"identity_distance": r.distance, "same_person": r.same_person,
            **({"identity_note": r.reason} if r.reason else {})}


def invert_image(src, *, model: str = DEFAULT_MODEL, device: str | None = None, progress=None,
                 align: str = "auto", face_index: int = 0, identity: bool = True,
                 **settings) -> tuple[InversionResult, Prepared]:
    """Load, align and invert one image with optimisation; ``settings`` go to ``invert_optimize``.

    With ``identity`` the result's metrics include the same-person distance between the
    crop and its reconstruction.
    """
    G = load_generator(model, device)
    prep = prepare_image(src, G, align=align, face_index=face_index)
    result = invert_optimize(G, prep.tensor, progress=progress, **settings)
    if identity:
        result.metrics[0].update(identity_metric(prep.image, tensor_to_pil(result.image[0])))
    return result, prep


def paste_into_photo(prep: Prepared, edited: torch.Tensor | Image.Image) -> Image.Image:
    """The whole original photo with the (edited) face warped back in; without alignment, the crop itself."""
    img = edited if isinstance(edited, Image.Image) else tensor_to_pil(edited[0] if edited.ndim == 4 else edited)
    if prep.aligned is None or prep.original is None:
        return img
    from .faces import paste_back
    return paste_back(prep.original, img, prep.aligned)


def sample_images(seeds: list[int], *, model: str = DEFAULT_MODEL, truncation_psi: float = 1.0,
                  device: str | None = None) -> list[Image.Image]:
    """One image per seed (the same seed gives the same image on every machine)."""
    G = load_generator(model, device)
    z = torch.cat([G.sample_z(1, seed=s) for s in seeds])
    with torch.no_grad():
        return tensor_to_pil(G(z, truncation_psi=truncation_psi, noise_mode="const"))


def render_latent(latent: torch.Tensor, space: str, *, model: str = DEFAULT_MODEL,
                  device: str | None = None) -> list[Image.Image]:
    G = load_generator(model, device)
    with torch.no_grad():
        return tensor_to_pil(render(G, latent.to(G.device), space))


def loss_curve_figure(history: list[dict]):
    """Matplotlib figure of the loss terms per step (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    steps = [h["step"] for h in history]
    for key in ("loss", "mse", "perceptual"):
        vals = [h[key] for h in history]
        if any(v > 0 for v in vals):
            ax.plot(steps, vals, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_inversion(result: InversionResult, prep: Prepared, outdir: str, stem: str) -> dict[str, str]:
    """Write <stem>_recon.png, _target.png, _compare.png, .npz, _metrics.json, _loss.png and, when a face
    was aligned, _pasted.png (the reconstruction warped back into the whole photo)."""
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    paths = {k: os.path.join(outdir, stem + suffix) for k, suffix in
             [("recon", "_recon.png"), ("target", "_target.png"), ("compare", "_compare.png"),
              ("latent", ".npz"), ("metrics", "_metrics.json"), ("loss", "_loss.png")]}
    recon = tensor_to_pil(result.image[0])
    recon.save(paths["recon"])
    prep.image.save(paths["target"])
    image_grid([prep.image, recon]).save(paths["compare"])
    if prep.aligned is not None:
        paths["pasted"] = os.path.join(outdir, stem + "_pasted.png")
        paste_into_photo(prep, recon).save(paths["pasted"])
    save_latent(paths["latent"], result.latent, model=result.model, space=result.space,
                extra={"metrics": result.metrics[0], "source": stem, "preparation": prep.note})
    with open(paths["metrics"], "w") as f:
        json.dump({**result_summary(result), "preparation": prep.note, "loss_history": result.loss_history},
                  f, indent=1)
    fig = loss_curve_figure(result.loss_history)
    fig.savefig(paths["loss"])
    plt.close(fig)
    return paths


def list_images(path: str) -> list[str]:
    """``path`` itself if it is a file, else the image files in the folder (sorted, not recursive)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))
