"""Tab 2 Edit: move a latent along named directions (ganinv.actions.edit), strength strips, and
training a new InterFaceGAN boundary.

The sliders are UI only: their events build the mapping {direction: strength} and call the same
callback as the public ``/edit`` endpoint, which takes that mapping as one named parameter.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import gradio as gr
import pandas as pd
from PIL import Image

from ganinv.actions import Source, edit as edit_actions, faces
from ganinv.actions.common import default_of
from ganinv.settings import SLIDER_RANGE

from .common import (COMPUTE, LATEX, SOURCE_CHOICES, UI_ONLY, Context, pil, record_of, reporter, score_table, show,
                     shows_errors, latent_source)

EDIT_MD = """
### 2 Edit: semantic directions (InterFaceGAN)
InterFaceGAN (Shen et al., CVPR 2020, eq. 3 and 5) fits a linear boundary with unit normal
*n* for a binary attribute and edits by moving along it, $w' = w + \\alpha n$; conditional
editing removes a second attribute's direction, $n_1 - (n_1^\\top n_2)\\, n_2$.
That removes only its average trend: on the bundled model a smile also turns some heads, ages faces or
lightens the darkest ones. **Hold pose, age, gender** and **Keep skin tone** (on by default) therefore steer the
edited latent along those attributes' boundaries $n_k$ (made orthogonal to the edit) until each is back at the
face's own value, $w'' = w' + \\sum_k c_k n_k$ with $s_k(G(w'')) = s_k(G(w))$ (a damped Broyden search, at most
10 renders). **Target** turns the sliders into the change you want in the attribute's own units (smile score
0-1, degrees of yaw / pitch, years of age, P(male)); the same loop finds the strength.

