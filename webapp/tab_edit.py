"""Tab 2 Edit: move a latent along named directions (ganinv.actions.edit), strength strips, and
training a new InterFaceGAN boundary.

The sliders are UI only: their events build the mapping {direction: strength} and call the same
callback as the public ``/edit`` endpoint, which takes that mapping as one named parameter.
"""
from __future__ import annotations

import os

import gradio as gr
import pandas as pd
from PIL import Image

from ganinv.actions import edit as edit_actions, faces
from ganinv.settings import SLIDER_RANGE

from .common import (COMPUTE, LATEX, SOURCE_CHOICES, UI_ONLY, Context, pil, record_of, reporter, score_table, show,
                     shows_errors, latent_source)

EDIT_MD = """
### 2 Edit: semantic directions (InterFaceGAN)
InterFaceGAN (Shen et al., CVPR 2020, eq. 3 and 5) fits a linear boundary with unit normal
*n* for a binary attribute and edits by moving along it, $w' = w + \\alpha n$; conditional
editing removes a second attribute's direction, $n_1 - (n_1^\\top n_2)\\, n_2$.
That removes only its average trend: on the bundled model a smile lightens the darkest faces by ~18° of skin
tone (ITA). **Keep skin tone** (on by default) therefore steps the edited latent along the skin-tone boundary
$n_t$ until the face has its own tone again, $w'' = w' + c\\, n_t$ with $ITA(G(w'')) = ITA(G(w))$
(a secant search, 1-3 extra renders).
"""

MAX_SLOTS = 24                     # sliders: the model's shipped directions first, then the session's own
FAST = dict(concurrency_id="edit", concurrency_limit=2, show_progress="minimal")


def directions_root(ctx: Context, request: gr.Request | None) -> str:
    """Where this session's own directions (trained boundaries, promoted components) are saved."""
    return ctx.folder(request, "directions")


def slot_keys(ctx: Context, model: str, request: gr.Request | None) -> list[str]:
    """Direction keys in slider order: shipped ones, then the session's ("<name> (session)")."""
    return list(edit_actions.directions_for(model, extra_root=directions_root(ctx, request)))[:MAX_SLOTS]


def make_callbacks(ctx: Context) -> dict:

    def slots(model, request: gr.Request):
        """Sliders, keep-fixed and strip lists for the model's directions (values reset to 0)."""
        keys = slot_keys(ctx, model, request)
        sliders = [gr.update(visible=i < len(keys), label=keys[i] if i < len(keys) else "", value=0)
                   for i in range(MAX_SLOTS)]
        strip = gr.update(choices=keys, value=keys[0] if keys else None)
        return [*sliders, gr.update(choices=edit_actions.condition_names(model), value=[]), strip]

    def on_state(model, state, request: gr.Request):
        """A new session latent: edit it, reset the sliders, show the alignment preview of an aligned face."""
        record = record_of(state)
        prepared = record.prepared if record is not None else None
        preview = faces.alignment_preview(prepared)
        has_face = getattr(prepared, "aligned", None) is not None
        return [*slots(model, request), gr.update(value="session" if record is not None else "seed"),
                gr.update(value=preview, visible=preview is not None), gr.update(interactive=has_face, value=False)]

    def edit_directions(model, request: gr.Request):
        """The direction names /edit accepts for the model, in slider order."""
        return {"model": model, "directions": slot_keys(ctx, model, request)}

    @shows_errors
    def edit(strengths, source, seed, keep, score, paste, model, state, keep_tone=True, request: gr.Request = None):
        """Edit a latent: strengths maps direction names to alpha, e.g. {"smile": 2, "yaw": -1}; keep_tone holds
        the face's skin tone (ITA) by a step along the model's skin-tone boundary."""
        if not isinstance(strengths, dict):
            raise gr.Error('Strengths must be a mapping of direction names to numbers, e.g. {"smile": 2}.',
                           print_exception=False)
        kind = source or "seed"
        do_paste = bool(paste) and kind == "session"
        r = edit_actions.edit(latent_source(kind, seed, state, label="edit"), strengths, model=model,
                              without=keep or [], keep_tone=bool(keep_tone), score=bool(score), paste=do_paste,
                              extra_root=directions_root(ctx, request), device=ctx.device)
        folder = ctx.folder(request)
        latent_path = edit_actions.save_edit(os.path.join(folder, "edited-latent.npz"), r)
        png_path = os.path.join(folder, "edited.png")
        pil(r.image).save(png_path)
        applied = ", ".join(f"{k} {v:+.1f}" for k, v in r.strengths.items()) or "no edit"
        status = f"{r.model}, {r.note}: {applied}" + (f"; kept fixed: {', '.join(keep)}" if keep else "")
        scores = dict(r.scores or {})
        sim = (r.identity or {}).get("arcface_similarity")
        if sim is not None:                    # next to the scores: is the edited face still the person?
            scores = {"identity (ArcFace cos to the original)": (1.0, sim), **scores}
            verdict = "same person" if r.identity.get("arcface_same_person") else "another person"
            status += f". Identity kept: ArcFace similarity {sim:.3f} to the original ({verdict})"
        elif r.identity:
            status += f". Identity: {r.identity.get('identity_note', 'not measured')}"
        status += f". {edit_actions.tone_summary(r.tone)}" if r.tone else ""
        if paste and not do_paste:
            status += ". Paste-back needs the latent from 1 Invert of an aligned face."
        cosines = pd.DataFrame(r.cosines, columns=["direction", "condition", "cos_before", "cos_after"])
        return (show(r.before), show(r.image), gr.update(value=r.pasted, visible=r.pasted is not None),
                score_table(scores or None), cosines, latent_path, png_path, status)

    def edit_sliders(source, seed, keep, score, paste, model, state, keep_tone, request: gr.Request, *values):
        """The sliders' event: their values as the named mapping /edit takes."""
        keys = slot_keys(ctx, model, request)
        return edit(dict(zip(keys, values)), source, seed, keep, score, paste, model, state, keep_tone, request)

    @shows_errors
    def edit_strip(source, seed, direction, limit, keep, model, state, request: gr.Request):
        """The latent moved along one direction by seven strengths from -limit to +limit."""
        s = edit_actions.strip(latent_source(source, seed, state, label="edit"), direction, model=model,
                               strengths=edit_actions.strip_strengths(limit), without=keep or [],
                               extra_root=directions_root(ctx, request), device=ctx.device)
        return (s.grid.resize((s.grid.width * 3, s.grid.height * 3), Image.NEAREST),
                f"{s.label}: strengths {', '.join(f'{a:+.2g}' for a in s.strengths)}")

    @shows_errors
    def train_boundary(attribute, num_samples, seed, model, request: gr.Request, progress=gr.Progress()):
        """Sample, score and fit a boundary for the attribute; it becomes a session slider."""
        t = edit_actions.train_boundary(attribute, root=directions_root(ctx, request), model=model,
                                        num_samples=num_samples, seed=seed, device=ctx.device,
                                        progress=reporter(progress))
        return (f"Trained **{t.key}** on {t.num_samples} samples in {t.seconds:.1f} s (faces found in "
                f"{t.detection_rate:.0%}): validation accuracy {t.accuracy_val:.3f}, remaining samples "
                f"{t.accuracy_rest:.3f}. Added to the sliders."), t.path

    return dict(slots=slots, on_state=on_state, edit_directions=edit_directions, edit=edit,
                edit_sliders=edit_sliders, edit_strip=edit_strip, train_boundary=train_boundary)


