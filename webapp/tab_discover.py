"""Tab 3 Discover: unsupervised directions (ganinv.actions.discover), browsed as strength strips and
promoted to sliders of tab 2."""
from __future__ import annotations

import gradio as gr
import pandas as pd
from PIL import Image

from ganinv.actions import Source, discover as discover_actions
from ganinv.actions.common import default_of
from ganinv.actions.edit import strip_strengths
from ganinv.settings import MAX_COMPONENTS, SLIDER_RANGE

from .common import COMPUTE, LATEX, SOURCE_CHOICES, UI_ONLY, Context, latent_source, reporter, shows_errors
from .tab_edit import directions_root

DISCOVER_MD = """
### 3 Discover: unsupervised directions (GANSpace, SeFa)
GANSpace (Härkönen et al., NeurIPS 2020) takes principal components $v_k$ of sampled
latents and edits with $w' = w + \\sum_k \\alpha_k v_k$. SeFa (Shen & Zhou, CVPR 2021,
eq. 5) uses the top eigenvectors of $A^\\top A$, where *A* is the generator's first
latent-to-feature weight.
"""


STRENGTHS = default_of(discover_actions.discover, "strengths")      # a strip's columns
SPAN = f"{min(STRENGTHS):+g} .. {max(STRENGTHS):+g}"


def _zoom(img: Image.Image, k: int) -> Image.Image:
    return img.resize((img.width * k, img.height * k), Image.NEAREST)


def make_callbacks(ctx: Context) -> dict:

    @shows_errors
    def discover(method, num_components, num_samples, source, seed, model, state, progress=gr.Progress()):
        """Find SeFa or GANSpace components and show each as a strength strip of the chosen latent."""
        d = discover_actions.discover(latent_source(source, seed, state, label="discover"), model=model,
                                      method=method, num_components=num_components, num_samples=num_samples,
                                      device=ctx.device, progress=reporter(progress))
        k = len(d.components.components)
        status = (f"{k} {method} components of {model}; rows: components 0..{k - 1}, columns: strengths {SPAN} "
                  f"({d.note}).")
        return _zoom(d.grid, 2), pd.DataFrame(d.rows), d.components, gr.update(maximum=max(1, k - 1), value=0), status

    @shows_errors
    def discover_component(components, index, limit, source, seed, model, state):
        """One component's strip from -limit to +limit."""
        s = discover_actions.component_strip(components, index, latent_source(source, seed, state, label="discover"),
                                             model=model, strengths=strip_strengths(limit), device=ctx.device)
        return _zoom(s.grid, 3)

    @shows_errors
    def use_as_slider(components, index, request: gr.Request):
        """Save a component as a session direction: a new slider in 2 Edit."""
        key = discover_actions.promote_component(components, index, root=directions_root(ctx, request))
        return f"Component {int(index)} is now the slider **{key}** in *2 Edit*."

    return dict(discover=discover, discover_component=discover_component, use_as_slider=use_as_slider)


def build(ctx: Context, edit_ui: dict) -> None:
    """Layout and events of tab 3; a component it promotes becomes a slider of tab 2 (``edit_ui``)."""
    cb = make_callbacks(ctx)
    model, state = ctx.model, ctx.state
    gr.Markdown(DISCOVER_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            method = gr.Radio([("SeFa (closed form, instant)", "sefa"), ("GANSpace (PCA of samples)", "ganspace")],
                              value="sefa", label="Method", elem_id="discover-method")
            num = gr.Slider(1, min(20, MAX_COMPONENTS), value=default_of(discover_actions.discover, "num_components"), step=1, label="Number of components")
            num_samples = gr.Slider(*discover_actions.GANSPACE_SAMPLES, value=default_of(discover_actions.discover, "num_samples"),
                                    step=100, label="GANSpace samples")
            with gr.Row():
                kind = gr.Radio(SOURCE_CHOICES, value="seed", label="Latent to show the components on", scale=3)
                seed = gr.Number(default_of(Source, "seed"), label="Seed", precision=0, scale=1)
            run = gr.Button("Discover", variant="primary", elem_id="discover-run")
            status = gr.Markdown(label="status", elem_id="discover-status")
            values = gr.Dataframe(headers=["index", "value", "meaning"], interactive=False, label="Components")
        with gr.Column(scale=2):
            grid = gr.Image(label=f"One row per component, strengths {SPAN}", format="png", interactive=False,
                            elem_id="discover-grid")
            with gr.Row():
                index = gr.Slider(0, 19, value=0, step=1, label="Component index", elem_id="discover-index")
                limit = gr.Slider(0.5, SLIDER_RANGE, value=max(default_of(discover_actions.component_strip, "strengths")), step=0.5, label="Strip range ±")
            with gr.Row():
                show = gr.Button("Show component", elem_id="discover-show")
                use = gr.Button("Use as slider in 2 Edit", elem_id="discover-use")
            strip = gr.Image(label="Component strip", format="png", interactive=False, elem_id="discover-strip")
            use_note = gr.Markdown(label="status", elem_id="discover-use-status")

    comps = gr.State(None)                     # the last Discover's components, browsed by index
    run.click(cb["discover"], [method, num, num_samples, kind, seed, model, state],
              [grid, values, comps, index, status], api_name="discover", **COMPUTE)
    browse = [comps, index, limit, kind, seed, model, state]
    show.click(cb["discover_component"], browse, [strip], api_name="discover_component", concurrency_id="edit")
    index.release(cb["discover_component"], browse, [strip], api_name="discover_component_release",
                  api_visibility="private", concurrency_id="edit", trigger_mode="always_last")
    use.click(cb["use_as_slider"], [comps, index], [use_note], api_name="use_as_slider",
              concurrency_limit=None).then(edit_ui["slots"], [model], edit_ui["slot_outputs"],
                                           api_name="edit_sliders_after_use", **UI_ONLY)
