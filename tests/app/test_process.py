"""Settings of the server process (webapp/process.py): what app.py applies before serving."""
from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_cpu_server_runs_optimizers_without_triton_with_two_malloc_arenas_and_frozen_startup_objects():
    # every torch optimizer imports torch._dynamo, which imports triton when installed (75 MB of RSS)
    code = ("import gc, sys, torch; from webapp.process import freeze_startup, skip_triton, tune_malloc; "
            "applied = tune_malloc(); skipped = skip_triton('cpu'); frozen = freeze_startup(); "
            "p = torch.zeros(3, requires_grad=True); opt = torch.optim.Adam([p], lr=0.1); "
            "(p - 1).square().sum().backward(); opt.step(); "
            "print(applied, skipped, sys.modules.get('triton') is not None, 'torch._dynamo' in sys.modules, "
            "round(float(p[0]), 3), frozen > 0 and gc.get_freeze_count() > 0)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    assert out.stdout.split("\n")[0] == ("{'MALLOC_ARENA_MAX': 2} True False True 0.1 True")


def test_an_environment_setting_wins_and_cuda_keeps_triton(monkeypatch):
    from webapp import process
    for name in process.MALLOC_SETTINGS:                   # (and this test process's allocator stays as it is)
        monkeypatch.setenv(name, "4")
    assert process.tune_malloc() == {}
    monkeypatch.setattr(process, "device_in_use", lambda device: "cuda")
    assert process.skip_triton(None) is False


def test_a_callback_is_followed_by_a_full_collection_at_most_every_few_seconds(monkeypatch):
    # a request's reference cycles hold its images and tensors until a full collection
    from webapp import common, process
    calls, clock = [], [1000.0]
    monkeypatch.setattr(process.gc, "collect", lambda *a: calls.append(clock[0]) or 0)
    monkeypatch.setattr(process.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(process, "_last_collect", [0.0])
    callback = common.shows_errors(lambda: "result")
    assert [callback(), callback()] == ["result", "result"] and calls == [1000.0]
    clock[0] += process.COLLECT_EVERY_S
    callback()
    assert calls == [1000.0, 1000.0 + process.COLLECT_EVERY_S]
