"""Task: invert a photo, i.e. find the latent whose image reproduces it, with any method.

Methods (one module each in ganinv.invert, tensor in, tensor out):
  optimize   Image2StyleGAN / StyleGAN2 projector latent optimisation (eq. 1 and 3)
  encoder    In-Domain GAN Inversion's domain-guided encoder, one pass (eq. 3)
  hybrid     encoder start + domain-regularised optimisation (IDInvert eq. 4)
  multicode  mGANprior, N codes composed at an intermediate layer (eq. 2): an image, no single code
  layerwise  fit an intermediate feature map (Bau et al., ICCV 2019): an image, no single code
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import torch
from PIL import Image

from ..invert.encoder import Encoder, encode, encoder_path, load_encoder
from ..invert.hybrid import invert_hybrid
from ..invert.layerwise import invert_layerwise
from ..invert.multicode import invert_multicode
from ..invert.optimize import invert_optimize
from ..invert.pti import pivotal_tuning
from ..io import image_grid, list_images, save_latent, tensor_to_pil
from ..latent import render, to_ws
from ..losses import image_metrics
from ..models.base import Generator
from ..plots import loss_figure, save_figure
from ..registry import DEFAULT_MODEL
from ..settings import (DOMAIN_WEIGHT_MAX, INVERT_BATCH, PTI_STEPS, INVERT_STEPS, LATENT_SPACES, MAX_CODES, MAX_RESTARTS,
                        MAX_STEPS, MULTICODE_N, PERCEPTUAL_WEIGHT, SEED_MAX, ProgressFn)
from .common import (IMAGE_ERRORS, InputError, Record, choice, generator, load_record, number, optional_number,
                     record_generator, user_message)
from .faces import Prepared, check_alignment, identity_metric, paste_into_photo, prepare_image

METHODS = ("pti", "optimize", "encoder", "hybrid", "multicode", "layerwise")
LATENT_METHODS = ("pti", "optimize", "encoder", "hybrid")   # results usable as one code by the other tabs
# The identity-preserving pipeline is the default (a real face stays the same person, edits keep working);
# plain optimisation (a code only, no tuned weights) is one choice away: method="optimize".
DEFAULT_METHOD = "pti"
HYBRID_OPTIMIZERS = ("lbfgs", "adam")       # per-image L-BFGS (default) or the authors' Adam


@dataclass
class Inversion:
    """One method's inversion of one prepared image."""

    method: str
    model: str
    image: torch.Tensor                         # [1, C, R, R] reconstruction in [-1, 1], CPU
    latent: torch.Tensor | None                 # [1, *latent_shape(space)], None for multi-code / layer-wise
    space: str | None
    metrics: dict                               # psnr, ssim, perceptual, perceptual_metric (+ identity) vs the crop
    seconds: float
    prepared: Prepared
    settings: dict = field(default_factory=dict)
    loss_history: list[dict] = field(default_factory=list)
    diff: torch.Tensor | None = None            # [1, 1, R, R] in [0, 1], layer-wise: what G cannot reproduce
    delta: dict | None = None                   # pti: {parameter name: tuned - shared weights}, float32 on CPU

    @property
    def record(self) -> Record | None:
        """The session record other tabs edit (None when the method gives no single code)."""
        if self.latent is None:
            return None
        return Record(self.model, self.latent, self.space, prepared=self.prepared,
                      note=f"{self.method} inversion ({self.prepared.note})", delta=self.delta,
                      meta={"face": self.settings.get("face", 0), "align": self.settings.get("align", "auto")})


def method_encoder(G: Generator, path: str | None, required: bool) -> Encoder | None:
    """The model's encoder checkpoint (or ``path``); None when optional and absent."""
    p = encoder_path(path or G.name)
    if not os.path.isfile(p):
        if required:
            raise InputError(f"this method needs a trained encoder for {G.name!r}; train one with "
                             f"`python -m ganinv train-encoder --model {G.name}`.")
        return None
    return load_encoder(p, G=G, device=G.device)


