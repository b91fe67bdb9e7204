"""How long a slider edit takes in the app, over HTTP: from the release to the pasted photo.

    .venv/bin/python bench/edit_latency.py [--photo PATH] [--repeats 15] [--url URL] [--results edit-latency]

Starts ``python app.py`` (or uses ``--url``), inverts the photo (default: scikit-image's astronaut) with the
Invert tab's defaults, then times ``/edit`` requests with smile strengths cycling through +-1, +-2, +-3 (each
request a new edit, as a slider release is), in three settings, interleaved so that load swings hit all alike:

  view         paste into the photo, default hold and skin tone, no scores: what a slider release waits for
               before the pasted photo shows (the tab scores after the image)
  view, no paste  the same without the paste (the 64-px render only)
  with scores  the same as view, then every score read off the pasted photo (what ``/edit`` with score=True
               returns in one reply)

It prints the median and the quartiles of each, with the load average; compare within one run.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from _results import machine, write_results  # noqa: E402  (bench/ is on sys.path)
from _server import app_at, app_bench_options, photo_path  # noqa: E402

SETTINGS = {"view": dict(paste=True, score=False), "view, no paste": dict(paste=False, score=False),
            "with scores": dict(paste=True, score=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    app_bench_options(ap, repeats=15, repeats_help="timed requests per setting")
    args = ap.parse_args()
    from gradio_client import Client, handle_file
    photo = photo_path(args.photo)
    started = machine()
    with app_at(args.url) as url:
        client = Client(url, verbose=False)
        client.predict(handle_file(photo), api_name="/invert")             # the session's latent, defaults
        strengths = itertools.cycle([1.0, -1.0, 2.0, -2.0, 3.0, -3.0])
        for name, kw in SETTINGS.items():                                  # warm-up: scorers, ArcFace, caches
            client.predict(strengths={"smile": 0.5}, source="session", api_name="/edit", **kw)
        times: dict[str, list[float]] = {k: [] for k in SETTINGS}
        items = []
        for i in range(args.repeats):
            for name, kw in SETTINGS.items():
                a = next(strengths)
                t0 = time.perf_counter()
                out = client.predict(strengths={"smile": a}, source="session", api_name="/edit", **kw)
                dt = time.perf_counter() - t0
                times[name].append(dt)
                items.append({"setting": name, "strength": a, "seconds": dt, "pasted": out[2] is not None,
                              "load_1min": os.getloadavg()[0]})
        summary = {}
        for name, ts in times.items():
            q = statistics.quantiles(ts, n=4)
            summary[name] = {"median_s": statistics.median(ts), "q1_s": q[0], "q3_s": q[2], "n": len(ts)}
            print(f"{name:<16} median {summary[name]['median_s']:.3f} s  (quartiles {q[0]:.3f}-{q[2]:.3f}, "
                  f"n={len(ts)})")
        print(f"load average now {os.getloadavg()}")
        if args.results:
            write_results(args.results, items, summary, started=started,
                          settings={"photo": "skimage astronaut" if args.photo is None else os.path.basename(photo),
                                    "settings": {k: v for k, v in SETTINGS.items()}})


if __name__ == "__main__":
    main()
