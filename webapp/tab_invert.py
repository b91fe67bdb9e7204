"""Tab 1 Invert: find the latent of a photo (ganinv.actions.invert), load a latent, sample the model,
and the other inversion methods with their comparison."""
from __future__ import annotations

import os

import gradio as gr
import pandas as pd

from ganinv.actions import USER_ERRORS, faces as face_actions, invert as inv_actions, models, user_message
from ganinv.actions.common import default_of
from ganinv.settings import ALIGN_MODES, DEFAULT_MODEL, MAX_CODES, MAX_FACES, MAX_RESTARTS, MAX_STEPS

from .common import (COMPUTE, LATEX, UI_ONLY, Context, ImageInput, cancellable, loss_figure, metric_table, one_based,
                     reporter, show, show_map, shows_errors, upscale)

INVERT_MD = """
### 1 Invert: find the latent of your photo, and keep the person
**PTI** (the default; Pivotal Tuning Inversion, Roich et al., ACM TOG 2022, eq. 2-6) first inverts into
the generator's domain, where edits work: the pivot $w_p$ (hybrid inversion from the domain-guided encoder,
*Steps* = its loss evaluations; or optimisation for models without an encoder). It then tunes the generator's
weights $\\theta$ for *Tuning steps* so that the pivot draws the photo, while a locality term keeps $G$
unchanged around it:

$$\\theta^* = \\arg\\min_\\theta \\; L_{LPIPS}(x, G(w_p;\\theta)) + \\lambda_{L2} L_{L2}(x, G(w_p;\\theta))
+ \\lambda_R L_R$$

The tuned weights travel with the latent to every other tab (the shared model never changes), so the face
you edit is still you. **Optimisation** (Image2StyleGAN, Abdal, Qin & Wonka, ICCV 2019, eq. 1 and 3) searches
the latent alone under a pixel and a perceptual loss,
$w^* = \\arg\\min_w \\frac{\\lambda_{mse}}{N}\\lVert G(w) - I\\rVert_2^2 + \\lambda_p L_{percept}(G(w), I)$,
with Adam, the StyleGAN2 projector's learning-rate schedule and latent noise (Karras et al., CVPR 2020,
App. D): a code any generator can use, but on a real face often another person. A GAN inverts well only images framed like its training
data, so the largest face is found (dlib landmarks) and warped into the model's crop with the
FFHQ recipe (Karras et al., CVPR 2019, App. A); without a face the centre square is used. The
reconstruction is also pasted back into the whole photo. The perceptual term is LPIPS
(Zhang et al., CVPR 2018); the metrics table says which variant was used, and whether the reconstruction is
still the same person (ArcFace, Deng et al., CVPR 2019; dlib's distance beside it).
"""

METHODS_MD = """
Same prepared crop as above. **PTI** (Pivotal Tuning Inversion, Roich et al., ACM TOG 2022, eq. 2-6): invert
in-domain first (the pivot $w_p$: hybrid inversion below), then tune the generator's weights $\\theta$ so that
$G(w_p; \\theta^*)$ draws the photo, with the locality regulariser keeping $G$ unchanged around the pivot and
along the edit directions; the real face stays the same person and the tuned weights travel with the latent to
every other tab (the shared model is never changed). **Encoder**: one forward pass of the domain-guided encoder
(In-Domain GAN Inversion, Zhu et al., ECCV 2020, eq. 3). **Hybrid**: start at $z_0 = E(x)$ and
minimise eq. 4,
$\\lVert x - G(z)\\rVert + \\lambda_{vgg}\\lVert F(x) - F(G(z))\\rVert + \\lambda_{dom}\\lVert z - E(G(z))\\rVert$,
with L-BFGS (steps = loss evaluations); a larger $\\lambda_{dom}$ keeps the code in-domain (better
edits) at some cost in fidelity. **Multi-code** (mGANprior, Gu et al., CVPR 2020, eq. 2): *N* codes
meet at an intermediate layer, weighted per channel. **Layer-wise** (Bau et al., ICCV 2019): fit an
intermediate feature map; the difference map shows what the generator cannot reproduce. **Layer-wise +
residual** keeps that fit as a code $z^*$ plus its feature residual $\\delta^*$: edits of $z^*$ render
$G_f(g_n(z^* + a n) + \\delta^*)$, so the photo's details stay (after HFGI, Wang et al., CVPR 2022).
PTI, optimisation, encoder, hybrid and layer-wise + residual give one latent (PTI with its tuned weights,
layer-wise with its residual), kept for the other tabs; multi-code and layer-wise give images only.
"""



