"""Settings of the server process (webapp/process.py): what app.py applies before serving."""
from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_cpu_server_runs_optimizers_without_triton_and_with_two_malloc_arenas():
    # every torch optimizer imports torch._dynamo, which imports triton when installed (75 MB of RSS)
    code = ("import sys, torch; from webapp.process import skip_triton, tune_malloc; "
            "applied = tune_malloc(); skipped = skip_triton('cpu'); "
            "p = torch.zeros(3, requires_grad=True); opt = torch.optim.Adam([p], lr=0.1); "
            "(p - 1).square().sum().backward(); opt.step(); "
            "print(applied, skipped, sys.modules.get('triton') is not None, 'torch._dynamo' in sys.modules, "
            "round(float(p[0]), 3))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    assert out.stdout.split("\n")[0] == ("{'MALLOC_ARENA_MAX': 2, 'MALLOC_MMAP_THRESHOLD_': 1048576} True False True 0.1")


def test_an_environment_setting_wins_and_cuda_keeps_triton(monkeypatch):
    from webapp import process
    for name in process.MALLOC_SETTINGS:                   # (and this test process's allocator stays as it is)
        monkeypatch.setenv(name, "4")
    assert process.tune_malloc() == {}
    monkeypatch.setattr(process, "device_in_use", lambda device: "cuda")
    assert process.skip_triton(None) is False