def build(ctx: Context) -> dict:
    """Layout and events of tab 2; returns what other tabs refresh (the slider slots)."""
    cb = make_callbacks(ctx)
    model, state = ctx.model, ctx.state
    keys = list(edit_actions.directions_for(ctx.model.value))[:MAX_SLOTS]
    gr.Markdown(EDIT_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=1):
            with gr.Row():
                kind = gr.Radio(SOURCE_CHOICES, value="seed", label="Latent to edit", scale=3, elem_id="edit-source")
                seed = gr.Number(0, label="Seed", precision=0, scale=1, elem_id="edit-seed")
            gr.Markdown("Move a slider and release it to re-render. Strength α is in units of the latent's "
                        f"standard deviation (±{SLIDER_RANGE:g}).")
            sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0, step=0.1, label=keys[i] if i < len(keys) else "",
                                 visible=i < len(keys), elem_id=f"edit-slider-{i}") for i in range(MAX_SLOTS)]
            keep = gr.Dropdown(edit_actions.condition_names(ctx.model.value), value=[], multiselect=True,
                               elem_id="edit-keep", label="Keep fixed (conditional editing: n1 - (n1·n2) n2)")
            with gr.Row():
                score = gr.Checkbox(True, label="Score attributes")
                paste = gr.Checkbox(False, label="Paste back into the photo", interactive=False,
                                    info="for a face aligned in 1 Invert", elem_id="edit-paste")
                keep_tone = gr.Checkbox(True, label="Keep skin tone", elem_id="edit-keep-tone",
                                        info="step along the skin-tone boundary until the face's ITA is back")
            with gr.Row():
                render = gr.Button("Render", variant="primary", elem_id="edit-render")
                reset = gr.Button("Reset sliders")
            strengths = gr.JSON({}, label="Strengths (what /edit takes)", visible=False)
        with gr.Column(scale=2):
            status = gr.Markdown(label="status", elem_id="edit-status")
            with gr.Row():
                before = gr.Image(label="Before", format="png", interactive=False, elem_id="edit-before")
                after = gr.Image(label="After", format="png", interactive=False, elem_id="edit-after")
            pasted = gr.Image(label="Edited face pasted back into the photo", format="png", interactive=False,
                              visible=False, elem_id="edit-pasted")
            scores = gr.Dataframe(headers=["attribute", "before", "after", "change"], interactive=False,
                                  label="Identity kept and attribute scores (ArcFace; MediaPipe blendshapes / "
                                        "pose, PyEmotion, face-api age / gender, skin tone ITA)",
                                  elem_id="edit-scores")
            cosines = gr.Dataframe(headers=["direction", "condition", "cos_before", "cos_after"], interactive=False,
                                   label="Conditional editing: cosines before / after the projection")
            with gr.Row():
                latent_out = gr.File(label="Edited latent (.npz)", interactive=False, elem_id="edit-latent")
                png_out = gr.File(label="Edited image (PNG)", interactive=False, elem_id="edit-png")
            with gr.Accordion("Strength strip", open=False):
                with gr.Row():
                    strip_dir = gr.Dropdown(keys, value=keys[0] if keys else None, label="Direction",
                                            allow_custom_value=True, elem_id="edit-strip-direction")
                    strip_max = gr.Slider(0.5, SLIDER_RANGE, value=3.0, step=0.5, label="Strip range ±")
                strip_btn = gr.Button("Show strip", elem_id="edit-strip-button")
                strip_img = gr.Image(label="-range ... +range", format="png", interactive=False, elem_id="edit-strip")
                strip_note = gr.Markdown(label="status")
            with gr.Accordion("Disentanglement: what each direction also changes", open=False):
                dis = edit_actions.disentanglement(ctx.model.value)
                gr.Markdown("Change of every score from strength −s to +s on held-out samples of the model "
                            "(`scripts/disentanglement.py`): the row of a direction shows what else it moves, "
                            "e.g. how much the plain `age` direction changes `male` and `age-without-gender` does "
                            "not." + ("" if dis else " No matrix has been measured for this model."))
                if dis:
                    gr.Dataframe(pd.DataFrame([{k: (round(v, 2) if isinstance(v, float) else v)
                                                for k, v in r.items()} for r in dis.rows]),
                                 label=f"change from -{dis.strength:g} to +{dis.strength:g}, {dis.num_samples} "
                                       f"samples; units: " + ", ".join(f"{a} {u}" for a, u in dis.units.items()
                                                                        if a in dis.attributes),
                                 interactive=False, wrap=True, elem_id="edit-disentanglement")
            alignment = gr.Image(label="Alignment preview (landmarks and the crop quad on the original photo)",
                                 format="png", interactive=False, visible=False, elem_id="edit-alignment")
            with gr.Accordion("Train a new boundary (InterFaceGAN)", open=False):
                gr.Markdown("Samples the model, scores each image, fits a linear SVM and saves the unit normal "
                            "as a session direction (a new slider). 200 samples take about a minute on a CPU.")
                with gr.Row():
                    attr = gr.Dropdown(list(edit_actions.ATTRIBUTES), value="smile", label="Attribute (scorer)")
                    n = gr.Slider(*edit_actions.TRAIN_SAMPLES, value=200, step=10, label="Samples N")
                    tseed = gr.Number(0, label="Seed", precision=0)
                train_btn = gr.Button("Train boundary", elem_id="edit-train")
                train_status = gr.Markdown(label="status", elem_id="edit-train-status")
                train_file = gr.File(label="Direction (.npy; metadata .json beside it)", interactive=False)

    slot_outputs = [*sliders, keep, strip_dir]
    options = [kind, seed, keep, score, paste, model, state, keep_tone]
    edit_out = [before, after, pasted, scores, cosines, latent_out, png_out, status]
    # The public endpoint: named strengths.  A hidden button carries it; the sliders call the same function.
    api_btn = gr.Button(visible=False)
    api_btn.click(cb["edit"], [strengths, *options], edit_out, api_name="edit", **FAST)
    # Renders on what the user does (.input, not .change: the updates below would cascade into extra renders).
    gr.on([*(s.release for s in sliders), render.click, keep.input, paste.input, kind.input,
           keep_tone.input], cb["edit_sliders"],
          [*options, *sliders], edit_out, api_name="edit_sliders", trigger_mode="always_last",
          **{**FAST, "api_visibility": "private"})
    reset.click(lambda: [0] * MAX_SLOTS, None, sliders, api_name="edit_reset", api_visibility="private",
                queue=False).then(cb["edit_sliders"], [*options, *sliders], edit_out, api_name="edit_after_reset",
                                  **{**FAST, "api_visibility": "private"})
    strip_btn.click(cb["edit_strip"], [kind, seed, strip_dir, strip_max, keep, model, state], [strip_img, strip_note],
                    api_name="edit_strip", **FAST)
    state.change(cb["on_state"], [model, state], [*slot_outputs, kind, alignment, paste], api_name="edit_new_latent",
                 **UI_ONLY).then(cb["edit_sliders"], [*options, *sliders], edit_out, api_name="edit_new_latent_render",
                                 **{**FAST, "api_visibility": "private"})
    model.change(cb["slots"], [model], slot_outputs, api_name="edit_model_sliders", **UI_ONLY)
    train_btn.click(cb["train_boundary"], [attr, n, tseed, model], [train_status, train_file],
                    api_name="train_boundary", **COMPUTE).then(cb["slots"], [model], slot_outputs,
                                                               api_name="edit_sliders_after_train", **UI_ONLY)
    directions_btn = gr.Button(visible=False)
    directions_json = gr.JSON(visible=False)
    directions_btn.click(cb["edit_directions"], [model], [directions_json], api_name="edit_directions",
                         concurrency_limit=None)
    return {"slots": cb["slots"], "slot_outputs": slot_outputs}
