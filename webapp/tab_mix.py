"""Tab 4 Morph & Mix: morph, crossover, expression transfer and semantic diffusion of two or three
latents (ganinv.actions.mix).  Each latent comes from the session, a seed, or an upload; files are
optional, so a seed-only API call needs none."""
from __future__ import annotations

import gradio as gr
from PIL import Image

from ganinv.actions import mix, models
from ganinv.actions.common import default_of
from ganinv.settings import DEFAULT_MODEL, MAX_FRAMES

from .common import (COMPUTE, LATEX, MIX_SOURCE_CHOICES, UI_ONLY, Context, cancellable, latent_source, reporter, show,
                     shows_errors)

MORPH_MD = """
### 4 Morph & Mix: interpolation and style mixing
Interpolate two inverted images with spherical interpolation (White 2016), which keeps Gaussian
codes at their typical norm:
$\\mathrm{slerp}(a, b; t) = \\frac{\\sin((1-t)\\Omega)}{\\sin\\Omega} a + \\frac{\\sin(t\\Omega)}{\\sin\\Omega} b$.
Style mixing (Karras et al., StyleGAN, CVPR 2019, Sec. 3.1) takes the coarse layers of
$w^+$ from one image and the fine layers from the other.
"""

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


def make_callbacks(ctx: Context) -> dict:
    """Every parameter has a default (the widget's), so API callers pass only what they change."""

    @shows_errors
    def morph(kind_a="seed", seed_a=1, file_a=None, kind_b="seed", seed_b=2, file_b=None,
              invert_steps=default_of(mix.morph, "invert_steps"), frames=default_of(mix.morph, "num_frames"),
              fps=default_of(mix.morph, "fps"), model=DEFAULT_MODEL, state=None,
              request: gr.Request = None, progress=gr.Progress()):
        """Morph A -> B: a GIF (and an MP4 with ffmpeg) that plays back and forth."""
        r = mix.morph(latent_source(kind_a, seed_a, state, file_a, "A"),
                      latent_source(kind_b, seed_b, state, file_b, "B"),
                      folder=ctx.folder(request, "morph"), model=model, num_frames=frames, fps=fps,
                      invert_steps=invert_steps, device=ctx.device, progress=reporter(progress))
        note = f"{len(r.frames)} frames ({r.method}); " + "; ".join(r.notes)
        if r.mp4 is None:
            note += ". MP4 needs ffmpeg on PATH; GIF only."
        return r.gif, r.strip.resize((r.strip.width * 2, r.strip.height * 2), Image.NEAREST), r.mp4, r.gif, note

    @shows_errors
    def crossover(kind_a="seed", seed_a=1, file_a=None, kind_b="seed", seed_b=2, file_b=None,
                  invert_steps=default_of(mix.crossover, "invert_steps"), layer=None, mode="spatial", region="bottom",
                  fraction=default_of(mix.crossover, "fraction"),
                  wplus_layers="", model=DEFAULT_MODEL, state=None, progress=gr.Progress()):
        """B's W+ layers (StyleGAN2) or B's feature maps at a layer (DCGAN) mixed into A."""
        r = mix.crossover(latent_source(kind_a, seed_a, state, file_a, "A"),
                          latent_source(kind_b, seed_b, state, file_b, "B"), model=model, layers=wplus_layers,
                          layer=layer, mode=mode, region=region, fraction=fraction, invert_steps=invert_steps,
                          device=ctx.device, progress=reporter(progress))
        return show(r.inputs[0]), show(r.inputs[1]), show(r.image), r.note

    @shows_errors
    def expression_transfer(kind_a="seed", seed_a=1, file_a=None, kind_b="seed", seed_b=2, file_b=None,
                            kind_c="seed", seed_c=3, file_c=None, invert_steps=default_of(mix.expression, "invert_steps"),
                            strength=default_of(mix.expression, "strength"),
                            threshold=default_of(mix.expression, "threshold"), model=DEFAULT_MODEL, state=None, progress=gr.Progress()):
        """w1 + strength (w3 - w2): A gets the expression C shows and B does not."""
        r = mix.expression(latent_source(kind_a, seed_a, state, file_a, "w1"),
                           latent_source(kind_b, seed_b, state, file_b, "w2"),
                           latent_source(kind_c, seed_c, state, file_c, "w3"), model=model, strength=strength,
                           threshold=threshold, invert_steps=invert_steps, device=ctx.device,
                           progress=reporter(progress))
        names = ["w1", "w2 (neutral)", "w3 (expression)"]
        return [(show(x), n) for x, n in zip(r.inputs, names)], show(r.image), r.note

    @shows_errors
    def semantic_diffusion(kind_a="seed", seed_a=1, file_a=None, kind_b="seed", seed_b=2, file_b=None,
                           box=default_of(mix.diffusion, "box"), steps=default_of(mix.diffusion, "num_steps"),
                           l_dom=default_of(mix.diffusion, "l_dom"), model=DEFAULT_MODEL, state=None,
                           progress=gr.Progress()):
        """B's centre box pasted into A and blended by in-domain inversion."""
        r = mix.diffusion(latent_source(kind_a, seed_a, state, file_a, "A (context)"),
                          latent_source(kind_b, seed_b, state, file_b, "B (target)"), model=model, box=box,
                          num_steps=steps, l_dom=l_dom, device=ctx.device, progress=reporter(progress))
        names = ["context (A)", "target (B)", "pasted (input)"]
        return [(show(x), n) for x, n in zip(r.inputs, names)], show(r.image), r.note

    def layers(model):
        """The crossover layer list of the picked model."""
        names = models.feature_layers(model, ctx.device)
        return gr.update(choices=names, value=names[min(1, len(names) - 1)] if names else None)

    return dict(morph=morph, crossover=crossover, expression_transfer=expression_transfer,
                semantic_diffusion=cancellable(semantic_diffusion), layers=layers)


