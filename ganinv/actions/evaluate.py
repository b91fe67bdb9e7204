"""Task: evaluate inversion methods on a folder of images, as the papers' tables do, on one machine or a Ray cluster.

Every image goes through every method with the app's alignment and defaults (``invert.invert_many``:
the batched optimisation where a method has one).  Each (method, image) writes, atomically, in
``out/<method>/``: ``<stem>_recon.png`` (the 8-bit reconstruction), ``<stem>.npz`` (the latent record, with
pivotal tuning's weight delta) and last ``<stem>.json`` (its row of the table), which marks it done.  A rerun
skips what is done; a killed run loses at most the images in flight.  Then ``per_image.csv`` (one row per
method and image: PSNR / SSIM / LPIPS on the 8-bit images, ArcFace similarity, dlib distance, seconds) and
``summary.csv`` / ``summary.md`` (mean ± std per method and images per second, the layout of the e4e /
HyperStyle / GANInverter tables) are gathered from the rows; a file whose content is unchanged is not rewritten.

Engines: ``inprocess`` (default) runs the chunks in this process; ``ray`` runs the same chunks with Ray Data
``map_batches`` on an actor pool (each actor loads the model once; Ray restarts a killed actor and retries its
chunk), on a local Ray started on demand or on the cluster at ``address``.  Workers write their own outputs,
so on a cluster ``out`` must be on storage every node sees.
"""
from __future__ import annotations

import csv
import glob
import io
import json
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field

from ..io import list_images, pil_to_tensor, tensor_to_pil
from ..losses import image_metrics
from ..registry import REPO_ROOT
from ..settings import DEFAULT_MODEL, INVERT_BATCH, INVERT_STEPS, PERCEPTUAL_WEIGHT, PTI_STEPS, ProgressFn
from . import invert
from .common import InputError, choice, generator, number
from .faces import crop_similarity, identity_metric

EVAL_METHODS = ("pti", "optimize", "encoder", "hybrid")    # the methods of the papers' comparison tables
ENGINES = ("inprocess", "ray")
FORMAT = "ganinv-evaluation/1"
CONFIG_FILE, TABLE_FILE, SUMMARY_CSV, SUMMARY_MD = "evaluation.json", "per_image.csv", "summary.csv", "summary.md"
ABOUT_FILE = "about.md"
COLUMNS = ("method", "image", "psnr", "ssim", "lpips", "arcface", "dlib_distance", "seconds", "error")
# summary columns: (row key, header, higher is better)
METRICS = (("psnr", "PSNR (dB)", True), ("ssim", "SSIM", True), ("lpips", "LPIPS", False),
           ("arcface", "ArcFace sim.", True), ("dlib_distance", "dlib dist.", False), ("seconds", "s / image", False))
COMMITTED_DIR = os.path.join(REPO_ROOT, "docs", "results", "evaluation")   # the evaluations the app shows
RAY_HINT = "the Ray engine needs Ray: pip install -r requirements-scale.txt (or pip install 'ray[data]')"
# environment the workers need to find the same models (a Ray worker does not inherit the driver's)
WORKER_ENV_PREFIXES = ("GANINV_", "HF_HUB_", "TORCH_HOME")


class MissingDependencyError(InputError):
    """An optional package a feature needs is not installed; the message is the install command."""


@dataclass
class Evaluation:
    """What ``evaluate`` did: the tables (as written) and this run's own work."""

    out: str
    rows: list[dict]                            # per image and method, COLUMNS
    summary: list[dict]                         # per method: n, mean / std of each metric, images_per_second
    ran: int                                    # (method, image) pairs computed by this run
    skipped: int                                # pairs already done by an earlier run
    seconds: float                              # this run's wall time
    engine: str
    files: list[str] = field(default_factory=list)  # tables written (unchanged ones are not)

    @property
    def images_per_second(self) -> float:
        """This run's throughput, wall time including the engine's start (0 when nothing ran)."""
        return self.ran / self.seconds if self.ran and self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- the task list
def select_images(folder: str, *, limit: int | None = None, seed: int = 0) -> list[str]:
    """The folder's images, shuffled with ``seed`` when ``limit`` picks a subset (same subset every run)."""
    files = list_images(folder)
    if not files:
        raise InputError(f"no images in {os.path.basename(os.path.normpath(str(folder))) or folder}")
    if limit is not None:
        files = sorted(files)
        random.Random(seed).shuffle(files)
        files = sorted(files[:limit])
    return files


def image_key(path: str) -> str:
    """The name an image's outputs and table rows carry: its file name without the extension."""
    return os.path.splitext(os.path.basename(path))[0]


