"""Tab 5 Text edit: StyleCLIP's latent optimisation, latent mapper and global direction
(ganinv.actions.text).  CLIP is chosen once per process (env GANINV_CLIP, see the action)."""
from __future__ import annotations

import os

import gradio as gr

from ganinv.actions import Source, text
from ganinv.actions.common import default_of
from ganinv.settings import MAX_STEPS

from .common import (COMPUTE, LATEX, SOURCE_CHOICES, UI_ONLY, Context, latent_source, loss_figure, metric_table,
                     pil, record_of, reporter, show, shows_errors)

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

METHODS = {"optimize": "Latent optimisation", "mapper": "Latent mapper", "global": "Global direction"}
LOSS_TERMS = {"loss": "total", "clip": "D_CLIP", "l2": "λ_L2·L2", "id": "λ_ID·ID"}


def _short(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[: n - 25] + " ... " + s[-20:]


def _curve(history: list[dict], title: str, settings: dict):
    """Loss terms as they enter the total: D_CLIP, λ_L2·L2, λ_ID·ID (terms that stay 0 are left out)."""
    weights = {"l2": settings.get("l2_weight", 1.0), "id": settings.get("id_weight", 1.0)}
    return loss_figure(history, LOSS_TERMS, weights=weights, title=title, log=False)


def _warn(warnings) -> str:
    for w in warnings:
        gr.Warning(w)
    return "".join(f"\n\n⚠️ {w}" for w in warnings)


def method_choices(info: text.TextInfo) -> list[tuple[str, str]]:
    """Radio choices; a method the model or the CLIP weights cannot run is marked (its panel says why).
    The mapper stays usable without CLIP: applying a saved mapper needs none."""
    usable = {"optimize": info.clip_ok, "mapper": True, "global": info.glob_ok}
    return [(label + ("" if usable[k] else " (unavailable)"), k) for k, label in METHODS.items()]


def make_callbacks(ctx: Context) -> dict:
    clip = ctx.clip

    def clip_status(model):
        """What each method can do for the model with this machine's CLIP (nothing is loaded)."""
        i = text.text_info(model, clip, device=ctx.device)
        names = [m[1] for m in i.mappers]
        return (i.status, gr.update(choices=method_choices(i)),
                gr.update(value=i.opt_reason, visible=bool(i.opt_reason)), gr.update(interactive=i.clip_ok),
                gr.update(value=i.map_reason, visible=bool(i.map_reason)), gr.update(interactive=i.clip_ok),
                gr.update(interactive=bool(names)), gr.update(choices=i.mappers, value=names[0] if names else None),
                gr.update(value=i.glob_reason, visible=bool(i.glob_reason)), gr.update(interactive=i.glob_ok))

    def save(request, stem: str, out: text.TextOutput) -> tuple[str, str]:
        folder = ctx.folder(request)
        png = os.path.join(folder, f"{stem}.png")
        pil(out.image).save(png)
        suffix = "-styles.npz" if out.latent is None else "-latent.npz"
        return text.save_output(os.path.join(folder, stem + suffix), out), png

    @shows_errors
    def text_edit(prompt, l2_weight, id_weight, steps, source, seed, model, state, request: gr.Request,
                  progress=gr.Progress()):
        """Latent optimisation towards the prompt (eq. 1)."""
        r = text.text_edit(latent_source(source, seed, state, label="text edit"), prompt, model=model, clip=clip,
                           steps=steps, l2_weight=l2_weight, id_weight=id_weight, device=ctx.device,
                           progress=reporter(progress))
        lat, png = save(request, "text-edit", r)
        x = r.extra
        status = (f"'{_short(x['prompt'])}' ({r.note}): D_CLIP {x['clip_distance_before'][0]:.4f} → "
                  f"{x['clip_distance_after'][0]:.4f} in {dict(r.metrics)['steps']} steps, "
                  f"{x['seconds']:.1f} s." + _warn(r.warnings))
        return (show(r.before), show(r.image), _curve(r.loss_history, "latent optimisation", r.settings),
                metric_table(r.metrics), lat, png, status)

    @shows_errors
    def train_mapper(prompt, steps, model, progress=gr.Progress()):
        """Train a latent mapper M_t for the prompt and save it in checkpoints/."""
        t = text.train_mapper(prompt, model=model, clip=clip, steps=steps, device=ctx.device,
                              progress=reporter(progress))
        h = t.loss_history
        name = os.path.basename(t.path)
        status = (f"Trained a mapper for '{_short(t.prompt)}' in {t.seconds:.1f} s: loss {h[0]['loss']:.4f} → "
                  f"{h[-1]['loss']:.4f} over {len(h)} steps; saved as `{name}`. {t.identity_reason}."
                  + _warn(t.warnings))
        return (status, gr.update(choices=text.mapper_files(model), value=name), gr.update(interactive=True),
                _curve(h, "mapper training", t.settings))

    @shows_errors
    def apply_mapper(mapper, strength, source, seed, model, state, request: gr.Request):
        """w + strength M_t(w) with a saved mapper (a file name from the list)."""
        r = text.apply_mapper(latent_source(source, seed, state, label="text edit"), mapper, model=model,
                              strength=strength, clip=clip, device=ctx.device)
        lat, png = save(request, "mapper-edit", r)
        status = f"Mapper '{r.extra.get('prompt') or mapper}' at strength {r.extra['strength']:g} ({r.note})."
        if clip.tiny or "tiny-random" in str(r.extra.get("clip_model", "")):
            status += " " + text.TINY_NOTE
        return show(r.before), show(r.image), metric_table(r.metrics), lat, png, status

    @shows_errors
    def global_edit(neutral, target, alpha, beta, source, seed, model, state, request: gr.Request,
                    progress=gr.Progress()):
        """Move the style channels relevant to neutral -> target (StyleGAN2 only)."""
        r = text.global_edit(latent_source(source, seed, state, label="text edit"), neutral, target, model=model,
                             clip=clip, alpha=alpha, beta=beta, device=ctx.device, progress=reporter(progress))
        styles, png = save(request, "global-edit", r)
        status = (f"'{_short(r.extra['neutral'])}' → '{_short(r.extra['target'])}' ({r.note}): "
                  f"{r.extra['num_channels']} style channels moved." + _warn(r.warnings))
        return show(r.before), show(r.image), metric_table(r.metrics), styles, png, status

    def source_for(state):
        """A new session latent (tab 1) becomes the default thing to edit."""
        return gr.update(value="session" if record_of(state) is not None else "seed")

    return dict(clip_status=clip_status, text_edit=text_edit, train_mapper=train_mapper, apply_mapper=apply_mapper,
                global_edit=global_edit, source_for=source_for)


def build(ctx: Context) -> None:
    cb = make_callbacks(ctx)
    model, state = ctx.model, ctx.state
    i = text.text_info(ctx.model.value, ctx.clip, device=ctx.device)
    names = [m[1] for m in i.mappers]
    gr.Markdown(TEXT_MD, latex_delimiters=LATEX)
    status = gr.Markdown(i.status, label="CLIP status", elem_id="text-clip-status")
    with gr.Row():
        with gr.Column(scale=1):
            method = gr.Radio(method_choices(i), value="optimize", label="Method", elem_id="text-method")
            with gr.Row():
                kind = gr.Radio(SOURCE_CHOICES, value="seed", label="Latent to edit", scale=3, elem_id="text-source")
                seed = gr.Number(default_of(Source, "seed"), label="Seed", precision=0, scale=1, elem_id="text-seed")
            prompt = gr.Textbox("a smiling face", label="Prompt t (in English; the target for global direction)",
                                max_lines=3, elem_id="text-prompt")
            with gr.Column(visible=True) as opt_panel:
                opt_reason = gr.Markdown(i.opt_reason, visible=bool(i.opt_reason), elem_id="text-opt-reason")
                with gr.Row():
                    l2 = gr.Number(default_of(text.text_edit, "l2_weight"), label="λ_L2", minimum=0,
                                   info="stay close to w_s (the paper's weight)")
                    idw = gr.Number(default_of(text.text_edit, "id_weight"), label="λ_ID", minimum=0,
                                    info="keep identity (the paper's weight; 0: off)")
                steps = gr.Slider(1, MAX_STEPS, value=default_of(text.text_edit, "steps"), step=1, label="Steps (paper: 300)",
                                  elem_id="text-steps")
                opt_run = gr.Button("Run text edit", variant="primary", interactive=i.clip_ok, elem_id="text-run")
            with gr.Column(visible=False) as map_panel:
                map_reason = gr.Markdown(i.map_reason, visible=bool(i.map_reason), elem_id="text-map-reason")
                mapper_file = gr.Dropdown(i.mappers, value=names[0] if names else None, allow_custom_value=True,
                                          label="Mapper (checkpoints/mapper-<model>-*.safetensors)",
                                          elem_id="text-mapper-file")
                strength = gr.Slider(-3, 3, value=default_of(text.apply_mapper, "strength"), step=0.1, label="Mapper strength α in w + α M_t(w)")
                apply_run = gr.Button("Apply mapper", variant="primary", interactive=bool(names),
                                      elem_id="text-apply-mapper")
                with gr.Accordion("Train a mapper for the prompt", open=False):
                    gr.Markdown("Trains M_t on freshly sampled latents (batch 2, the paper's losses) and saves it "
                                "in `checkpoints/`. The authors trained 50k steps on a GPU; a few hundred on a "
                                "CPU take minutes and give a rough mapper.")
                    map_steps = gr.Slider(1, 5000, value=default_of(text.train_mapper, "steps"), step=1, label="Training steps")
                    train_run = gr.Button("Train mapper", interactive=i.clip_ok, elem_id="text-train-mapper")
            with gr.Column(visible=False) as glob_panel:
                glob_reason = gr.Markdown(i.glob_reason, visible=bool(i.glob_reason), elem_id="text-global-reason")
                neutral = gr.Textbox("a face", label="Neutral prompt (what the image shows now)", max_lines=2)
                with gr.Row():
                    alpha = gr.Slider(-10, 10, value=default_of(text.global_edit, "alpha"), step=0.1, label="Strength α")
                    beta = gr.Slider(0, 0.5, value=default_of(text.global_edit, "beta"), step=0.01, label="Threshold β (disentanglement)")
                glob_run = gr.Button("Apply global direction", variant="primary", interactive=i.glob_ok,
                                     elem_id="text-global-run")
            refresh = gr.Button("Check CLIP and model again", size="sm", elem_id="text-refresh")
        with gr.Column(scale=2):
            run_status = gr.Markdown(label="status", elem_id="text-status")
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

    method.change(lambda m: [gr.update(visible=m == k) for k in METHODS], [method], [opt_panel, map_panel, glob_panel],
                  api_name="text_method", api_visibility="private", queue=False)
    status_out = [status, method, opt_reason, opt_run, map_reason, train_run, apply_run, mapper_file, glob_reason,
                  glob_run]
    refresh.click(cb["clip_status"], [model], status_out, api_name="clip_status", concurrency_limit=None)
    model.change(cb["clip_status"], [model], status_out, api_name="text_status_new_model", **UI_ONLY)
    state.change(cb["source_for"], [state], [kind], api_name="text_source_new_latent", **UI_ONLY)
    shown = [before, after, metrics, latent_out, png_out, run_status]
    opt_run.click(cb["text_edit"], [prompt, l2, idw, steps, kind, seed, model, state],
                  [before, after, curve, metrics, latent_out, png_out, run_status], api_name="text_edit",
                  show_progress_on=[after], **COMPUTE)
    train_run.click(cb["train_mapper"], [prompt, map_steps, model], [run_status, mapper_file, apply_run, curve],
                    api_name="train_mapper", show_progress_on=[curve], **COMPUTE).then(
        cb["clip_status"], [model], status_out, api_name="text_status_after_train", **UI_ONLY)
    apply_run.click(cb["apply_mapper"], [mapper_file, strength, kind, seed, model, state], shown,
                    api_name="apply_mapper", show_progress_on=[after], **COMPUTE)
    glob_run.click(cb["global_edit"], [neutral, prompt, alpha, beta, kind, seed, model, state], shown,
                   api_name="global_edit", show_progress_on=[after], **COMPUTE)
