"""Tab 6 Restore: inpaint, colourise or super-resolve a photo with the multi-code GAN prior
(ganinv.actions.restore)."""
from __future__ import annotations

import os

import gradio as gr

from ganinv.actions import restore as restore_actions
from ganinv.actions.common import default_of
from ganinv.settings import MAX_CODES, MAX_STEPS, RESTORE_FACTORS

from .common import COMPUTE, LATEX, Context, cancellable, metric_table, pil, record_of, reporter, shows_errors

RESTORE_MD = """
### 6 Restore with many latent codes (mGANprior)
**mGANprior** (Gu, Shen & Zhou, *Image Processing Using Multi-Code GAN Prior*, CVPR 2020, eq. 2) inverts an
image with **N latent codes** whose feature maps are composed at an **intermediate layer**, each weighted by a
per-channel importance $\\alpha_n$; the degradation (mask, grey conversion, down-sampling) is applied to
the generated image *inside the loss*, so the generator fills in what the observation lost.
Choose a task; the image is the upload, or the source crop from tab 1 when nothing is uploaded.
"""

TASKS = [("inpaint (centre hole or drawn mask)", "inpaint"), ("colourise (grey input)", "colorize"),
         ("super-resolve (low-res input)", "superres")]


def _editor_parts(image) -> tuple[object, list]:
    """(background, drawn layers) of an ImageEditor value; a plain image value has no layers."""
    if isinstance(image, dict):
        bg = image.get("background")
        return (bg if bg is not None else image.get("composite")), [x for x in image.get("layers") or [] if x]
    return image, []


def _rows(r: restore_actions.Restoration) -> list[tuple[str, object]]:
    rows = [("task", r.task), ("codes N", str(r.codes)), ("layer", r.layer), ("steps", str(r.steps)),
            ("time (s)", f"{r.seconds:.1f}")]
    if "psnr" in r.metrics:
        rows.append(("PSNR deg(restored) vs observation (dB)", f"{r.metrics['psnr']:.2f}"))
    c = r.clean_metrics
    if c:
        rows += [("PSNR vs clean (dB)", f"{c['psnr']:.2f}"), ("SSIM vs clean", f"{c['ssim']:.3f}")]
        if c.get("perceptual") is not None:
            rows.append((f"perceptual vs clean ({c.get('perceptual_metric', '')})", f"{c['perceptual']:.4f}"))
    return rows


def make_callbacks(ctx: Context) -> dict:

    @shows_errors
    def restore(image, task, mask, factor, codes, layer, steps, model, state, request: gr.Request,
                progress=gr.Progress()):
        """Restore the upload (an ImageEditor value; drawn layers are the inpainting hole with mask="draw")."""
        photo, strokes = _editor_parts(image)
        record = record_of(state)
        if photo is None and record is not None and record.prepared is not None:
            photo = record.prepared.image                  # the crop inverted in tab 1
        if photo is None:
            raise gr.Error("Upload an image (or invert one in tab 1 first).", print_exception=False)
        progress(0.0, desc=f"loading {model}")
        r = restore_actions.restore(photo, task, model=model, strokes=strokes if mask == "draw" else None,
                                    factor=factor, codes=codes, layer=layer or None, steps=steps, device=ctx.device,
                                    progress=reporter(progress))
        restored = pil(r.image)
        out = os.path.join(ctx.folder(request), f"restored-{r.task}.png")
        restored.save(out)
        note = (f"Restored ({r.task}) with {model} in {r.seconds:.1f} s with {r.codes} codes at layer {r.layer}; "
                f"{r.note}. The result is an image only: multi-code latents are not used by the other tabs.")
        return pil(r.degraded), restored, metric_table(_rows(r)), out, note

    return dict(restore=cancellable(restore))


def build(ctx: Context) -> None:
    cb = make_callbacks(ctx)
    gr.Markdown(RESTORE_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.ImageEditor(label="Image (draw the hole to inpaint on a layer)", type="pil",
                                   elem_id="restore-input")
            task = gr.Radio(TASKS, value="inpaint", label="Task")
            mask = gr.Radio([("centre hole", "centre"), ("drawn mask", "draw")], value="centre",
                            label="Inpainting mask", elem_id="restore-mask")
            factor = gr.Radio(list(RESTORE_FACTORS), value=default_of(restore_actions.restore, "factor"), label="Super-resolution factor")
            with gr.Row():
                codes = gr.Number(default_of(restore_actions.restore, "codes"), label="Codes N", precision=0, minimum=1, maximum=MAX_CODES)
                layer = gr.Textbox("", label="Layer (empty: middle)")
                steps = gr.Slider(1, MAX_STEPS, value=default_of(restore_actions.restore, "steps"), step=1, label="Steps",
                                  elem_id="restore-steps")
            with gr.Row():
                run = gr.Button("Restore", variant="primary", elem_id="restore-run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop-restore")
        with gr.Column(scale=2):
            note = gr.Markdown(label="status", elem_id="restore-status")
            with gr.Row():
                degraded = gr.Image(label="Degraded input (what the method saw)", format="png", interactive=False,
                                    elem_id="restore-degraded")
                restored = gr.Image(label="Restored", format="png", interactive=False, elem_id="restore-restored")
            metrics = gr.Dataframe(headers=["metric", "value"], label="Metrics", interactive=False)
            download = gr.File(label="Restored (PNG)", interactive=False)
    running = run.click(cb["restore"], [image, task, mask, factor, codes, layer, steps, ctx.model, ctx.state],
                        [degraded, restored, metrics, download, note], api_name="restore", **COMPUTE)
    stop.click(None, None, None, cancels=[running], api_name=False, queue=False)