def method_choices(main_only: bool = False) -> list[tuple[str, str]]:
    """(label, name) of the registered inversion methods (all, or those of the main dropdown)."""
    return [(m.label, k) for k, m in inv_actions.METHODS.items() if m.main or not main_only]


NO_IMAGE = "Upload an image or pick an example first."


def _metric_rows(inv) -> list[tuple[str, object]]:
    m = inv.metrics
    rows = []
    if m.get("arcface_similarity") is not None:
        verdict = face_actions.verdict(m.get("arcface_same_person"))
        rows.append(("identity: ArcFace similarity to the photo", f"{m['arcface_similarity']:.3f} ({verdict})"))
    rows += [("PSNR (dB)", f"{m['psnr']:.2f}"), ("SSIM", f"{m['ssim']:.3f}"),
             (f"perceptual distance ({m['perceptual_metric']})", f"{m['perceptual']:.4f}")]
    if m.get("identity_distance") is not None:
        verdict = face_actions.verdict(m.get("same_person"))
        rows.append(("identity distance (dlib, < 0.6 same person)", f"{m['identity_distance']:.3f} ({verdict})"))
    elif m.get("identity_note"):
        rows.append(("identity distance (dlib)", m["identity_note"]))
    rows += [("method", inv.method), ("time (s)", f"{inv.seconds:.1f}"), ("steps", str(inv.settings["steps"]))]
    if inv.method == "pti":
        rows.append(("tuning steps", str(inv.settings["tune_steps"])))
    return rows + [("space", inv.space or "image only")]


