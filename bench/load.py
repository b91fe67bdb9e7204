"""Load test for the app: several clients invert at once through the queue.

    .venv/bin/python bench/load.py [--clients 8] [--steps 20] [--max-concurrency 1] [--url URL]

Without ``--url`` it starts ``python app.py`` on a free port with ``--max-concurrency`` and stops
it afterwards.  Every client submits one inversion at the same moment (after one warm-up job).
Prints, per client, the time spent waiting in the queue and running, then the error count,
throughput and the p50 / p95 of the end-to-end latency.  A failed client is counted and its error
printed, never hidden.  Timings depend on machine load (check ``uptime``): compare rows from one run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from _server import start_app  # noqa: E402  (bench/ is on sys.path)


def start_server(max_concurrency: int) -> tuple[subprocess.Popen, str]:
    return start_app(["--max-concurrency", str(max_concurrency)])


def one_client(url: str, image: str, steps: int, seed: int, out: dict, start: threading.Barrier | None = None) -> None:
    """One user: connect, (wait for the others,) submit an inversion, time it.  Errors land in ``out``."""
    try:
        _one_client(url, image, steps, seed, out, start)
    except Exception as e:                                  # reported in the table and the error count
        out.update(error=f"{type(e).__name__}: {e}"[:200])
        if start is not None:
            start.abort()                                   # never leave the others waiting for this one


def _one_client(url, image, steps, seed, out, start) -> None:
    from gradio_client import Client, handle_file
    client = Client(url, verbose=False)
    if start is not None:
        start.wait()
    t0 = time.perf_counter()
    job = client.submit(handle_file(image), "celeba-dcgan-64", "auto", 1, "Z", steps, 1.0, 1, seed,
                        api_name="/invert")
    started = None
    while not job.done():
        if started is None and job.status().code.name in ("PROCESSING", "PROGRESS", "ITERATING"):
            started = time.perf_counter()
        time.sleep(0.1)
    result = job.result()
    end = time.perf_counter()
    started = started or end
    psnr = {r[0]: r[1] for r in result[4]["data"]}["PSNR (dB)"]
    out.update(queued=started - t0, running=end - started, total=end - t0, psnr=psnr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=None)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--max-concurrency", type=int, default=1)
    args = ap.parse_args()
    from PIL import Image
    from skimage import data
    fd, image = tempfile.mkstemp(suffix=".png")
    os.close(fd)
    Image.fromarray(data.astronaut()).save(image)
    proc, url = (None, args.url) if args.url else start_server(args.max_concurrency)
    try:
        warm = {}
        one_client(url, image, 1, 0, warm)                            # warm-up: model + metric loaded once
        if "error" in warm:
            raise SystemExit(f"warm-up request failed: {warm['error']}")
        results = [{} for _ in range(args.clients)]
        start = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=one_client, args=(url, image, args.steps, i, results[i], start))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        try:
            start.wait()                                              # every client connected: go
        except threading.BrokenBarrierError:
            pass                                                      # a client failed to connect: counted below
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        os.remove(image)
    load = os.getloadavg()[0]
    print(f"{args.clients} clients x {args.steps} steps, max-concurrency {args.max_concurrency}, load {load:.1f}")
    print("| client | queued s | running s | total s | PSNR dB |\n|---|---|---|---|---|")
    for i, r in enumerate(results):
        if "error" in r:
            print(f"| {i} | error: {r['error']} | | | |")
        else:
            print(f"| {i} | {r['queued']:.1f} | {r['running']:.1f} | {r['total']:.1f} | {r['psnr']} |")
    ok = [r["total"] for r in results if "error" not in r]
    errors = len(results) - len(ok)
    print(f"errors {errors}/{len(results)}; wall {wall:.1f} s, throughput {len(ok) / wall * 60:.1f} inversions/min")
    if ok:
        print(f"latency p50 {percentile(ok, 50):.1f} s, p95 {percentile(ok, 95):.1f} s, max {max(ok):.1f} s")
    if errors:
        raise SystemExit(1)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method)."""
    import numpy as np
    return float(np.percentile(values, q))


if __name__ == "__main__":
    main()
