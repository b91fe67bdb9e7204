"""Dataset evaluation (ganinv.actions.evaluate): per-image and summary tables, resume without rewriting, the
seeded --limit subset, and the Ray engine (one local Ray for the module): the same PSNR as in-process, and a
killed actor retried with every row once and nothing half-written."""
from __future__ import annotations

import csv
import glob
import json
import os
import sys
import threading
import time

import numpy as np
import psutil
import pytest
import torch
from PIL import Image

from ganinv.actions import InputError
from ganinv.actions import evaluate as ev
from ganinv.io import load_latent, tensor_to_pil
from ganinv.latent import render
from ganinv.models.loaders import save_safetensors

pytestmark = pytest.mark.usefixtures("one_thread")     # Ray actors run one thread each: same arithmetic
MODEL = "local:tiny-eval.safetensors"
FAST = dict(model=MODEL, steps=4, tune_steps=4, perceptual_weight=0, device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory, tiny_sg2_varied) -> str:
    """A tiny StyleGAN2 in its own checkpoints folder (GANINV_CHECKPOINTS) and 6 of its samples as PNGs."""
    ck, folder = tmp_path_factory.mktemp("ck"), tmp_path_factory.mktemp("samples")
    G = tiny_sg2_varied
    save_safetensors(G, str(ck / MODEL.removeprefix("local:")))
    z = torch.randn(6, G.z_dim, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        for i, im in enumerate(tensor_to_pil(render(G, G.mapping(z), "W"))):
            im.save(folder / f"s{i}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANINV_CHECKPOINTS", str(ck))
        yield str(folder)


@pytest.fixture(scope="module")
def ray_local(images):
    """One local Ray (2 CPUs) shared by the module's Ray tests; started after GANINV_CHECKPOINTS is set."""
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def files_state(folder: str) -> dict[str, tuple[int, int]]:
    return {p: (os.stat(p).st_mtime_ns, os.stat(p).st_size)
            for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True) + glob.glob(os.path.join(folder, "*", ".*"))
            if os.path.isfile(p)}


def table(out: str) -> list[dict]:
    with open(os.path.join(out, ev.TABLE_FILE)) as f:
        return list(csv.DictReader(f))


def assert_whole(out: str, methods: list[str], keys: list[str]) -> None:
    """Every (method, image) once in the table, every file readable, no temporary file left."""
    rows = table(out)
    assert sorted((r["method"], r["image"]) for r in rows) == sorted((m, k) for m in methods for k in keys)
    assert not glob.glob(os.path.join(out, "*", "*.tmp*")) and not glob.glob(os.path.join(out, "*", ".*"))
    for m in methods:
        for k in keys:
            assert Image.open(os.path.join(out, m, k + "_recon.png")).size == (16, 16)
            assert load_latent(os.path.join(out, m, k + ".npz")).latent.shape[0] == 1
            assert json.load(open(os.path.join(out, m, k + ".json")))["image"] == k


