"""The page: a header, the model choice every tab uses, and the seven tabs in the order a user works."""
from __future__ import annotations

import gradio as gr

from ganinv.actions import models
from ganinv.settings import DEFAULT_MODEL

from . import tab_discover, tab_edit, tab_invert, tab_mix, tab_models, tab_restore, tab_results, tab_text
from .common import STATE_TTL_S, Context, Sessions, model_choices

HEADER = """
# ganinv: GAN inversion and latent editing

**Invert** a photo into a generator's latent space, i.e. find the code *w* whose image
*G(w)* looks like the photo, then **edit** it by moving *w* along meaningful directions.
Work through the tabs from left to right: the latent found in *1 Invert* is kept for this
session and used by the later tabs. Every tab works with the model picked below; the bundled
model is a 64x64 DCGAN trained on celebrity faces that runs on a CPU, and StyleGAN2 models
appear in *7 Models* once their weights are in `checkpoints/`. Everything here is also a
`python -m ganinv` command and a Python call (`ganinv.actions`).
"""


def example_images(folder: str | None = None, device: str | None = None) -> list[str]:
    """The example inputs shown under the upload (ganinv.actions.models.example_images)."""
    return models.example_images(folder, device=device)


def build_app(*, device: str | None = None, max_concurrency: int = 1) -> gr.Blocks:
    """The whole app (queue configured); ``launch()`` it or mount it."""
    ctx = Context(device=device, sessions=Sessions())
    examples = example_images(device=device)
    with gr.Blocks(title="ganinv: GAN inversion", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        ctx.state = gr.State(None, time_to_live=STATE_TTL_S)       # the session's Record (ganinv.actions)
        gr.Markdown(HEADER)
        with gr.Row(equal_height=True):
            ctx.model = gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="Model (used by every tab)",
                                    elem_id="model", scale=1)
            model_note = gr.Markdown(models.model_info(DEFAULT_MODEL).message, label="model note",
                                     elem_id="model-note")
        with gr.Tabs():
            with gr.Tab("1 Invert", id="invert"):
                invert_ui = tab_invert.build(ctx, examples)
            with gr.Tab("2 Edit", id="edit"):
                edit_ui = tab_edit.build(ctx)
            with gr.Tab("3 Discover", id="discover"):
                tab_discover.build(ctx, edit_ui)
            with gr.Tab("4 Morph & Mix", id="morph"):
                tab_mix.build(ctx)
            with gr.Tab("5 Text edit", id="text"):
                tab_text.build(ctx)
            with gr.Tab("6 Restore", id="restore"):
                tab_restore.build(ctx)
            with gr.Tab("7 Models", id="models"):
                models_cb = tab_models.build(ctx)
                tab_results.build(ctx)
        ctx.model.change(models_cb["select_model"], [ctx.model], [invert_ui["space"], model_note],
                         api_name="select_model", concurrency_limit=None)
        demo.unload(ctx.sessions.close)
        loaded = gr.Button(visible=False)
        loaded.click(models_cb["loaded_models"], None, gr.JSON(visible=False), api_name="loaded_models",
                     concurrency_limit=None)
    demo.queue(default_concurrency_limit=max_concurrency, max_size=32)
    return demo