def check_settings(G: Generator, *, method: str, space: str | None, steps, perceptual_weight, restarts, seed,
                   n_codes, layer: str | None, l_dom, optimizer: str = HYBRID_OPTIMIZERS[0], lr=None,
                   latent_steps=None, l_reg=None, tune_steps=PTI_STEPS) -> dict:
    """Every inversion setting checked against the model once; returns them normalised."""
    choice(method, "Method", METHODS)
    choice(optimizer, "Optimizer", HYBRID_OPTIMIZERS)
    spaces = [s for s in LATENT_SPACES if G.supports(s)]
    if space not in (None, ""):
        choice(space, f"Latent space for {G.name}", spaces)
    if layer not in (None, "") and layer not in G.layer_names:
        raise InputError(f"Layer must be one of {', '.join(G.layer_names[1:-1])}; got {str(layer)[:40]!r}.")
    return dict(space=space or None, steps=number(steps, "Steps", 1, MAX_STEPS, whole=True),
                perceptual_weight=number(perceptual_weight, "Perceptual weight", 0, 1e3),
                restarts=number(restarts, "Restarts", 1, MAX_RESTARTS, whole=True),
                seed=number(seed, "Seed", 0, SEED_MAX, whole=True),
                n_codes=number(n_codes, "Codes N", 1, MAX_CODES, whole=True), layer=layer or None,
                l_dom=optional_number(l_dom, "Domain weight", 0, DOMAIN_WEIGHT_MAX), optimizer=optimizer,
                lr=optional_number(lr, "Learning rate", 1e-5, 10),
                latent_steps=None if latent_steps in (None, "") else number(latent_steps, "Latent steps", 1,
                                                                            MAX_STEPS, whole=True),
                l_reg=optional_number(l_reg, "Feature regulariser weight", 0, 1e3),
                tune_steps=number(tune_steps, "Tuning steps", 1, MAX_STEPS, whole=True))


def run_method(G: Generator, prep: Prepared, method: str, settings: dict, *, encoder: str | None = None,
               progress: ProgressFn | None = None) -> Inversion:
    """Invert an already prepared crop with one method (settings from ``check_settings``)."""
    s = settings
    x = prep.tensor.to(G.device, torch.float32)
    t0 = time.time()
    latent = space = diff = delta = None
    history: list[dict] = []
    if method == "pti":
        img, latent, space, delta, history = _pivotal(G, x, s, encoder, progress)
    elif method == "optimize":
        r = invert_optimize(G, x, space=s["space"], num_steps=s["steps"], perceptual_weight=s["perceptual_weight"],
                            restarts=s["restarts"], seed=s["seed"], progress=progress)
        img, latent, space, history = r.image, r.latent, r.space, r.loss_history
    elif method == "encoder":
        E = method_encoder(G, encoder, True)
        latent, space = encode(E, x), E.space
        with torch.no_grad():
            img = G.synthesis(to_ws(G, latent, space), noise_mode="const")
        if progress:
            progress(1.0, "encoded in one pass")
    elif method == "hybrid":
        extra = {k: s[k] for k in ("l_dom", "lr") if s.get(k) is not None}
        r = invert_hybrid(G, method_encoder(G, encoder, True), x, num_steps=s["steps"],
                          optimizer=s.get("optimizer", HYBRID_OPTIMIZERS[0]), l_vgg=s["perceptual_weight"],
                          progress=progress, **extra)
        img, latent, space = r.image, r.latent, r.space
    elif method == "multicode":
        r = invert_multicode(G, x, n_codes=s["n_codes"], layer=s["layer"], num_steps=s["steps"], seed=s["seed"],
                             progress=progress)
        img = r.image
    else:
        extra = {k: s[k] for k in ("lr", "l_reg") if s.get(k) is not None}
        r = invert_layerwise(G, x, layer=s["layer"], encoder=method_encoder(G, encoder, False),
                             latent_steps=s.get("latent_steps") or s["steps"], num_steps=s["steps"], seed=s["seed"],
                             progress=progress, **extra)
        img, diff = r.image, r.diff
    img = img.detach()
    metrics = image_metrics(img, x)[0]
    return Inversion(method, G.name, img.cpu(), None if latent is None else latent.detach().cpu(), space, metrics,
                     time.time() - t0, prep, dict(s, method=method), history,
                     None if diff is None else diff.detach().cpu(), delta)