def chunks(files: list[str], methods: list[str], batch_size: int) -> list[dict]:
    """Units of work, ``{"method", "images": [path, ...]}``: ``batch_size`` images for a method with a batched
    path (one optimisation), one image for the others.  Both engines run the same chunks, so the same results."""
    batched = _batched_methods()
    out = []
    for m in methods:
        n = batch_size if m in batched else 1
        out += [{"method": m, "images": files[i:i + n]} for i in range(0, len(files), n)]
    return out


def _batched_methods() -> tuple[str, ...]:
    fn = getattr(invert, "batched_methods", None)
    return tuple(fn()) if callable(fn) else tuple(getattr(invert, "BATCHED_METHODS", ()))


def is_done(out: str, method: str, key: str) -> bool:
    return os.path.isfile(row_path(out, method, key))


def row_path(out: str, method: str, key: str) -> str:
    return os.path.join(out, method, key + ".json")


# --------------------------------------------------------------------------- one chunk (either engine)
def run_chunk(chunk: dict, settings: dict, out: str, *, device: str | None = None) -> list[dict]:
    """Invert ``chunk["images"]`` with ``chunk["method"]`` and write every image's outputs; returns the rows."""
    G = generator(settings["model"], device)
    method = chunk["method"]
    rows = []

    def write(item) -> None:
        rows.append(_write_item(G, out, method, item))

    invert.invert_many(list(chunk["images"]), model=settings["model"], method=method, steps=settings["steps"],
                       tune_steps=settings["tune_steps"], perceptual_weight=settings["perceptual_weight"], batch_size=max(1, len(chunk["images"])), identity=False,
                       device=device, on_result=write)
    return rows


def _write_item(G, out: str, method: str, item) -> dict:
    """Score one inversion on 8-bit images and write its files; its row (the done mark) last."""
    key = image_key(str(item.source))
    folder = os.path.join(out, method)
    os.makedirs(folder, exist_ok=True)
    row = {c: None for c in COLUMNS} | {"method": method, "image": key}
    inv = item.inversion
    if inv is None:
        row["error"] = item.error
    else:
        recon = tensor_to_pil(inv.image[0])
        r8, x8 = pil_to_tensor(recon), pil_to_tensor(inv.prepared.image)   # [1, 3, R, R], both 8-bit
        m = image_metrics(r8, x8)[0]
        ident = identity_metric(inv.prepared.image, recon)
        arc = crop_similarity(G, x8.to(G.device), r8.to(G.device))["arcface_similarity"]
        row.update(psnr=m["psnr"], ssim=m["ssim"], lpips=m["perceptual"], lpips_net=m["perceptual_metric"],
                   arcface=arc, dlib_distance=ident.get("identity_distance"), seconds=inv.seconds,
                   preparation=inv.prepared.note)
        _atomic(os.path.join(folder, key + "_recon.png"), lambda f: recon.save(f, format="PNG"))
        if inv.latent is not None:
            invert.save_record(os.path.join(folder, key + ".npz"), inv, source=str(item.source))
    text = json.dumps(row, indent=1)
    _atomic(row_path(out, method, key), lambda f: f.write(text.encode()))
    return row


def _atomic(path: str, write) -> None:
    """``write(file)`` into a unique temporary name beside ``path``, then rename: readers and concurrent or
    retried writers see the old file or the whole new one, never part of one."""
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_if_changed(path: str, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it (a rerun changes no file)."""
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    _atomic(path, lambda f: f.write(text.encode()))
    return True


def remove_partial(out: str) -> list[str]:
    """Delete temporary files a killed writer left (``_atomic``'s and ``save_latent``'s); returns them.
    Call it when no writer is running."""
    left = [p for pat in ("*.tmp", "*.tmp.npz") for p in glob.glob(os.path.join(out, "*", pat))]
    left += glob.glob(os.path.join(out, "*", ".*.tmp"))
    for p in set(left):
        os.remove(p)
    return sorted(set(left))


# --------------------------------------------------------------------------- engines
def _run_inprocess(todo: list[dict], settings: dict, out: str, device, progress: ProgressFn | None, total: int):
    done = total - sum(len(c["images"]) for c in todo)
    for c in todo:
        run_chunk(c, settings, out, device=device)
        done += len(c["images"])
        if progress:
            progress(done / total, f"{c['method']}: {done} of {total}")


class RayWorker:
    """One actor of the Ray pool: the model loaded once in ``__init__``, then one chunk per call."""

    def __init__(self, settings: dict, out: str, env: dict, device: str | None = None) -> None:
        os.environ.update(env)
        self.settings, self.out, self.device = settings, out, device
        generator(settings["model"], device)                     # load now, once per actor

    def __call__(self, batch: dict) -> dict:
        keys, methods = [], []
        for method, images in zip(batch["method"], batch["images"]):
            for row in run_chunk({"method": str(method), "images": json.loads(str(images))}, self.settings,
                                 self.out, device=self.device):
                keys.append(row["image"])
                methods.append(row["method"])
        return {"method": methods, "image": keys}


def import_ray():
    """The ``ray`` module, or a MissingDependencyError whose message is the install command."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError(RAY_HINT) from None
    return ray


def _run_ray(todo: list[dict], settings: dict, out: str, device, progress: ProgressFn | None, total: int, *,
             address: str | None, workers: int, cpus_per_worker: float, num_gpus_per_worker: float) -> None:
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        env = {k: v for k, v in os.environ.items() if k.startswith(WORKER_ENV_PREFIXES)}
        items = [{"method": c["method"], "images": json.dumps(c["images"])} for c in todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(RayWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
                            fn_constructor_kwargs=dict(settings=settings, out=os.path.abspath(out), env=env,
                                                       device=device),
                            num_cpus=cpus_per_worker, num_gpus=num_gpus_per_worker)
        done = total - sum(len(c["images"]) for c in todo)
        for row in ds.iter_rows():
            done += 1
            if progress:
                progress(done / total, f"{row['method']}: {done} of {total}")
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- tables
def _table_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _cell(v):
    return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)


def summarize(rows: list[dict], methods: list[str]) -> list[dict]:
    """Per method: images scored, mean and std (population) of each metric, images per second of compute."""
    out = []
    for m in methods:
        good = [r for r in rows if r["method"] == m and not r.get("error")]
        s = {"method": m, "images": len(good)}
        for key, _, _ in METRICS:
            vals = [float(r[key]) for r in good if r.get(key) is not None]
            mean = sum(vals) / len(vals) if vals else None
            s[key + "_mean"] = mean
            s[key + "_std"] = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)) if vals else None
        total = sum(float(r["seconds"]) for r in good if r.get("seconds") is not None)
        s["images_per_second"] = len(good) / total if total > 0 else None
        out.append(s)
    return out