**Paste back** (on once 1 Invert aligned a face) puts the edit into your photo at its own resolution: *flow*
(default) moves the photo's own pixels along the edit's motion (DIS optical flow between the tuned generator's
renders $G'(w)$ and $G'(w'')$) and adds only what the motion does not explain, without its skin-colour drift, a
training-free counterpart of HFGI's distortion re-alignment (Wang et al., CVPR 2022). The scores are then read
off the pasted photo.
"""

_LAST: OrderedDict[str, tuple] = OrderedDict()   # session -> (its last EditOutput, model): scored after it shows
LAST_KEPT = 16                     # sessions whose last edit is kept for scoring (each holds one photo)
MAX_SLOTS = 24                     # sliders: the model's shipped directions first, then the session's own
FAST = dict(concurrency_id="edit", concurrency_limit=2, show_progress="minimal")


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "-"


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
                gr.update(value=preview, visible=preview is not None), gr.update(interactive=has_face, value=has_face)]

    def edit_directions(model, request: gr.Request):
        """The direction names /edit accepts for the model, in slider order."""
        return {"model": model, "directions": slot_keys(ctx, model, request)}

    @shows_errors
    def edit_view(strengths, source, seed, keep, score, paste, model, state, keep_tone=True, hold=True, target=False,
                  paste_mode=edit_actions.DEFAULT_PASTE_MODE, request: gr.Request = None):
        """Edit a latent: strengths maps direction names to alpha, e.g. {"smile": 2, "yaw": -1} (with target: the
        change wanted in each attribute's own units, e.g. {"smile": 0.5}); hold keeps yaw, pitch, age and gender,
        keep_tone the skin tone (ITA), each by a closed loop along its boundary."""
        if not isinstance(strengths, dict):
            raise gr.Error('Strengths must be a mapping of direction names to numbers, e.g. {"smile": 2}.',
                           print_exception=False)
        kind = source or "seed"
        do_paste = bool(paste) and kind == "session"
        values = {k: v for k, v in strengths.items() if v not in (0, None)} if target else strengths
        r = edit_actions.edit(latent_source(kind, seed, state, label="edit"), {} if target else strengths,
                              targets=values if target else None, model=model, without=keep or [],
                              keep_tone=bool(keep_tone), hold=bool(hold), score=False, paste=do_paste,
                              paste_mode=paste_mode or edit_actions.DEFAULT_PASTE_MODE,
                              extra_root=directions_root(ctx, request), device=ctx.device)
        folder = ctx.folder(request)
        latent_path = edit_actions.save_edit(os.path.join(folder, "edited-latent.npz"), r)
        png_path = os.path.join(folder, "edited.png")
        (r.pasted if r.pasted is not None else pil(r.image)).save(png_path)      # the full-resolution photo
        _LAST[_session(request)] = (r, model)
        _LAST.move_to_end(_session(request))
        while len(_LAST) > LAST_KEPT:
            _LAST.popitem(last=False)
        applied = ", ".join(f"{k} {v:+.1f}" for k, v in r.strengths.items()) or "no edit"
        status = f"{r.model}, {r.note}: {applied}" + (f"; kept fixed: {', '.join(keep)}" if keep else "")
        status += f". {edit_actions.hold_summary(r.held)}" if r.held else ""
        status += f". {edit_actions.tone_summary(r.tone)}" if r.tone else ""
        if paste and not do_paste:
            status += ". Paste-back needs the latent from 1 Invert of an aligned face."
        compare = (r.prepared.original, r.pasted) if r.pasted is not None else None
        cosines = pd.DataFrame(r.cosines, columns=["direction", "condition", "cos_before", "cos_after"])
        return (show(r.before), show(r.image), gr.update(value=compare, visible=compare is not None),
                cosines, latent_path, png_path, status)

    def edit(strengths, source, seed, keep, score, paste, model, state, keep_tone=True, hold=True, target=False,
             paste_mode=edit_actions.DEFAULT_PASTE_MODE, request: gr.Request = None):
        """Edit a latent: strengths maps direction names to alpha, e.g. {"smile": 2, "yaw": -1} (with target: the
        change wanted in each attribute's own units, e.g. {"smile": 0.5}); hold keeps yaw, pitch, age and gender,
        keep_tone the skin tone (ITA), each by a closed loop along its boundary; paste puts the edit into the
        photo of a face aligned in 1 Invert (paste_mode flow, delta or face).  Returns the images and the scores."""
        shown = edit_view(strengths, source, seed, keep, score, paste, model, state, keep_tone, hold, target,
                          paste_mode, request)
        table, note = edit_scores(score, request)
        status = shown[-1] + (f". {note}" if note else "")
        return (*shown[:3], table, *shown[3:-1], status)

    @shows_errors
    def edit_scores(score, request: gr.Request = None):
        """Scores of the last edit (after the image is shown): read off the pasted photo when there is one."""
        last = _LAST.get(_session(request))
        if not score or last is None:
            return score_table(None), ""
        r, model = last
        edit_actions.score_edit(r, model=model, device=ctx.device)
        where = "photo" if r.photo_scores else "render"
        scores = dict(r.photo_scores or r.scores or {})
        sim = (r.identity or {}).get("photo_arcface_similarity", (r.identity or {}).get("arcface_similarity"))
        note = ""
        if sim is not None:                    # next to the scores: is the edited face still the person?
            scores = {f"identity (ArcFace cos to the original, {where})": (1.0, sim), **scores}
            note = f"Identity kept: ArcFace similarity {sim:.3f} to the original {where}"
        return score_table(scores or None), note

    def edit_sliders(source, seed, keep, score, paste, model, state, keep_tone, hold, target, paste_mode,
                     request: gr.Request, *values):
        """The sliders' event: their values as the named mapping /edit takes."""
        keys = slot_keys(ctx, model, request)
        return edit_view(dict(zip(keys, values)), source, seed, keep, score, paste, model, state, keep_tone, hold,
                         target, paste_mode, request)

    @shows_errors
    def edit_strip(source, seed, direction, limit, keep, model, state, on_photo=True, request: gr.Request = None):
        """The latent moved along one direction by seven strengths from -limit to +limit (on the photo: each
        frame pasted in, shown around the face at the photo's resolution)."""
        s = edit_actions.strip(latent_source(source, seed, state, label="edit"), direction, model=model,
                               strengths=edit_actions.strip_strengths(limit), without=keep or [],
                               extra_root=directions_root(ctx, request), device=ctx.device,
                               on_photo=bool(on_photo) and source == "session")
        grid = s.grid if s.on_photo else s.grid.resize((s.grid.width * 3, s.grid.height * 3), Image.NEAREST)
        where = " (pasted into the photo)" if s.on_photo else ""
        return grid, f"{s.label}{where}: strengths {', '.join(f'{a:+.2g}' for a in s.strengths)}"

    @shows_errors
    def train_boundary(attribute, num_samples, seed, model, request: gr.Request, progress=gr.Progress()):
        """Sample, score and fit a boundary for the attribute; it becomes a session slider."""
        t = edit_actions.train_boundary(attribute, root=directions_root(ctx, request), model=model,
                                        num_samples=num_samples, seed=seed, device=ctx.device,
                                        progress=reporter(progress))
        return (f"Trained **{t.key}** on {t.num_samples} samples in {t.seconds:.1f} s (faces found in "
                f"{t.detection_rate:.0%}): validation accuracy {t.accuracy_val:.3f}, remaining samples "
                f"{t.accuracy_rest:.3f}. Added to the sliders."), t.path

    return dict(slots=slots, on_state=on_state, edit_directions=edit_directions, edit=edit, edit_view=edit_view,
                edit_scores=edit_scores,
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
                seed = gr.Number(default_of(Source, "seed"), label="Seed", precision=0, scale=1, elem_id="edit-seed")
            gr.Markdown("Move a slider and release it to re-render. Strength α is in units of the latent's "
                        f"standard deviation (±{SLIDER_RANGE:g}).")
            sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0, step=0.1, label=keys[i] if i < len(keys) else "",
                                 visible=i < len(keys), elem_id=f"edit-slider-{i}") for i in range(MAX_SLOTS)]
            keep = gr.Dropdown(edit_actions.condition_names(ctx.model.value), value=[], multiselect=True,
                               elem_id="edit-keep", label="Keep fixed (conditional editing: n1 - (n1·n2) n2)")
            target = gr.Checkbox(False, label="Target: sliders set the change in the attribute's units",
                                 info="smile 0-1, yaw / pitch degrees, age years, male P(male)", elem_id="edit-target")
            with gr.Row():
                score = gr.Checkbox(True, label="Score attributes")
                paste = gr.Checkbox(False, label="Paste back into the photo", interactive=False,
                                    info="for a face aligned in 1 Invert", elem_id="edit-paste")
                keep_tone = gr.Checkbox(True, label="Keep skin tone", elem_id="edit-keep-tone",
                                        info="the face's ITA held, in the render and on the photo")
                hold = gr.Checkbox(True, label="Hold pose, age, gender", elem_id="edit-hold",
                                   info="what you did not ask to change stays")
            paste_mode = gr.Radio(list(edit_actions.PASTE_MODES), value=edit_actions.DEFAULT_PASTE_MODE,
                                  label="Paste mode", elem_id="edit-paste-mode",
                                  info="; ".join(f"{k}: {v}" for k, v in edit_actions.PASTE_MODE_HELP.items()))
            with gr.Row():
                render = gr.Button("Render", variant="primary", elem_id="edit-render")
                reset = gr.Button("Reset sliders")
            strengths = gr.JSON({}, label="Strengths (what /edit takes)", visible=False)
        with gr.Column(scale=2):
            status = gr.Markdown(label="status", elem_id="edit-status")
            score_note = gr.Markdown(elem_id="edit-identity")
            with gr.Row():
                before = gr.Image(label="Before", format="png", interactive=False, elem_id="edit-before")
                after = gr.Image(label="After", format="png", interactive=False, elem_id="edit-after")
            pasted = gr.ImageSlider(label="Your photo: before | after (drag to compare; full resolution)",
                                    format="png", interactive=False, visible=False, elem_id="edit-pasted")
            scores = gr.Dataframe(headers=["attribute", "before", "after", "change"], interactive=False,
                                  label="Identity kept and attribute scores (ArcFace; MediaPipe blendshapes / "
                                        "pose, PyEmotion, face-api age / gender, skin tone ITA)",
                                  elem_id="edit-scores")
            cosines = gr.Dataframe(headers=["direction", "condition", "cos_before", "cos_after"], interactive=False,
                                   label="Conditional editing: cosines before / after the projection")
            with gr.Row():
                latent_out = gr.File(label="Edited latent (.npz)", interactive=False, elem_id="edit-latent")
                png_out = gr.File(label="Edited photo (PNG, full resolution)", interactive=False, elem_id="edit-png")
            with gr.Accordion("Strength strip", open=False):
                with gr.Row():
                    strip_dir = gr.Dropdown(keys, value=keys[0] if keys else None, label="Direction",
                                            allow_custom_value=True, elem_id="edit-strip-direction")
                    strip_max = gr.Slider(0.5, SLIDER_RANGE, value=max(default_of(edit_actions.strip, "strengths")), step=0.5,
                                          label="Strip range ±")
                    strip_photo = gr.Checkbox(True, label="On the photo", info="each frame pasted in (1 Invert)",
                                              elem_id="edit-strip-photo")
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
                num_samples = default_of(edit_actions.train_boundary, "num_samples")
                gr.Markdown("Samples the model, scores each image, fits a linear SVM and saves the unit normal "
                            f"as a session direction (a new slider). {num_samples} samples take about a minute on a CPU.")
                with gr.Row():
                    attr = gr.Dropdown(list(edit_actions.ATTRIBUTES), value="smile", label="Attribute (scorer)")
                    n = gr.Slider(*edit_actions.TRAIN_SAMPLES, value=num_samples, step=10, label="Samples N")
                    tseed = gr.Number(default_of(edit_actions.train_boundary, "seed"), label="Seed", precision=0)
                train_btn = gr.Button("Train boundary", elem_id="edit-train")
                train_status = gr.Markdown(label="status", elem_id="edit-train-status")
                train_file = gr.File(label="Direction (.npy; metadata .json beside it)", interactive=False)

    slot_outputs = [*sliders, keep, strip_dir]
    options = [kind, seed, keep, score, paste, model, state, keep_tone, hold, target, paste_mode]
    view_out = [before, after, pasted, cosines, latent_out, png_out, status]
    edit_out = [before, after, pasted, scores, cosines, latent_out, png_out, status]
    score_out = [scores, score_note]
    # The public endpoint: named strengths.  A hidden button carries it; the sliders call the same function.
    api_btn = gr.Button(visible=False)
    # The image first, then its scores (read off the pasted photo: they take longer than the edit itself).
    scored = dict(fn=cb["edit_scores"], inputs=[score], outputs=score_out, **{**FAST, "api_visibility": "private"})
    api_btn.click(cb["edit"], [strengths, *options], edit_out, api_name="edit", **FAST)
    # Renders on what the user does (.input, not .change: the updates below would cascade into extra renders).
    gr.on([*(s.release for s in sliders), render.click, keep.input, paste.input, kind.input,
           keep_tone.input, hold.input, target.input, paste_mode.input], cb["edit_sliders"],
          [*options, *sliders], view_out, api_name="edit_sliders", trigger_mode="always_last",
          **{**FAST, "api_visibility": "private"}).then(api_name="edit_sliders_scores", **scored)
    reset.click(lambda: [0] * MAX_SLOTS, None, sliders, api_name="edit_reset", api_visibility="private",
                queue=False).then(cb["edit_sliders"], [*options, *sliders], view_out, api_name="edit_after_reset",
                                  **{**FAST, "api_visibility": "private"}).then(api_name="edit_reset_scores", **scored)
    strip_btn.click(cb["edit_strip"], [kind, seed, strip_dir, strip_max, keep, model, state, strip_photo],
                    [strip_img, strip_note], api_name="edit_strip", **FAST)
    state.change(cb["on_state"], [model, state], [*slot_outputs, kind, alignment, paste], api_name="edit_new_latent",
                 **UI_ONLY).then(cb["edit_sliders"], [*options, *sliders], view_out, api_name="edit_new_latent_render",
                                 **{**FAST, "api_visibility": "private"}).then(api_name="edit_new_latent_scores",
                                                                               **scored)
    model.change(cb["slots"], [model], slot_outputs, api_name="edit_model_sliders", **UI_ONLY)
    train_btn.click(cb["train_boundary"], [attr, n, tseed, model], [train_status, train_file],
                    api_name="train_boundary", **COMPUTE).then(cb["slots"], [model], slot_outputs,
                                                               api_name="edit_sliders_after_train", **UI_ONLY)
    directions_btn = gr.Button(visible=False)
    directions_json = gr.JSON(visible=False)
    directions_btn.click(cb["edit_directions"], [model], [directions_json], api_name="edit_directions",
                         concurrency_limit=None)
    return {"slots": cb["slots"], "slot_outputs": slot_outputs}