def _pivotal(G: Generator, x: torch.Tensor, s: dict, encoder: str | None, progress: ProgressFn | None):
    """Pivotal Tuning Inversion (Roich et al., TOG 2022): an in-domain pivot (hybrid inversion from the
    encoder when the model has one, else optimisation; ``steps``), then ``tune_steps`` of tuning the
    generator's weights around it (ganinv.invert.pti).  Returns (image, pivot, space, delta, history)."""
    def part(lo: float, hi: float):
        return (lambda f, msg: progress(lo + (hi - lo) * f, msg)) if progress else None
    E = method_encoder(G, encoder, False)
    if E is not None:
        p = invert_hybrid(G, E, x, num_steps=s["steps"], optimizer=s.get("optimizer", HYBRID_OPTIMIZERS[0]),
                          l_vgg=s["perceptual_weight"], progress=part(0.0, 0.25),
                          **{k: s[k] for k in ("l_dom", "lr") if s.get(k) is not None})
    else:
        p = invert_optimize(G, x, space=s["space"], num_steps=s["steps"], perceptual_weight=s["perceptual_weight"],
                            restarts=s["restarts"], seed=s["seed"], progress=part(0.0, 0.25))
    r = pivotal_tuning(G, x, p.latent.detach(), space=p.space, num_steps=s["tune_steps"], seed=s["seed"],
                       progress=part(0.25, 1.0))
    return r.image, r.latent, r.space, r.delta, r.loss_history


def invert(image, *, model: str = DEFAULT_MODEL, method: str = DEFAULT_METHOD, space: str | None = None,
           steps: int = INVERT_STEPS, perceptual_weight: float = PERCEPTUAL_WEIGHT, restarts: int = 1,
           seed: int = 0, align: str = "auto", face: int = 0, n_codes: int = MULTICODE_N,
           layer: str | None = None, l_dom: float | None = None, optimizer: str = HYBRID_OPTIMIZERS[0],
           lr: float | None = None, latent_steps: int | None = None, l_reg: float | None = None,
           tune_steps: int = PTI_STEPS, encoder: str | None = None, identity: bool = True,
           device: str | None = None, progress: ProgressFn | None = None) -> Inversion:
    """Load, align and invert one image (a path, PIL image or array).

    ``face`` is 0-based (0 = largest).  With ``identity`` the metrics include the dlib
    same-person distance between the crop and its reconstruction.  Method options (None: the
    method's own default): ``l_dom``, ``optimizer`` and ``lr`` (Adam) for hybrid; ``layer``,
    ``latent_steps`` (default ``steps``), ``l_reg`` and ``lr`` for layerwise; ``n_codes`` and
    ``layer`` for multicode.  ``perceptual_weight`` is also hybrid's lambda_vgg.
    """
    G = generator(model, device)
    settings = check_settings(G, method=method, space=space, steps=steps, perceptual_weight=perceptual_weight,
                              restarts=restarts, seed=seed, n_codes=n_codes, layer=layer, l_dom=l_dom,
                              optimizer=optimizer, lr=lr, latent_steps=latent_steps, l_reg=l_reg,
                              tune_steps=tune_steps)
    face = check_alignment(align, face)
    settings.update(face=face, align=align)
    if progress:
        progress(0.0, "preparing the image")
    prep = prepare_image(image, G, align=align, face_index=face)
    inv = run_method(G, prep, method, settings, encoder=encoder, progress=progress)
    if identity:
        inv.metrics.update(identity_metric(prep.image, tensor_to_pil(inv.image[0])))
    return inv


def compare(image, *, methods: list[str], model: str = DEFAULT_MODEL, steps: int = INVERT_STEPS,
            n_codes: int = MULTICODE_N, layer: str | None = None, l_dom: float | None = None, align: str = "auto",
            face: int = 0, seed: int = 0, encoder: str | None = None, device: str | None = None,
            progress: ProgressFn | None = None) -> list[Inversion]:
    """The same prepared crop inverted by each of ``methods``, in order."""
    methods = list(methods or [])
    if not methods:
        raise InputError(f"Choose methods among {', '.join(METHODS)}.")
    for m in methods:
        choice(m, "Method", METHODS)
    G = generator(model, device)
    settings = check_settings(G, method=methods[0], space=None, steps=steps, perceptual_weight=PERCEPTUAL_WEIGHT,
                              restarts=1, seed=seed, n_codes=n_codes, layer=layer, l_dom=l_dom)
    prep = prepare_image(image, G, align=align, face_index=face)
    out = []
    for i, m in enumerate(methods):
        def report(f, msg, i=i, m=m):
            if progress:
                progress((i + f) / len(methods), f"{m}: {msg}")
        out.append(run_method(G, prep, m, settings, encoder=encoder, progress=report))
    return out


