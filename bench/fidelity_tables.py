"""The Markdown tables README.md and docs/benchmarks.md show from bench/fidelity.py's results file.

    .venv/bin/python bench/fidelity_tables.py [--results docs/results/fidelity.json]

Prints README's paste-back table (the Done-when shares per subset and mode), then docs/benchmarks.md's skin per
direction and mean attribute change tables; paste them over the old ones (tests/test_results.py reads them back).
"""
from __future__ import annotations

import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = {"dev (21 faces)": "dev: 21 faces (tuned the defaults)"}
MODE_LABELS = {"delta": "delta (before)", "flow": "flow (default)"}


def pct(s: dict) -> str:
    return "-" if s["share"] is None else f"{100 * s['share']:.0f}% ({s['ok']}/{s['n']})"


def readme_table(summary: dict) -> list[str]:
    rows = ["| paste-back | mode | smile +2: smile rises >= 0.3 (photos smiling < 0.5) | ArcFace to the photo >= 0.6 | "
            "skin: ITA within 5° and ΔE < 5 | yaw and pitch within 3° | sharpness >= 0.9 and seam <= 1.2 "
            "(smile / yaw) |", "|---|---|---|---|---|---|---|"]
    for label, per_mode in summary.items():
        if label == "held-out":
            continue
        n = max(s["arcface_smile"]["n"] for s in per_mode.values())
        name = LABELS.get(label, f"{label.replace('>= ', 'of ').replace(' px', ' px or more')} ({n})")
        for mode, s in per_mode.items():
            rows.append(f"| {name} | {MODE_LABELS.get(mode, mode)} | {pct(s['smile_rise'])} | "
                        f"{pct(s['arcface_smile'])} | {pct(s['skin_smile'])} | {pct(s['pose_smile'])} | "
                        f"{pct(s['quality_smile'])} / {pct(s['quality_yaw'])} |")
    return rows


def direction_tables(summary: dict) -> list[str]:
    first = next(iter(next(iter(summary.values())).values()))
    dirs = list(first["skin_by_direction"])
    head = ["| faces | mode | " + " | ".join(dirs) + " |", "|---|---|" + "---|" * len(dirs)]
    skin, change = list(head), list(head)
    for label, per_mode in summary.items():
        for mode, s in per_mode.items():
            skin.append(f"| {label} | {mode} | " + " | ".join(pct(s["skin_by_direction"][d]) for d in dirs) + " |")
            change.append(f"| {label} | {mode} | " + " | ".join(f"{s['attribute_change'][d]:+.2f}" for d in dirs)
                          + " |")
    return skin + [""] + change


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=os.path.join(ROOT, "docs", "results", "fidelity.json"))
    args = p.parse_args()
    with open(args.results) as f:
        summary = json.load(f)["summary"]
    print("\n".join(readme_table(summary)), end="\n\n")
    print("\n".join(direction_tables(summary)))


if __name__ == "__main__":
    main()