def make_callbacks(ctx: Context) -> dict:
    """Callbacks bound to the app's device and session folders."""

    @shows_errors
    def invert(image, model, align, face, space, steps, perceptual_weight, restarts, seed, state,
               method=default_of(inv_actions.invert, "method"), tune_steps=default_of(inv_actions.invert, "tune_steps"), request: gr.Request = None,
               progress=gr.Progress()):
        """Invert a photo (method: pti, optimize, hybrid or encoder); the latent, with PTI's tuned weights,
        becomes the session's (for tabs 2-6)."""
        if image is None:
            raise gr.Error(NO_IMAGE, print_exception=False)
        progress(0.0, desc=f"loading {model} and preparing the image")
        inv = inv_actions.invert(image, model=model, method=method, space=space, steps=steps,
                                 perceptual_weight=perceptual_weight, restarts=restarts, seed=seed, align=align,
                                 face=one_based(face), tune_steps=tune_steps, device=ctx.device,
                                 progress=reporter(progress))
        files = inv_actions.save_inversion(inv, ctx.folder(request), f"inversion-{model.replace(':', '_')}")
        prep = inv.prepared
        sim = inv.metrics.get("arcface_similarity")
        kept = "" if sim is None else (f", ArcFace similarity {sim:.3f} "
                                       f"({face_actions.verdict(inv.metrics.get('arcface_same_person'))})")
        tuned = " with its tuned generator" if inv.delta else ""
        status = (f"Inverted with **{inv.model}** by {inv.method} in {inv.seconds:.1f} s ({prep.note}, {inv.space} "
                  f"space): PSNR {inv.metrics['psnr']:.2f} dB{kept}. The latent{tuned} is kept for the other tabs.")
        return (upscale(prep.image), show(inv.image), files.get("pasted"),
                loss_figure(inv.loss_history, title="loss per step"), metric_table(_metric_rows(inv)),
                files["latent"], files["recon"], inv.record, status)

    @shows_errors
    def load_latent(latent_file, model, state, request: gr.Request):
        """Read a .npz latent (from this app or `ganinv invert`) for the model; it becomes the session's."""
        if not latent_file:
            raise gr.Error("Choose a .npz latent file first.", print_exception=False)
        opened = inv_actions.open_latent(latent_file, model=model, device=ctx.device)
        png = os.path.join(ctx.folder(request), "reconstruction.png")
        opened.image.save(png)
        r = opened.record
        status = (f"Loaded a {r.space} latent for **{r.model}** (shape {list(r.latent.shape)}); "
                  f"showing its image.")
        return upscale(opened.image), png, r, status

    @shows_errors
    def sample(seeds, model):
        """One image per seed (at most 16), captioned with its seed."""
        numbers = models.parse_seeds(seeds)
        images = models.sample(numbers, model=model, device=ctx.device)
        return [(upscale(im), f"seed {s}") for s, im in zip(numbers, images)]

    def use_sample(gallery, evt: gr.SelectData):
        item = gallery[evt.index]
        return item[0] if isinstance(item, (tuple, list)) else item

    @shows_errors
    def invert_method(image, model, align, face, method, steps, codes, layer, l_dom=None, state=None,
                      progress=gr.Progress()):
        """Invert with one method; a method with one latent makes it the session's."""
        if image is None:
            raise gr.Error(NO_IMAGE, print_exception=False)
        progress(0.0, desc=f"loading {model}")
        inv = inv_actions.invert(image, model=model, method=method, steps=steps, n_codes=codes, layer=layer or None,
                                 l_dom=l_dom, align=align, face=one_based(face), identity=False,
                                 device=ctx.device, progress=reporter(progress))
        m = inv.metrics
        note = f"{method}: {inv.seconds:.1f} s, PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}. "
        if inv.record is not None:
            state, note = inv.record, note + "The latent is kept for the other tabs."
        else:
            note += "This method's result is an image only (no single latent): the other tabs keep the previous one."
        return show(inv.image), show_map(inv.diff), state, note

    @shows_errors
    def compare_methods(image, model, align, face, methods, steps, codes, layer, l_dom=None, progress=gr.Progress()):
        """The same crop inverted by each chosen method: one table row and one image per method."""
        if image is None:
            raise gr.Error(NO_IMAGE, print_exception=False)
        runs = inv_actions.compare(image, methods=list(methods or []), model=model, steps=steps, n_codes=codes,
                                   layer=layer or None, l_dom=l_dom, align=align, face=one_based(face),
                                   device=ctx.device, progress=reporter(progress))
        rows, gallery = [], [(upscale(runs[0].prepared.image), "target")]
        for r in runs:
            m = r.metrics
            rows.append((r.method, round(r.seconds, 2), round(m["psnr"], 2), round(m["ssim"], 3),
                         round(m["perceptual"], 4)))
            gallery.append((show(r.image), r.method))
            if r.diff is not None:
                gallery.append((show_map(r.diff), f"{r.method}: difference (what G cannot reproduce)"))
        table = pd.DataFrame(rows, columns=["method", "time (s)", "PSNR (dB)", "SSIM", "perceptual distance"])
        return table, gallery

    def find_faces(image):
        """The photo's faces as a numbered gallery (largest first, numbered as "Face #" counts) and a note.
        Never an error popup: it runs on every new image, and a bad file is refused by the inversion."""
        if image is None:
            return [], ""
        try:
            crops = face_actions.face_crops(image)
        except USER_ERRORS as e:
            return [], f"Faces: {user_message(e)}"
        if not crops:
            return [], "No face found: the inversion will use the centre square (alignment 'auto')."
        note = (f"{len(crops)} face{'s' if len(crops) > 1 else ''} found, largest first: click one to pick it "
                f"(it sets Face #).") if len(crops) > 1 else "1 face found."
        return [(c.image, f"#{c.index + 1}") for c in crops], note

    def pick_face(evt: gr.SelectData):
        return evt.index + 1

    def model_steps(model):
        """The picked model's default step counts on this app's device (fewer for a large model on a CPU)."""
        try:
            d = inv_actions.model_steps(model, ctx.device)
        except USER_ERRORS:
            return gr.update(), gr.update()
        return d["steps"], d["tune_steps"]

    return dict(invert=invert, invert_cancellable=cancellable(invert), load_latent=load_latent, sample=sample,
                use_sample=use_sample, invert_method=cancellable(invert_method),
                compare_methods=cancellable(compare_methods), find_faces=find_faces, pick_face=pick_face,
                model_steps=model_steps)