# --------------------------------------------------------------------------- many images
BATCHED_METHODS = ("optimize",)                 # methods whose code path takes [N, ...] targets
MAX_BATCH = 256


@dataclass
class BatchItem:
    """One image (or one face of a photo) of a batch run: its inversion, or why it was skipped."""

    source: object                              # the image as given (a path, PIL image or array)
    face: int                                   # 0-based face index used
    inversion: Inversion | None = None
    error: str | None = None                    # one-line message when the image was skipped (unreadable, no face)


def invert_many(images, *, model: str = DEFAULT_MODEL, method: str = DEFAULT_METHOD, space: str | None = None,
                steps: int = INVERT_STEPS, perceptual_weight: float = PERCEPTUAL_WEIGHT, restarts: int = 1,
                seed: int = 0, align: str = "auto", face: int = 0, batch_size: int = INVERT_BATCH,
                identity: bool = True, encoder: str | None = None, device: str | None = None,
                progress: ProgressFn | None = None, on_result=None, **method_options) -> list[BatchItem]:
    """Invert many images, ``batch_size`` at a time through the batched optimisation, with one result each.

    ``images``: paths, PIL images or arrays, or ``(image, face_index)`` pairs (``face`` for the rest).
    Each image gets the settings and seed a lone ``invert()`` call would give it (the optimisation
    keeps every run's loss, gradients and Adam state separate), so results match one-by-one runs;
    methods without a batched code path (anything but ``BATCHED_METHODS``) run one image at a time, with
    their own settings in ``method_options`` (``n_codes``, ``layer``, ``l_dom``, ... as ``invert()`` takes them).
    An image that cannot be read or has no face (``IMAGE_ERRORS``) is skipped with its message.
    Returns one item per input, in input order; ``on_result(item)`` is called as each is ready (e.g. to
    write its files).  A batched result's ``seconds`` is its share of the batch's time and its loss
    history the batch's mean per step.
    """
    G = generator(model, device)
    options = {"n_codes": MULTICODE_N, "layer": None, "l_dom": None, **method_options}
    settings = check_settings(G, method=method, space=space, steps=steps, perceptual_weight=perceptual_weight,
                              restarts=restarts, seed=seed, **options)
    face = check_alignment(align, face)
    batch_size = number(batch_size, "Batch size", 1, MAX_BATCH, whole=True)
    todo = [(x[0], check_alignment(align, x[1])) if isinstance(x, tuple) else (x, face) for x in images]
    if method not in BATCHED_METHODS:
        batch_size = 1
    items = [BatchItem(src, idx) for src, idx in todo]
    finished = 0

    def report(done: float, msg: str) -> None:
        if progress:
            progress(min(1.0, done / max(len(todo), 1)), msg)

    def finish(item: BatchItem) -> None:
        nonlocal finished
        finished += 1
        if on_result is not None:
            on_result(item)

    pending: list[tuple[BatchItem, Prepared]] = []
    for i, ((src, idx), item) in enumerate(zip(todo, items)):
        try:
            pending.append((item, prepare_image(src, G, align=align, face_index=idx)))
        except IMAGE_ERRORS as e:
            item.error = user_message(e)
            finish(item)
        if len(pending) == batch_size or (i == len(todo) - 1 and pending):
            a, n = finished, len(pending)
            _run_batch(G, pending, method, settings, encoder=encoder, identity=identity,
                       progress=lambda f, msg, a=a, n=n: report(a + f * n, f"images {a + 1}-{a + n}: {msg}"))
            for item, _ in pending:
                finish(item)
            pending = []
    report(len(todo), f"{sum(x.inversion is not None for x in items)} of {len(todo)} inverted")
    return items