def test_tables_resume_and_subset(images, tmp_path):
    out = str(tmp_path / "res")
    t0 = time.perf_counter()
    r = ev.evaluate(images, out=out, methods=["optimize", "pti"], limit=4, seed=3, **FAST)
    first = time.perf_counter() - t0
    keys = sorted(ev.image_key(p) for p in ev.select_images(images, limit=4, seed=3))
    assert keys == sorted(r["image"] for r in r.rows if r["method"] == "pti") and len(keys) == 4
    assert len({tuple(ev.select_images(images, limit=4, seed=s)) for s in range(6)}) > 1   # a seeded shuffle
    assert r.ran == 8 and r.skipped == 0 and set(r.files) == {ev.TABLE_FILE, ev.SUMMARY_CSV, ev.SUMMARY_MD}
    assert_whole(out, ["optimize", "pti"], keys)
    rows = table(out)
    for row in rows:                                         # metrics on the 8-bit PNG against the 8-bit crop
        recon = np.asarray(Image.open(os.path.join(out, row["method"], row["image"] + "_recon.png")), np.float64)
        target = np.asarray(Image.open(os.path.join(images, row["image"] + ".png")), np.float64)
        psnr = 10 * np.log10(255.0 ** 2 / ((recon - target) ** 2).mean())
        assert abs(float(row["psnr"]) - psnr) < 1e-3, (row, psnr)
        assert 0 < float(row["seconds"]) and float(row["lpips"]) >= 0
    s = {x["method"]: x for x in r.summary}
    ps = [float(x["psnr"]) for x in rows if x["method"] == "pti"]
    assert s["pti"]["images"] == 4 and abs(s["pti"]["psnr_mean"] - np.mean(ps)) < 1e-4
    assert abs(s["pti"]["psnr_std"] - np.std(ps)) < 1e-4
    md = open(os.path.join(out, ev.SUMMARY_MD)).read()
    assert f"| pti | {np.mean(ps):.2f} ± {np.std(ps):.2f} |" in md and "images / s" in md

    before = files_state(out)
    t0 = time.perf_counter()
    again = ev.evaluate(images, out=out, methods=["optimize", "pti"], limit=4, seed=3, **FAST)
    second = time.perf_counter() - t0
    assert again.ran == 0 and again.skipped == 8 and again.files == []
    assert files_state(out) == before                        # no file written, none touched
    assert second < 0.1 * first, (second, first)

    os.remove(os.path.join(out, "pti", keys[0] + ".json"))   # a pair killed before its row: redone alone
    redo = ev.evaluate(images, out=out, methods=["optimize", "pti"], limit=4, seed=3, **FAST)
    assert redo.ran == 1 and len(table(out)) == 8
    with pytest.raises(InputError, match="other settings .*steps: 4 -> 5"):
        ev.evaluate(images, out=out, methods=["pti"], **{**FAST, "steps": 5})


def test_ray_engine_matches_inprocess(images, ray_local, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    ev.evaluate(images, out=a, methods=["optimize", "pti"], limit=3, batch_size=2, **FAST)
    r = ev.evaluate(images, out=b, methods=["optimize", "pti"], limit=3, batch_size=2, engine="ray", workers=2,
                    **FAST)
    assert r.engine == "ray" and r.ran == 6
    ra, rb = table(a), table(b)
    assert [(x["method"], x["image"]) for x in ra] == [(x["method"], x["image"]) for x in rb]
    for x, y in zip(ra, rb):
        assert abs(float(x["psnr"]) - float(y["psnr"])) < 0.01, (x, y)
    for p in glob.glob(os.path.join(a, "*", "*_recon.png")):   # the same reconstructions, bit for bit
        assert open(p, "rb").read() == open(p.replace(a, b, 1), "rb").read(), p


def _kill_one_actor(out: str, killed: list, stop: threading.Event) -> None:
    """Once the first row exists, SIGKILL one Ray Data actor process (a MapWorker) that is running."""
    while not stop.is_set() and not glob.glob(os.path.join(out, "pti", "*.json")):
        time.sleep(0.05)
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if "MapWorker" in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid():
                p.kill()
                killed.append(p.pid)
                break
        time.sleep(0.05)


def test_killed_actor_is_retried_and_table_is_whole(images, ray_local, tmp_path):
    out = str(tmp_path / "k")
    killed, stop = [], threading.Event()
    t = threading.Thread(target=_kill_one_actor, args=(out, killed, stop), daemon=True)
    t.start()
    try:
        r = ev.evaluate(images, out=out, methods=["pti"], limit=4, engine="ray", workers=2,
                        **{**FAST, "tune_steps": 25})
    finally:
        stop.set()
        t.join()
    assert killed, "no actor process was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert r.ran == 4
    assert_whole(out, ["pti"], sorted(ev.image_key(p) for p in ev.select_images(images, limit=4)))


def test_missing_ray_gives_the_install_hint(images, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)            # import ray -> ImportError
    with pytest.raises(ev.MissingDependencyError, match=r"^the Ray engine needs Ray: pip install -r "
                                                        r"requirements-scale.txt"):
        ev.evaluate(images, out=str(tmp_path / "r"), methods=["optimize"], limit=1, engine="ray", **FAST)