def _source_picker(title: str, kind: str, seed: int, prefix: str) -> tuple:
    with gr.Column(min_width=200):
        gr.Markdown(f"**{title}**")
        k = gr.Radio(MIX_SOURCE_CHOICES, value=kind, label="From", elem_id=f"{prefix}-kind")
        s = gr.Number(seed, label="Seed", precision=0, elem_id=f"{prefix}-seed")
        f = gr.File(value=None, label=".npz latent or photo (optional)", file_types=[".npz", "image"],
                    type="filepath", elem_id=f"{prefix}-file")
    return k, s, f


def build(ctx: Context) -> None:
    cb = make_callbacks(ctx)
    model, state = ctx.model, ctx.state
    names = models.feature_layers(ctx.model.value, ctx.device)
    gr.Markdown(MORPH_MD, latex_delimiters=LATEX)
    gr.Markdown(MIX_MD, latex_delimiters=LATEX)
    with gr.Row():
        a = _source_picker("A (morph start, crossover base, w1)", "seed", 1, "mix-a")
        b = _source_picker("B (morph end, crossover donor, w2 neutral)", "seed", 2, "mix-b")
        c = _source_picker("C (w3: B's face with an expression)", "seed", 3, "mix-c")
    steps = gr.Slider(5, 300, value=default_of(mix.morph, "invert_steps"), step=5, label="Inversion steps for uploaded photos")
    with gr.Accordion("Morph", open=True):
        with gr.Row():
            frames = gr.Slider(2, min(60, MAX_FRAMES), value=default_of(mix.morph, "num_frames"), step=1, label="Frames")
            fps = gr.Slider(2, 30, value=default_of(mix.morph, "fps"), step=1, label="Frames per second")
        morph_btn = gr.Button("Morph A → B", variant="primary", elem_id="morph-run")
        morph_note = gr.Markdown(label="status", elem_id="morph-status")
        with gr.Row():
            gif = gr.Image(label="Morph (GIF, plays back and forth)", type="filepath", interactive=False,
                           height=320, elem_id="morph-gif")
            video = gr.Video(label="MP4" + ("" if mix.ffmpeg_path() else " (needs ffmpeg)"), interactive=False,
                             height=320)
        strip = gr.Image(label="Frames", format="png", interactive=False, elem_id="morph-strip")
        gif_file = gr.File(label="GIF download", interactive=False)
    with gr.Accordion("Crossover", open=True):
        with gr.Row():
            layer = gr.Dropdown(names, value=names[min(1, len(names) - 1)] if names else None, allow_custom_value=True,
                                label="Feature layer (DCGAN)")
            mode = gr.Radio(list(mix.FEATURE_MODES), value="spatial", label="Mode")
            region = gr.Dropdown(list(mix.REGIONS), value="bottom", label="Region from B (spatial)")
            fraction = gr.Slider(0.1, 1.0, value=default_of(mix.crossover, "fraction"), step=0.05, label="Fraction from B")
        wplus = gr.Textbox("", label="W+ layers from B (StyleGAN2 only, e.g. 0-3; empty: feature crossover)")
        cross_btn = gr.Button("Cross over", variant="primary", elem_id="crossover-run")
        cross_note = gr.Markdown(label="status", elem_id="crossover-status")
        with gr.Row():
            img_a = gr.Image(label="A", format="png", interactive=False)
            img_b = gr.Image(label="B", format="png", interactive=False)
            img_x = gr.Image(label="Crossover", format="png", interactive=False, elem_id="crossover-out")
    with gr.Accordion("Expression transfer", open=True):
        gr.Markdown("B and C should be the same face, neutral and with the expression (e.g. two photos of one "
                    "person, uploaded and inverted). Two unrelated random faces transfer identity, not expression, "
                    "and λ = 1 then leaves the latent prior: start with a small λ and a threshold.")
        with gr.Row():
            lam = gr.Slider(-3, 3, value=default_of(mix.expression, "strength"), step=0.1, label="λ")
            thr = gr.Slider(0, 2, value=default_of(mix.expression, "threshold"), step=0.05, label="Threshold on |w3 - w2|")
        expr_btn = gr.Button("Transfer C − B onto A", variant="primary", elem_id="expression-run")
        expr_note = gr.Markdown(label="status", elem_id="expression-status")
        with gr.Row():
            expr_in = gr.Gallery(label="Inputs", columns=3, height="auto", format="png")
            expr_out = gr.Image(label="w1 + λ (w3 − w2)", format="png", interactive=False, elem_id="expression-out")
    with gr.Accordion("Semantic diffusion", open=True):
        gr.Markdown(DIFFUSION_MD, latex_delimiters=LATEX)
        with gr.Row():
            box = gr.Slider(0.2, 0.8, value=default_of(mix.diffusion, "box"), step=0.05,
                            label="Pasted box (fraction of the side)")
            d_steps = gr.Slider(10, 500, value=default_of(mix.diffusion, "num_steps"), step=10, label="Evaluations")
            d_dom = gr.Number(default_of(mix.diffusion, "l_dom"), label="Domain weight λ_dom", minimum=0, maximum=100)
        diff_btn = gr.Button("Paste B's centre into A and blend", variant="primary", elem_id="diffusion-run")
        diff_note = gr.Markdown(label="status", elem_id="diffusion-status")
        with gr.Row():
            diff_in = gr.Gallery(label="Inputs", columns=3, height="auto", format="png")
            diff_out = gr.Image(label="Blended G(z*)", format="png", interactive=False, elem_id="diffusion-out")

    diff_btn.click(cb["semantic_diffusion"], [*a, *b, box, d_steps, d_dom, model, state],
                   [diff_in, diff_out, diff_note], api_name="semantic_diffusion", **COMPUTE)
    morph_btn.click(cb["morph"], [*a, *b, steps, frames, fps, model, state], [gif, strip, video, gif_file, morph_note],
                    api_name="morph", **COMPUTE)
    cross_btn.click(cb["crossover"], [*a, *b, steps, layer, mode, region, fraction, wplus, model, state],
                    [img_a, img_b, img_x, cross_note], api_name="crossover", **COMPUTE)
    expr_btn.click(cb["expression_transfer"], [*a, *b, *c, steps, lam, thr, model, state],
                   [expr_in, expr_out, expr_note], api_name="expression_transfer", **COMPUTE)
    model.change(cb["layers"], [model], [layer], api_name="mix_model_layers", **UI_ONLY)