def _run_batch(G: Generator, pending: list, method: str, settings: dict, *, encoder: str | None, identity: bool,
               progress: ProgressFn | None) -> None:
    """Invert prepared crops together (optimize) or one by one (other methods); fills each item's inversion."""
    if method in BATCHED_METHODS and len(pending) > 1:
        s = settings
        x = torch.cat([p.tensor.to(G.device, torch.float32) for _, p in pending])         # [B, C, R, R]
        t0 = time.time()
        r = invert_optimize(G, x, space=s["space"], num_steps=s["steps"], perceptual_weight=s["perceptual_weight"],
                            restarts=s["restarts"], seed=s["seed"], progress=progress)
        share = (time.time() - t0) / len(pending)
        for b, (item, prep) in enumerate(pending):
            item.inversion = Inversion(method, G.name, r.image[b:b + 1].detach().cpu(),
                                       r.latent[b:b + 1].detach().cpu(), r.space, dict(r.metrics[b]), share, prep,
                                       dict(s, method=method, batch_size=len(pending)), r.loss_history)
    else:
        for item, prep in pending:
            item.inversion = run_method(G, prep, method, settings, encoder=encoder, progress=progress)
    if identity:
        for item, prep in pending:
            item.inversion.metrics.update(identity_metric(prep.image, tensor_to_pil(item.inversion.image[0])))


# --------------------------------------------------------------------------- files
def save_inversion(inv: Inversion, outdir: str, stem: str) -> dict[str, str]:
    """Write <stem>_recon.png, _target.png, _compare.png, _metrics.json, and for methods with a code
    <stem>.npz and _loss.png; when a face was aligned, _pasted.png (the reconstruction in the photo)."""
    os.makedirs(outdir, exist_ok=True)
    paths = {k: os.path.join(outdir, stem + suffix) for k, suffix in
             [("recon", "_recon.png"), ("target", "_target.png"), ("compare", "_compare.png"),
              ("metrics", "_metrics.json")]}
    prep = inv.prepared
    recon = tensor_to_pil(inv.image[0])
    recon.save(paths["recon"])
    prep.image.save(paths["target"])
    image_grid([prep.image, recon]).save(paths["compare"])
    if prep.aligned is not None:
        paths["pasted"] = os.path.join(outdir, stem + "_pasted.png")
        paste_into_photo(prep, recon).save(paths["pasted"])
    if inv.latent is not None:
        paths["latent"] = save_record(os.path.join(outdir, stem + ".npz"), inv, source=stem)
    if inv.loss_history:
        paths["loss"] = save_figure(loss_figure(inv.loss_history), os.path.join(outdir, stem + "_loss.png"))
    summary = {"model": inv.model, "method": inv.method, "space": inv.space, "seconds": round(inv.seconds, 2),
               "metrics": [inv.metrics], "settings": inv.settings, "preparation": prep.note,
               "final_loss": inv.loss_history[-1]["loss"] if inv.loss_history else None,
               "loss_history": inv.loss_history}
    with open(paths["metrics"], "w") as f:
        json.dump(summary, f, indent=1)
    return paths


def save_record(path: str, inv: Inversion, *, source: str = "app") -> str:
    """The inversion's latent as a ganinv .npz (metadata: method, metrics, preparation)."""
    if inv.latent is None:
        raise InputError(f"{inv.method} gives an image only: there is no latent to save.")
    return save_latent(path, inv.latent, model=inv.model, space=inv.space, delta=inv.delta,
                       extra={"method": inv.method, "metrics": inv.metrics, "source": source,
                              "preparation": inv.prepared.note, "face": inv.settings.get("face", 0),
                              "align": inv.settings.get("align", "auto")})


def render_record(record: Record, *, device: str | None = None) -> Image.Image:
    """The image of a record's latent (with its tuned weights, if any)."""
    G = record_generator(generator(record.model, device), record)
    with torch.no_grad():
        return tensor_to_pil(render(G, record.latent[:1].to(G.device), record.space)[0])


@dataclass
class OpenedLatent:
    record: Record                              # the file's first code, checked against the model
    image: Image.Image                          # its rendering at the model's resolution


def open_latent(path: str, *, model: str = DEFAULT_MODEL, device: str | None = None) -> OpenedLatent:
    """Read a latent file (.npz from ``save_record`` or ``ganinv invert``) for ``model`` and render it."""
    record = load_record(path, model=model, device=device)
    return OpenedLatent(record, render_record(record, device=device))


__all__ = ["METHODS", "LATENT_METHODS", "DEFAULT_METHOD", "HYBRID_OPTIMIZERS", "Inversion", "check_settings",
           "run_method", "invert", "BATCHED_METHODS", "BatchItem", "invert_many",
           "compare", "save_inversion", "save_record", "list_images", "render_record", "OpenedLatent", "open_latent"]