def summary_markdown(summary: list[dict], *, model: str) -> str:
    """The summary as the papers print it: one row per method, mean ± std, arrows for the better direction."""
    head = ["Method"] + [f"{h} {'↑' if up else '↓'}" for _, h, up in METRICS] + ["images / s ↑", "n"]
    lines = [f"Model: {model}. Metrics on the 8-bit reconstruction vs the 8-bit aligned crop.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = [s["method"]]
        for key, _, _ in METRICS:
            mean, std = s[key + "_mean"], s[key + "_std"]
            digits = 2 if key in ("psnr", "seconds") else 3
            cells.append("n/a" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}")
        ips = s["images_per_second"]
        cells += ["n/a" if ips is None else f"{ips:.3g}", str(s["images"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _summary_csv(summary: list[dict]) -> str:
    cols = ["method", "images"] + [k + s for k, _, _ in METRICS for s in ("_mean", "_std")] + ["images_per_second"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for s in summary:
        w.writerow({k: _cell(s.get(k)) for k in cols})
    return buf.getvalue()


def read_rows(out: str, methods: list[str], keys: list[str]) -> list[dict]:
    """The done rows of ``methods`` x ``keys``, in that order (each pair once)."""
    rows = []
    for m in methods:
        for k in keys:
            p = row_path(out, m, k)
            if os.path.isfile(p):
                with open(p, encoding="utf-8") as f:
                    rows.append(json.load(f))
    return rows


def load_results(out: str) -> dict:
    """A committed or finished evaluation folder: ``{"config", "rows", "summary", "markdown"}`` (the summary
    table, after ``about.md`` when the folder has one)."""
    cfg_path = os.path.join(out, CONFIG_FILE)
    if not os.path.isfile(cfg_path):
        raise InputError(f"no evaluation in {os.path.basename(os.path.normpath(out))}: run `ganinv evaluate` first")
    with open(cfg_path, encoding="utf-8") as f:
        config = json.load(f)
    if config.get("format") != FORMAT:
        raise InputError(f"{CONFIG_FILE} has format {config.get('format')!r}; expected {FORMAT!r}")
    with open(os.path.join(out, TABLE_FILE), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, SUMMARY_CSV), encoding="utf-8") as f:
        summary = list(csv.DictReader(f))
    with open(os.path.join(out, SUMMARY_MD), encoding="utf-8") as f:
        markdown = f.read()
    about = os.path.join(out, ABOUT_FILE)                 # committed sets: what the images are, the command
    if os.path.isfile(about):
        with open(about, encoding="utf-8") as f:
            markdown = f.read().strip() + "\n\n" + markdown
    return {"config": config, "rows": rows, "summary": summary, "markdown": markdown}


def committed_evaluations(folder: str = COMMITTED_DIR) -> dict[str, dict]:
    """The committed evaluations (one sub-folder each, tables only), by folder name: ``load_results`` of each."""
    if not os.path.isdir(folder):
        return {}
    return {name: load_results(os.path.join(folder, name)) for name in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, name, CONFIG_FILE))}


# --------------------------------------------------------------------------- the action
def _check_config(out: str, config: dict) -> None:
    """An ``out`` folder holds one evaluation: refuse to mix results made with other settings."""
    path = os.path.join(out, CONFIG_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        if old != config:
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in config.items() if old.get(k) != v)
            raise InputError(f"the output folder holds an evaluation with other settings ({diff}); "
                             f"use another --out")
    _write_if_changed(path, json.dumps(config, indent=1) + "\n")


def evaluate(folder: str, *, out: str = "evaluation", methods=EVAL_METHODS, model: str = DEFAULT_MODEL,
             limit: int | None = None, seed: int = 0, steps: int = INVERT_STEPS, tune_steps: int = PTI_STEPS,
             perceptual_weight: float = PERCEPTUAL_WEIGHT, batch_size: int = INVERT_BATCH, engine: str = "inprocess", address: str | None = None,
             workers: int = 1, cpus_per_worker: float = 1, num_gpus_per_worker: float = 0,
             device: str | None = None, progress: ProgressFn | None = None) -> Evaluation:
    """Invert every image of ``folder`` (``limit`` of them, picked by a ``seed``-ed shuffle) with every one of
    ``methods`` and write the per-image and summary tables in ``out``; what ``out`` already holds is kept.

    ``steps`` / ``tune_steps`` / ``perceptual_weight`` are the app's (``invert``) defaults; ``batch_size`` images share one
    optimisation for methods with a batched path.  ``engine="ray"``: ``workers`` actors, each with
    ``cpus_per_worker`` CPUs and ``num_gpus_per_worker`` GPUs, on a local Ray or the cluster at ``address``
    (``auto``, ``ray://host:10001``).
    """
    methods = [methods] if isinstance(methods, str) else list(methods or [])
    if not methods:
        raise InputError(f"Choose methods among {', '.join(invert.METHODS)}.")
    for m in methods:
        choice(m, "Method", invert.METHODS)
    choice(engine, "Engine", ENGINES)
    if limit is not None:
        limit = number(limit, "Limit", 1, 10**7, whole=True)
    seed = number(seed, "Seed", 0, 2**32 - 1, whole=True)
    batch_size = number(batch_size, "Batch size", 1, invert.MAX_BATCH, whole=True)
    workers = number(workers, "Workers", 1, 4096, whole=True)
    cpus_per_worker = number(cpus_per_worker, "CPUs per worker", 0, 1024)
    num_gpus_per_worker = number(num_gpus_per_worker, "GPUs per worker", 0, 64)
    G = generator(model, device)                          # unknown or unavailable model: its message, now
    settings = {"model": G.name, "steps": number(steps, "Steps", 1, 10**6, whole=True),
                "tune_steps": number(tune_steps, "Tuning steps", 1, 10**6, whole=True),
                "perceptual_weight": number(perceptual_weight, "Perceptual weight", 0, 1e3)}
    files = select_images(folder, limit=limit, seed=seed)
    keys = [image_key(p) for p in files]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise InputError(f"images share a name without extension ({', '.join(dup[:3])}): rename them")

    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    _check_config(out, {"format": FORMAT, **settings})
    todo_files = {m: [p for p in files if not is_done(out, m, image_key(p))] for m in methods}
    todo = [c for m in methods for c in chunks(todo_files[m], [m], batch_size)]
    total, ran = len(files) * len(methods), sum(len(v) for v in todo_files.values())
    if todo:
        if engine == "ray":
            _run_ray(todo, settings, out, device, progress, total, address=address, workers=workers,
                     cpus_per_worker=cpus_per_worker, num_gpus_per_worker=num_gpus_per_worker)
        else:
            _run_inprocess(todo, settings, out, device, progress, total)
        remove_partial(out)
    rows = read_rows(out, methods, keys)
    missing = total - len(rows)
    if missing:
        raise RuntimeError(f"{missing} of {total} results are missing after the run")
    summary = summarize(rows, methods)
    written = [p for p, text in ((TABLE_FILE, _table_text(rows)), (SUMMARY_CSV, _summary_csv(summary)),
                                 (SUMMARY_MD, summary_markdown(summary, model=G.name)))
               if _write_if_changed(os.path.join(out, p), text)]
    return Evaluation(out, rows, summary, ran, total - ran, time.time() - t0, engine, written)


__all__ = ["EVAL_METHODS", "ENGINES", "COLUMNS", "TABLE_FILE", "SUMMARY_CSV", "SUMMARY_MD", "CONFIG_FILE", "METRICS", "RAY_HINT", "MissingDependencyError", "Evaluation",
           "select_images", "image_key", "chunks", "run_chunk", "remove_partial", "summarize", "summary_markdown",
           "read_rows", "load_results", "committed_evaluations", "COMMITTED_DIR", "import_ray", "RayWorker", "evaluate"]
