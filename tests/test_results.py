"""README's figures are the committed results: every measured number in README's figure tables and
sentences is read back from docs/results/*.json (written by bench/_results.py) within its printed rounding,
and no PSNR above an 8-bit image's ceiling appears in README.md or docs/."""
from __future__ import annotations

import json
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")


def readme() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def result(name: str) -> dict:
    with open(os.path.join(RESULTS, f"{name}.json")) as f:
        return json.load(f)


def tables(text: str) -> list[list[list[str]]]:
    """Every markdown table as rows of stripped cells (header first, the |---| line dropped)."""
    out, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur.append(cells)
        elif cur:
            out.append(cur)
            cur = []
    return out


def table_with(text: str, first_header: str) -> list[dict]:
    found = [t for t in tables(text) if t[0][0] == first_header]
    assert len(found) == 1, f"README has {len(found)} tables headed {first_header!r}"
    header, *rows = found[0]
    return [dict(zip(header, r)) for r in rows]


def number(cell: str) -> tuple[float, int]:
    """The first number in a cell and its count of decimals (its rounding)."""
    m = re.search(r"-?\d+(?:\.(\d+))?", cell)
    assert m, f"no number in {cell!r}"
    return float(m.group(0)), len(m.group(1) or "")


def same(cell: str, value: float) -> bool:
    shown, decimals = number(cell)
    return abs(shown - value) <= 0.5 * 10 ** -decimals + 1e-9


def test_results_are_complete_records():
    names = sorted(f[:-5] for f in os.listdir(RESULTS) if f.endswith(".json"))
    assert {"editability-dev", "editability-heldout", "batch-cli", "pti-settings"} <= set(names), names
    for name in names:
        doc = result(name)
        assert doc["format"] == "ganinv-results/1" and doc["name"] == name
        assert re.fullmatch(r"[0-9a-f]{40}", doc["commit"]) and doc["command"].split()[1].startswith(("bench/", "scripts/"))
        for key in ("machine_at_start", "machine_at_end"):
            m = doc[key]
            assert m["cpu"] and m["cores"] >= 1 and m["torch_threads"] >= 1 and len(m["load_average"]) == 3
        assert doc["items"], f"{name}: no per-item figures"


def test_real_face_table_is_the_editability_results():
    rows = table_with(readme(), "faces")
    methods = {"PTI (default)": "pti", "plain optimisation": "optimize"}
    seen = set()
    for row in rows:
        split = "dev" if row["faces"].startswith("dev") else "heldout"
        doc = result(f"editability-{split}")
        s = doc["summary"][methods[row["method"]]]
        assert number(row["faces"])[0] == s["faces"] == len({i["face"] for i in doc["items"]}), row
        assert same(row["PSNR (8-bit)"], s["psnr"]), (row, s["psnr"])
        assert same(row["ArcFace to the photo"], s["arcface"]), (row, s["arcface"])
        assert same(row["dlib distance <= 0.35"], s["dlib35"][0]), (row, s["dlib35"])
        assert same(row["CPU s / face"], s["cpu"]), (row, s["cpu"])
        seen.add((split, methods[row["method"]]))
    assert seen == {(sp, m) for sp in ("dev", "heldout") for m in ("pti", "optimize")}
    assert result("editability-dev")["settings"]["split"] == "dev"
    assert result("editability-heldout")["settings"]["split"] == "heldout"


def test_batch_table_is_the_cli_results():
    s = result("batch-cli")["summary"]
    head = "`ganinv invert ... --method optimize`"
    rows = {r[head]: r for r in table_with(readme(), head)}
    one, folder, ratio = rows["one image"], rows[f"a folder of {s['images']}"], rows["folder / one image"]
    assert number(one["images"])[0] == 1 and number(folder["images"])[0] == s["images"]
    assert same(one["wall s"], s["one_s"]) and same(folder["wall s"], s["folder_s"])
    fixed = "fixed s (1-step run)"
    assert same(one[fixed], s["one_fixed_s"]) and same(folder[fixed], s["folder_fixed_s"])
    assert same(one["optimisation s"], s["one_optimisation_s"])
    assert same(folder["optimisation s"], s["folder_optimisation_s"])
    assert same(ratio["wall s"], s["time_ratio"]) and same(ratio["optimisation s"], s["optimisation_ratio"])
    m = re.search(r"throughput ([\d.]+)x", readme())
    assert m and same(m.group(1), s["throughput_ratio"])


def test_app_inversion_time_is_the_app_bench_result():
    """README quotes the app's upload-to-result time only from docs/results/app-invert.json."""
    found = re.findall(r"takes ([\d.]+) s from upload to result[^(]*\(median of (\d+)", readme())
    if not os.path.exists(os.path.join(RESULTS, "app-invert.json")):
        assert not found and not re.search(r"[\d.]+ s from upload to result", readme())
        return
    s = result("app-invert")["summary"]
    assert found, "README's app inversion time sentence is missing"
    for seconds, runs in found:
        assert same(seconds, s["median_s"]) and int(runs) == s["runs"]


DOCS = sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))


@pytest.mark.parametrize("path", ["README.md"] + DOCS)
def test_no_psnr_beyond_8_bits(path):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*dB", text):
        assert float(m.group(1)) <= 60, f"{path}: {m.group(0)} exceeds what an 8-bit image can show"


def test_paste_back_table_is_the_fidelity_results():
    """README's paste-back table: every share read back from docs/results/fidelity.json's summary."""
    summary = result("fidelity")["summary"]
    head = "paste-back"
    rows = table_with(readme(), head)
    subsets = {"dev:": "dev (21 faces)", "dev faces of 70 px": "dev faces >= 70 px + held-out"}
    modes = {"delta (before)": "delta", "flow (default)": "flow"}
    columns = {"smile +2: smile rises >= 0.3 (photos smiling < 0.5)": "smile_rise",
               "ArcFace to the photo >= 0.6": "arcface_smile", "skin: ITA within 5° and ΔE < 5": "skin_smile",
               "yaw and pitch within 3°": "pose_smile"}
    seen = set()
    for row in rows:
        key = next(v for k, v in subsets.items() if row[head].startswith(k))
        s = summary[key][modes[row["mode"]]]
        for col, name in columns.items():
            assert same(row[col], 100 * s[name]["share"]) and f"({s[name]['ok']}/{s[name]['n']})" in row[col], \
                (row[col], s[name])
        smile, yaw = row["sharpness >= 0.9 and seam <= 1.2 (smile / yaw)"].split(" / ")
        assert same(smile, 100 * s["quality_smile"]["share"]) and same(yaw, 100 * s["quality_yaw"]["share"])
        seen.add((key, modes[row["mode"]]))
    assert len(seen) == 4