def build(ctx: Context, examples: list[str]) -> dict:
    """Layout and events of tab 1; returns the components other parts of the page update."""
    cb = make_callbacks(ctx)
    model, state = ctx.model, ctx.state
    info = models.model_info(DEFAULT_MODEL)
    gr.Markdown(INVERT_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            image = ImageInput(label="Image to invert", type="filepath", image_mode=None,
                               sources=["upload", "webcam", "clipboard"], elem_id="invert-input")
            gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Examples",
                        example_labels=[os.path.splitext(os.path.basename(p))[0] for p in examples])
            with gr.Row():
                align = gr.Radio(list(ALIGN_MODES), value="auto", label="Face alignment", scale=3,
                                 info="auto: align the face if one is found, else centre crop")
                face = gr.Number(1, label="Face # (largest first)", precision=0, minimum=1, maximum=MAX_FACES, scale=1)
            face_note = gr.Markdown(elem_id="faces-note")
            faces = gr.Gallery(label="Faces found (click one to invert it)", columns=3, height="auto", format="png",
                               allow_preview=False, elem_id="faces")
            space = gr.Dropdown(info.spaces, value=info.default_space, label="Latent space", allow_custom_value=True,
                                info="Z for the DCGAN; W / W+ for StyleGAN2 (W+: one code per layer).")
            method = gr.Dropdown(method_choices(main_only=True), value=inv_actions.DEFAULT_METHOD, label="Method", elem_id="method",
                                 info="PTI keeps the person (the latent plus tuned weights); optimisation gives a "
                                      "latent only.")
            with gr.Row():
                steps = gr.Slider(1, MAX_STEPS, value=default_of(inv_actions.invert, "steps"), step=1, label="Steps", elem_id="steps", scale=3,
                                  info="optimisation steps; PTI / hybrid: the pivot's loss evaluations (set for "
                                       "the model and device when a model is picked; the time is stated after "
                                       "the first step)")
                tune_steps = gr.Number(default_of(inv_actions.invert, "tune_steps"), label="Tuning steps (PTI)", precision=0, minimum=1,
                                       maximum=MAX_STEPS, elem_id="tune-steps", scale=1)
            with gr.Row():
                pweight = gr.Number(default_of(inv_actions.invert, "perceptual_weight"), label="Perceptual weight λp",
                                    minimum=0.0)
                restarts = gr.Number(default_of(inv_actions.invert, "restarts"), label="Restarts", precision=0,
                                     minimum=1, maximum=MAX_RESTARTS)
                seed = gr.Number(default_of(inv_actions.invert, "seed"), label="Seed", precision=0)
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
            status = gr.Markdown(label="status", elem_id="invert-status")
            with gr.Row():
                original = gr.Image(label="Original (model-sized crop)", format="png", interactive=False,
                                    elem_id="original", height=300)
                recon = gr.Image(label="Reconstruction G(w*)", format="png", interactive=False,
                                 elem_id="reconstruction", height=300)
                pasted = gr.Image(label="Pasted back into the photo", format="png", interactive=False,
                                  elem_id="pasted", height=300)
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False,
                                   elem_id="metrics")
            curve = gr.Plot(label="Loss per step", format="png")
            with gr.Row():
                latent_out = gr.File(label="Latent (.npz)", interactive=False)
                png_out = gr.File(label="Reconstruction (PNG, model resolution)", interactive=False)

    running = run.click(cb["invert_cancellable"], [image, model, align, face, space, steps, pweight, restarts, seed,
                                                   state, method, tune_steps],
                        [original, recon, pasted, curve, metrics, latent_out, png_out, state, status],
                        api_name="invert", **COMPUTE)
    stop.click(None, None, None, cancels=[running], api_name=False, queue=False)
    latent_in.upload(cb["load_latent"], [latent_in, model, state], [recon, png_out, state, status],
                     api_name="load_latent", **COMPUTE)
    sample_btn.click(cb["sample"], [seeds, model], [gallery], api_name="sample", **COMPUTE)
    gallery.select(cb["use_sample"], [gallery], [image], api_name="use_sample", concurrency_limit=None)
    image.change(cb["find_faces"], [image], [faces, face_note], api_name="find_faces", concurrency_id="faces",
                 concurrency_limit=1)
    faces.select(cb["pick_face"], None, [face], **UI_ONLY)
    model.change(cb["model_steps"], [model], [steps, tune_steps], **UI_ONLY)

    with gr.Accordion("Other inversion methods / compare", open=False):
        gr.Markdown(METHODS_MD, latex_delimiters=LATEX)
        with gr.Row():
            m_method = gr.Dropdown(method_choices(), value="encoder", label="Method")
            m_steps = gr.Number(default_of(inv_actions.invert, "steps"), label="Steps (optimising methods)", precision=0, minimum=1,
                                maximum=MAX_STEPS)
            m_codes = gr.Number(default_of(inv_actions.invert, "n_codes"), label="Multi-code N", precision=0, minimum=1, maximum=MAX_CODES)
            m_layer = gr.Textbox("", label="Layer (multi-code / layer-wise; empty: middle)")
            m_dom = gr.Number(default_of(inv_actions.invert, "l_dom"), label="Domain weight λ_dom (hybrid)", minimum=0,
                              maximum=100, info="empty: the method's; higher: codes stay where E(G(z)) = z (in-domain), fit a little less")
        with gr.Row():
            m_run = gr.Button("Run method", elem_id="run-method")
            m_stop = gr.Button("Stop", variant="stop", elem_id="stop-methods")
        m_note = gr.Markdown(label="status")
        with gr.Row():
            m_recon = gr.Image(label="Method reconstruction", format="png", interactive=False)
            m_diff = gr.Image(label="Layer-wise difference map", format="png", interactive=False)
        m_list = gr.CheckboxGroup(method_choices(), value=["optimize", "encoder", "hybrid"], label="Compare")
        m_compare = gr.Button("Compare methods", elem_id="compare-methods")
        m_table = gr.Dataframe(label="Comparison", interactive=False)
        m_gallery = gr.Gallery(label="Reconstructions", columns=6, height="auto", format="png")
    m_running = m_run.click(cb["invert_method"], [image, model, align, face, m_method, m_steps, m_codes, m_layer,
                                                  m_dom, state],
                            [m_recon, m_diff, state, m_note], api_name="invert_method", **COMPUTE)
    m_comparing = m_compare.click(cb["compare_methods"], [image, model, align, face, m_list, m_steps, m_codes, m_layer,
                                                          m_dom], [m_table, m_gallery], api_name="compare_methods",
                                  **COMPUTE)
    m_stop.click(None, None, None, cancels=[m_running, m_comparing], api_name=False, queue=False)
    return {"space": space}
