"""Task: invert a photo, i.e. find the latent whose image reproduces it, with any method of
``METHODS`` (ganinv.actions.invert_methods: one entry per method, one module each in ganinv.invert).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import torch
from PIL import Image

from ..io import image_grid, list_images, save_latent, tensor_to_pil
from ..latent import render
from ..losses import image_metrics
from ..models.base import Generator
from ..plots import loss_figure, save_figure
from ..registry import default_device, get_spec
from ..settings import (CPU_LARGE_RESOLUTION, CPU_LARGE_STEPS, CPU_LARGE_TUNE_STEPS, DEFAULT_MODEL, DOMAIN_WEIGHT_MAX,
                        INVERT_BATCH, PTI_STEPS, INVERT_STEPS, LATENT_SPACES, MAX_CODES, MAX_RESTARTS, MULTICODE_N,
                        PERCEPTUAL_WEIGHT, SEED_MAX, ProgressFn, sub_progress)
from .common import (IMAGE_ERRORS, InputError, Record, check_layer, check_steps, choice, defaults_from, generator, load_record,
                     number, optional_number, record_generator, user_message)
from .faces import Prepared, check_alignment, identity_metric, paste_into_photo, prepare_image
from .invert_methods import HYBRID_OPTIMIZERS, METHODS, batched_methods, latent_methods, method_encoder, optimize_run

# The identity-preserving pipeline is the default (a real face stays the same person, edits keep working);
# plain optimisation (a code only, no tuned weights) is one choice away: method="optimize".
DEFAULT_METHOD = "pti"


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
    residual: tuple | None = None               # layerwise-residual: (layer, [1, C, h, w] features added back)

    @property
    def record(self) -> Record | None:
        """The session record other tabs edit (None when the method gives no single code)."""
        if self.latent is None:
            return None
        return Record(self.model, self.latent, self.space, prepared=self.prepared,
                      note=f"{self.method} inversion ({self.prepared.note})", delta=self.delta, residual=self.residual,
                      meta={"face": self.settings.get("face", 0), "align": self.settings.get("align", "auto")})


def default_steps(resolution: int = 0, device: str | None = None, *, steps: int = INVERT_STEPS,
                  tune_steps: int = PTI_STEPS) -> dict[str, int]:
    """The step counts of an inversion that is given none: ``steps`` and ``tune_steps`` as written here, or
    ``CPU_LARGE_STEPS`` / ``CPU_LARGE_TUNE_STEPS`` for a model of ``CPU_LARGE_RESOLUTION`` px or more on a CPU
    (``device`` None: CUDA when present), where one 1024-px step takes seconds (ganinv.settings says where
    that was measured)."""
    if resolution >= CPU_LARGE_RESOLUTION and str(device or default_device()).startswith("cpu"):
        return {"steps": CPU_LARGE_STEPS, "tune_steps": CPU_LARGE_TUNE_STEPS}
    return {"steps": steps, "tune_steps": tune_steps}


def model_steps(model: str, device: str | None = None) -> dict[str, int]:
    """``default_steps`` for a registered model (a ``local:`` file, whose size is known once loaded: the
    defaults for any size)."""
    return default_steps(get_spec(str(model)).resolution, device)


def check_settings(G: Generator, *, method: str, space: str | None, steps, perceptual_weight, restarts, seed,
                   n_codes, layer: str | None, l_dom, optimizer: str = HYBRID_OPTIMIZERS[0], lr=None,
                   latent_steps=None, l_reg=None, tune_steps=PTI_STEPS) -> dict:
    """Every inversion setting checked against the model once; returns them normalised."""
    choice(method, "Method", METHODS)
    choice(optimizer, "Optimizer", HYBRID_OPTIMIZERS)
    spaces = [s for s in LATENT_SPACES if G.supports(s)]
    if space not in (None, ""):
        choice(space, f"Latent space for {G.name}", spaces)
    return dict(space=space or None, steps=check_steps(steps),
                perceptual_weight=number(perceptual_weight, "Perceptual weight", 0, 1e3),
                restarts=number(restarts, "Restarts", 1, MAX_RESTARTS, whole=True),
                seed=number(seed, "Seed", 0, SEED_MAX, whole=True),
                n_codes=number(n_codes, "Codes N", 1, MAX_CODES, whole=True), layer=check_layer(G, layer),
                l_dom=optional_number(l_dom, "Domain weight", 0, DOMAIN_WEIGHT_MAX), optimizer=optimizer,
                lr=optional_number(lr, "Learning rate", 1e-5, 10),
                latent_steps=None if latent_steps in (None, "") else check_steps(latent_steps, "Latent steps"),
                l_reg=optional_number(l_reg, "Feature regulariser weight", 0, 1e3),
                tune_steps=check_steps(tune_steps, "Tuning steps"))


def run_method(G: Generator, prep: Prepared, method: str, settings: dict, *, encoder: str | None = None,
               progress: ProgressFn | None = None) -> Inversion:
    """Invert an already prepared crop with ``METHODS[method]`` (settings from ``check_settings``)."""
    x = prep.tensor.to(G.device, torch.float32)
    t0 = time.time()
    out = METHODS[method].run(G, x, settings, encoder, progress)
    img = out.image.detach()
    metrics = image_metrics(img, x)[0]
    cpu = (lambda t: None if t is None else t.detach().cpu())
    residual = None if out.residual is None else (out.residual[0], cpu(out.residual[1]))
    return Inversion(method, G.name, img.cpu(), cpu(out.latent), out.space, metrics, time.time() - t0, prep,
                     dict(settings, method=method), out.history or [], cpu(out.diff), out.delta, residual)


@defaults_from(default_steps)
def invert(image, *, model: str = DEFAULT_MODEL, method: str = DEFAULT_METHOD, space: str | None = None,
           steps: int | None = None, perceptual_weight: float = PERCEPTUAL_WEIGHT, restarts: int = 1,
           seed: int = 0, align: str = "auto", face: int = 0, n_codes: int = MULTICODE_N,
           layer: str | None = None, l_dom: float | None = None, optimizer: str = HYBRID_OPTIMIZERS[0],
           lr: float | None = None, latent_steps: int | None = None, l_reg: float | None = None,
           tune_steps: int | None = None, encoder: str | None = None, identity: bool = True,
           device: str | None = None, progress: ProgressFn | None = None) -> Inversion:
    """Load, align and invert one image (a path, PIL image or array).

    ``face`` is 0-based (0 = largest).  With ``identity`` the metrics include the dlib
    same-person distance between the crop and its reconstruction.  Method options (None: the
    method's own default): ``l_dom``, ``optimizer`` and ``lr`` (Adam) for hybrid; ``layer``,
    ``latent_steps`` (default ``steps``), ``l_reg`` and ``lr`` for layerwise; ``n_codes`` and
    ``layer`` for multicode.  ``perceptual_weight`` is also hybrid's lambda_vgg.  ``steps`` and ``tune_steps``
    None: ``default_steps`` for the model and device (fewer for a large model on a CPU).  ``progress`` states
    the expected time after the first step and the time left after each (``TimedProgress``); raising from it
    stops the inversion.
    """
    G = generator(model, device)
    given = default_steps(G.resolution, G.device.type)
    steps = given["steps"] if steps is None else steps
    tune_steps = given["tune_steps"] if tune_steps is None else tune_steps
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
        report = sub_progress(progress, i / len(methods), (i + 1) / len(methods), f"{m}: ")
        out.append(run_method(G, prep, m, settings, encoder=encoder, progress=report))
    return out


# --------------------------------------------------------------------------- many images
MAX_BATCH = 256


@dataclass
class BatchItem:
    """One image (or one face of a photo) of a batch run: its inversion, or why it was skipped."""

    source: object                              # the image as given (a path, PIL image or array)
    face: int                                   # 0-based face index used
    inversion: Inversion | None = None
    error: str | None = None                    # one-line message when the image was skipped (unreadable, no face)


@defaults_from(default_steps)
def invert_many(images, *, model: str = DEFAULT_MODEL, method: str = DEFAULT_METHOD, space: str | None = None,
                steps: int | None = None, perceptual_weight: float = PERCEPTUAL_WEIGHT, restarts: int = 1,
                seed: int = 0, align: str = "auto", face: int = 0, batch_size: int = INVERT_BATCH,
                identity: bool = True, encoder: str | None = None, device: str | None = None,
                progress: ProgressFn | None = None, on_result=None, **method_options) -> list[BatchItem]:
    """Invert many images, ``batch_size`` at a time through the batched optimisation, with one result each.

    ``images``: paths, PIL images or arrays, or ``(image, face_index)`` pairs (``face`` for the rest).
    Each image gets the settings and seed a lone ``invert()`` call would give it (the optimisation
    keeps every run's loss, gradients and Adam state separate), so results match one-by-one runs;
    methods without a batched code path (``METHODS[m].batched`` false) run one image at a time, with
    their own settings in ``method_options`` (``n_codes``, ``layer``, ``l_dom``, ... as ``invert()`` takes them).
    ``steps`` (and ``tune_steps`` among them) None: ``default_steps`` for the model and device.
    An image that cannot be read or has no face (``IMAGE_ERRORS``) is skipped with its message.
    Returns one item per input, in input order; ``on_result(item)`` is called as each is ready (e.g. to
    write its files).  A batched result's ``seconds`` is its share of the batch's time and its loss
    history the batch's mean per step.
    """
    G = generator(model, device)
    given = default_steps(G.resolution, G.device.type)
    steps = given["steps"] if steps is None else steps
    options = {"n_codes": MULTICODE_N, "layer": None, "l_dom": None, "tune_steps": given["tune_steps"],
               **method_options}
    settings = check_settings(G, method=method, space=space, steps=steps, perceptual_weight=perceptual_weight,
                              restarts=restarts, seed=seed, **options)
    face = check_alignment(align, face)
    batch_size = number(batch_size, "Batch size", 1, MAX_BATCH, whole=True)
    todo = [(x[0], check_alignment(align, x[1])) if isinstance(x, tuple) else (x, face) for x in images]
    if not METHODS[method].batched:
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
    if METHODS[method].batched and len(pending) > 1:
        s = settings
        x = torch.cat([p.tensor.to(G.device, torch.float32) for _, p in pending])         # [B, C, R, R]
        t0 = time.time()
        r = optimize_run(G, x, s, progress)
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
    <stem>.npz and _loss.png; when a face was aligned, _pasted.png (the reconstruction in the photo).

    All or nothing: the files are written in a temporary folder beside them and moved into ``outdir``
    once all are complete; an interruption (Ctrl-C) or an error leaves none of them behind."""
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{stem}.", dir=outdir)
    moved: list[str] = []
    try:
        written = _write_inversion(inv, work, stem)
        for key, path in written.items():
            final = os.path.join(outdir, os.path.basename(path))
            os.replace(path, final)
            moved.append(final)
            written[key] = final
        return written
    except BaseException:
        for path in moved:
            os.remove(path)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_inversion(inv: Inversion, outdir: str, stem: str) -> dict[str, str]:
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
                              "align": inv.settings.get("align", "auto"),
                              **({"residual_layer": inv.residual[0]} if inv.residual else {})})


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


__all__ = ["default_steps", "model_steps", "METHODS", "latent_methods", "batched_methods", "DEFAULT_METHOD", "HYBRID_OPTIMIZERS", "Inversion",
           "check_settings", "method_encoder", "run_method", "invert", "BatchItem", "invert_many",
           "compare", "save_inversion", "save_record", "list_images", "render_record", "OpenedLatent", "open_latent"]
