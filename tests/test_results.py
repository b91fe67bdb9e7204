"""README's and docs/'s figures are the committed results: every measured number in the figure tables,
captions and sentences of README.md, docs/benchmarks.md, docs/scale.md and docs/age_gender.md is read back
from docs/results/*.json (written by bench/_results.py) within its printed rounding, every run line's
command, date, commit and load average is its JSON's, and no PSNR above an 8-bit image's ceiling appears
in README.md or docs/.  A figure edited by hand fails here; a figure added without a check fails
``test_every_benchmarks_section_is_checked``."""
from __future__ import annotations

import json
import math
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "docs", "results")


def text_of(path: str) -> str:
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def readme() -> str:
    return text_of("README.md")


def section(text: str, heading: str) -> str:
    """The body of the one ``## `` section whose title starts with ``heading``."""
    parts = re.split(r"^## ", text, flags=re.M)
    found = [p for p in parts[1:] if p.startswith(heading)]
    assert len(found) == 1, f"{len(found)} sections titled {heading!r}"
    return found[0]


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


def table_with(text: str, first_header: str, count: int = 1) -> list[dict] | list[list[dict]]:
    """The rows (as {header: cell}) of the table whose first header is ``first_header``; with
    ``count`` > 1, that many such tables in order."""
    found = [t for t in tables(text) if t[0][0] == first_header]
    assert len(found) == count, f"{len(found)} tables headed {first_header!r}, expected {count}"
    out = [[dict(zip(header, r)) for r in rows] for header, *rows in found]
    return out[0] if count == 1 else out


def number(cell: str) -> tuple[float, int]:
    """The first number in a cell and its count of decimals (its rounding)."""
    m = re.search(r"-?\d+(?:\.(\d+))?", cell)
    assert m, f"no number in {cell!r}"
    return float(m.group(0)), len(m.group(1) or "")


def same(cell: str, value: float) -> bool:
    shown, decimals = number(cell)
    return abs(shown - value) <= 0.5 * 10 ** -decimals + 1e-9


def share(cell: str, counted: list) -> None:
    """``cell`` is "P% of N" / "P% (k/N)" for ``counted`` = [percent, N] or {"share", "ok", "n"}."""
    if isinstance(counted, dict):
        pct, n = 100 * counted["share"], counted["n"]
        assert f"({counted['ok']}/{n})" in cell, (cell, counted)
    else:
        pct, n = counted
        if " of " in cell:
            assert int(cell.split(" of ")[1]) == n, (cell, counted)
    assert same(cell, pct), (cell, counted)


def claim(text: str, pattern: str, *values: float) -> None:
    """``pattern`` (a regex whose groups are numbers) occurs in ``text`` and each group shows its value."""
    m = re.search(pattern, text)
    assert m, f"no {pattern!r} in the text"
    for got, want in zip(m.groups(), values):
        assert got is None or same(got, want), (m.group(0), got, want)


def check_run(text: str, name: str) -> None:
    """The run line of ``name``: its command in backticks, then (date, commit, uncommitted files, cores,
    torch threads, load average at start and end) as far as the text gives them, all the JSON's."""
    doc = result(name)
    cmd = f"`{doc['command']}`"
    assert cmd in text, f"{name}: {cmd} not in the text"
    tail = text[text.index(cmd) + len(cmd):].split("\n\n")[0][:700]
    start, end = doc["machine_at_start"], doc["machine_at_end"]
    if m := re.search(r"\((\d{4}-\d\d-\d\d)", tail):
        assert m.group(1) == doc["date"][:10], (name, m.group(0))
    if m := re.search(r"commit `([0-9a-f]{7,40})`", tail):
        assert doc["commit"].startswith(m.group(1)), (name, m.group(0))
    if "in a clean checkout" in tail:
        assert doc["modified_files"] == [], (name, doc["modified_files"])
    if m := re.search(r"changes in (\d+) files", tail):
        assert int(m.group(1)) == len(doc["modified_files"]), (name, m.group(0))
    if m := re.search(r"(\d+) cores", tail):
        assert int(m.group(1)) == start["cores"], (name, m.group(0))
    if m := re.search(r"(\d+) torch thread", tail):
        assert int(m.group(1)) == start["torch_threads"], (name, m.group(0))
    claim(tail, r"load average ([\d.]+) at (?:the )?start(?: and ([\d.]+) at (?:the )?end)?",
          start["load_average"][0], end["load_average"][0])


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
    claim(readme(), r"throughput ([\d.]+)x", s["throughput_ratio"])
    claim(readme(), r"8 images in one batch take ([\d.]+)x the time of one", s["optimisation_ratio"])
    claim(readme(), r"`docs/results/batch-cli.json`, load average ([\d.]+) at the start",
          result("batch-cli")["machine_at_start"]["load_average"][0])
    claim(readme(), r"with its defaults, (\d+) steps, on (\d+) of the model's samples", s["steps"], s["images"])
    claim(readme(), r"keeps this (\d+)-core CPU's cores busy", result("batch-cli")["machine_at_start"]["cores"])


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
        claim(row[head], r"(\d+)(?: faces|\))", s["arcface_smile"]["n"])
    assert len(seen) == 4


# --------------------------------------------------------------------------- README beyond its tables
def test_readme_figure_caption_is_the_before_after_result():
    s = result("before-after")["summary"]
    caption = readme().split("![A held-out portrait", 1)[1].split("\n\n")[1]
    assert "`docs/results/before-after.json`" in caption
    claim(caption, r"smile score goes ([\d.]+) → ([\d.]+)", s["before"], s["after"])
    claim(caption, r"ArcFace similarity to the original ([\d.]+)", s["arcface_photo"])
    claim(caption, r"skin ΔE ([\d.]+)", s["skin_delta_e"])
    claim(caption.replace("−", "-"), r"yaw (-?[\d.]+)°", s["yaw_change"])


def test_readme_sentences_around_the_tables_are_the_results():
    text = readme()
    dev, held = result("editability-dev"), result("editability-heldout")
    claim(text, r"load average ([\d.]+) and ([\d.]+) at the starts",
          dev["machine_at_start"]["load_average"][0], held["machine_at_start"]["load_average"][0])
    pti = result("pti-settings")
    s, items = pti["summary"], pti["items"]
    claim(text, r"the tuning alone takes ([\d.]+) CPU s per face on one thread against ([\d.]+) without",
          s["default"]["cpu_s"], s["default, no locality LPIPS"]["cpu_s"])
    claim(text, r"350 take ([\d.]+)x the time", s["paper, no stop"]["cpu_s"] / s["default"]["cpu_s"])
    stops = [i["steps_run"] for i in items if i["variant"] == "paper"]
    claim(text, r"falls below 0.06 after (\d+)-(\d+) steps", min(stops), max(stops))


def test_readme_skin_range_of_the_other_directions_is_the_fidelity_result():
    """"Every other shipped direction keeps the skin ... on A-B% of the dev faces and C-D% of the large and
    held-out ones with flow": the extremes over fidelity.json's directions other than smile."""
    summary = result("fidelity")["summary"]
    ranges = []
    for key in ("dev (21 faces)", "dev faces >= 70 px + held-out"):
        shares = [100 * v["share"] for k, v in summary[key]["flow"]["skin_by_direction"].items()
                  if not k.startswith("smile")]
        ranges += [min(shares), max(shares)]
    claim(readme(), r"on (\d+)-(\d+)% of the dev faces\s+and (\d+)-(\d+)% of the large and held-out ones", *ranges)


def faces_of(name: str) -> dict[str, int]:
    """Faces per photo of an editability run: {"players": 16, ...} (a face is named photo + index)."""
    out: dict[str, int] = {}
    for face in {i["face"] for i in result(name)["items"]}:
        photo = re.sub(r"\d+$", "", face)
        out[photo] = out.get(photo, 0) + 1
    return out


def check_face_counts(text: str) -> None:
    """"the astronaut and the 20 faces ... `players.jpg` (16), `gdp.jpg` (3) and `yaoming.jpg` (1)" and "11
    portraits / faces" are the editability runs' faces."""
    dev, held = faces_of("editability-dev"), result("editability-heldout")["summary"]["optimize"]["faces"]
    assert dev.pop("astronaut") == 1
    claim(text, r"the astronaut and the (\d+) faces", sum(dev.values()))
    for photo, n in dev.items():
        if f"`{photo}.jpg` (" in text:
            claim(text, rf"`{photo}.jpg` \((\d+)\)", n)
    claim(text, r"(?:the |\()(\d+) (?:portraits|faces from other packages)", held)


def test_readme_1024_cpu_figures_are_the_bench_result():
    """The Models section's 1024-px CPU paragraph: step counts, per-step seconds, total, memory and load read
    back from docs/results/stylegan2-1024-cpu.json (bench/stylegan2_1024_cpu.py), its steps the defaults."""
    from ganinv.actions.invert import default_steps
    text = " ".join(section(readme(), "Models").split())              # one line: sentences wrap anywhere
    doc = result("stylegan2-1024-cpu")
    s = doc["summary"]
    assert {"steps": s["steps"], "tune_steps": s["tune_steps"]} == default_steps(1024, "cpu")
    claim(text, r"uses (\d+) pivot steps and (\d+) tuning steps", s["steps"], s["tune_steps"])
    claim(text, r"\(([\d.]+) M parameters\)", s["parameters"] / 1e6)
    claim(text, r"load average ([\d.]+) at the start and\s+([\d.]+) at the end",
          doc["machine_at_start"]["load_average"][0], doc["machine_at_end"]["load_average"][0])
    claim(text, r"a pivot step takes ([\d.]+) s and a tuning step\s+([\d.]+) s", s["pivot_step_s"], s["tuning_step_s"])
    claim(text, r"inverted in ([\d.]+) min in all with a peak\s+memory \(RSS\) of ([\d.]+) GB", s["total_min"],
          s["peak_rss_mb"] / 1000)
    assert "`bench/stylegan2_1024_cpu.py`, `docs/results/stylegan2-1024-cpu.json`" in text


def test_readme_counts_and_ceilings_are_the_data():
    from ganinv.losses import PSNR_8BIT_MAX
    text = readme()
    check_face_counts(section(text, "Benchmarks"))
    claim(text, r"`tests/data/heldout/`, (\d+) faces from other packages", len(faces_of("editability-heldout")))
    claim(text, r"one thread on a shared (\d+)-core machine", result("editability-dev")["machine_at_start"]["cores"])
    claim(text, r"no PSNR\s+exceeds ([\d.]+) dB", PSNR_8BIT_MAX)
    claim(text, r"A folder of (\d+) gives throughput", result("batch-cli")["summary"]["images"])
    with open(os.path.join(ROOT, "app.py")) as f:
        claim(text, r"`app.py` \(launcher, under (\d+) lines\)", 100)
        assert len(f.read().splitlines()) < 100


def test_readme_shipped_files_are_as_described():
    """Sizes and the directions' validation accuracy, read from the files themselves."""
    text = readme()
    for rel in ("ganinv/attributes/weights/age_gender.safetensors", "checkpoints/encoder-celeba-dcgan-64.safetensors"):
        claim(text, re.escape(os.path.basename(rel)) + r"` \(([\d.]+) MB", os.path.getsize(os.path.join(ROOT, rel)) / 1e6)
    claim(text, r"validation accuracy \(>= ([\d.]+) for every trained one\)", 0.85)
    folder = os.path.join(ROOT, "directions", "celeba-dcgan-64")
    metas = [json.load(open(os.path.join(folder, f))) for f in os.listdir(folder)
             if f.endswith(".json") and f != "disentanglement.json"]
    trained = [m["accuracy_val"] for m in metas if m["method"] == "interfacegan"]   # conditional ones are derived
    assert trained and min(trained) >= 0.85, trained


# --------------------------------------------------------------------------- docs/benchmarks.md
BENCHMARKS = "docs/benchmarks.md"
EDITABILITY = {"PSNR dB": "psnr", "LPIPS-VGG": "lpips", "ArcFace": "arcface", "dlib": "dlib"}


def check_split_rows(rows: list[dict], name_of, columns: dict) -> None:
    """Summary rows of editability runs: ``name_of(row)`` -> (results name, method); ``columns``:
    header -> summary key (a [percent, n] pair for shares)."""
    for row in rows:
        name, method = name_of(row)
        s = result(name)["summary"][method]
        if "faces" in row:
            assert int(row["faces"]) == s["faces"], row
        for col, key in columns.items():
            if isinstance(s[key], list):
                share(row[col], s[key])
            else:
                assert same(row[col], s[key]), (row, col, s[key])


def check_face_rows(rows: list[dict], name: str, columns: dict) -> None:
    """Per-face rows of an editability run: every item once, every column its value."""
    items = {(i["face"], i["method"]): i for i in result(name)["items"]}
    assert {(r["face"], r["method"]) for r in rows} == set(items) and len(rows) == len(items)
    for row in rows:
        item = items[(row["face"], row["method"])]
        for col, key in columns.items():
            assert same(row[col], item[key]), (row, col, item[key])


def test_benchmarks_intro_is_the_data():
    from ganinv.losses import PSNR_8BIT_MAX
    intro = re.split(r"^## ", text_of(BENCHMARKS), flags=re.M)[0]
    claim(intro, r"PSNR stops at ([\d.]+) dB", PSNR_8BIT_MAX)
    check_face_counts(intro)


def test_benchmarks_real_faces_are_the_editability_results():
    text = section(text_of(BENCHMARKS), "Real faces")
    check_split_rows(table_with(text, "split"), lambda r: (f"editability-{r['split']}", r["method"]),
                     dict(EDITABILITY, **{"dlib <= 0.35": "dlib35", "CPU s / face": "cpu", "wall s / face": "wall"}))
    dev, held = table_with(text, "face", count=2)
    columns = dict(EDITABILITY, **{"CPU s": "cpu", "wall s": "wall"})
    check_face_rows(dev, "editability-dev", columns)
    check_face_rows(held, "editability-heldout", columns)
    check_run(text, "editability-dev")
    check_run(text, "editability-heldout")


def test_benchmarks_pti_settings_are_the_results():
    text = section(text_of(BENCHMARKS), "PTI against the paper")
    doc = result("pti-settings")
    s, items = doc["summary"], {(i["face"], i["variant"]): i for i in doc["items"]}
    rows = table_with(text, "face")
    assert len(rows) == len(items) + len(s)
    for row in rows:
        v = s[row["variant"]] if row["face"] == "mean" else items[(row["face"], row["variant"])]
        for col, key in {"steps run": "steps_run", "CPU s": "cpu_s", "PSNR dB": "psnr", "LPIPS-VGG": "lpips_vgg"}.items():
            assert same(row[col], v[key]), (row, col, v[key])
    check_run(text, "pti-settings")
    stops = [i["steps_run"] for i in doc["items"] if i["variant"] == "paper"]
    d, paper, nolp, bank = s["default"], s["paper, no stop"], s["default, no locality LPIPS"], s["default, banked w_r"]
    claim(text, r"fires after (\d+)-(\d+) steps", min(stops), max(stops))
    claim(text, r"keeps the pivot's PSNR \(([\d.]+) dB\)", s["paper"]["psnr"])
    claim(text, r"reach ([\d.]+) dB against ([\d.]+) dB at 150 and take ([\d.]+)x the CPU time \(([\d.]+) vs ([\d.]+) s",
          paper["psnr"], d["psnr"], paper["cpu_s"] / d["cpu_s"], paper["cpu_s"], d["cpu_s"])
    claim(text, r"costs ([\d.]+)x the time of its L2 term alone \(([\d.]+) vs ([\d.]+) dB\)",
          d["cpu_s"] / nolp["cpu_s"], d["psnr"], nolp["psnr"])
    claim(text, r"drawn once: ([\d.]+) vs ([\d.]+) CPU s, ([\d.]+) vs ([\d.]+) dB",
          d["cpu_s"], bank["cpu_s"], d["psnr"], bank["psnr"])


def test_benchmarks_batch_is_the_cli_results():
    text = section(text_of(BENCHMARKS), "A folder through the CLI")
    doc = result("batch-cli")
    s, items = doc["summary"], {(i["run"], i["steps"]): i for i in doc["items"]}
    rows = table_with(text, "run")
    assert len(rows) == len(items)
    for row in rows:
        item = items[(row["run"], int(row["steps"]))]
        assert int(row["images"]) == item["images"] and same(row["wall s"], item["wall_s"]), (row, item)
    check_run(text, "batch-cli")
    claim(text, r"took ([\d.]+)x the time of one image: ([\d.]+)x the throughput", s["time_ratio"], s["throughput_ratio"])
    claim(text, r"Fixed costs: ([\d.]+) s for one image, ([\d.]+) s for 8", s["one_fixed_s"], s["folder_fixed_s"])
    claim(text, r"([\d.]+) s for one image and ([\d.]+) s for 8 in one batch \(([\d.]+)x\)",
          s["one_optimisation_s"], s["folder_optimisation_s"], s["optimisation_ratio"])


def test_benchmarks_pasted_photo_tables_are_the_fidelity_results():
    text = section(text_of(BENCHMARKS), "What the user gets back")
    doc = result("fidelity")
    summary = doc["summary"]
    faces = {k: len({i["face"] for i in doc["items"] if i["set"] == k}) for k in ("dev", "heldout")}
    claim(text, r"Faces: the (\d+)\s+dev faces and the (\d+) held-out portraits", faces["dev"], faces["heldout"])
    skin, change = table_with(text, "faces", count=2)
    def signed(cell: str, v: float) -> None:
        assert cell[0] in "+-" and same(cell, v), (cell, v)

    for rows, check in ((skin, share), (change, signed)):
        assert {(r["faces"], r["mode"]) for r in rows} == {(k, m) for k in summary for m in ("delta", "flow")}
        for row in rows:
            s = summary[row["faces"]][row["mode"]]
            values = s["skin_by_direction"] if rows is skin else s["attribute_change"]
            assert set(row) - {"faces", "mode"} == set(values), row
            for col, v in values.items():
                check(row[col], v)


def test_benchmarks_edit_latency_is_the_results():
    text = section(text_of(BENCHMARKS), "A slider edit over HTTP")
    doc = result("edit-latency")
    s = doc["summary"]
    keys = {"release to the pasted photo": "view", "the same without paste-back": "view, no paste",
            "with every score read off the photo": "with scores"}
    rows = table_with(text, "setting")
    assert len(rows) == len(keys)
    for row in rows:
        v = s[next(k for p, k in keys.items() if row["setting"].startswith(p))]
        q1, q3 = row["quartiles"].split("-")
        assert same(row["median s"], v["median_s"]) and same(q1, v["q1_s"]) and same(q3, v["q3_s"]), (row, v)
        claim(text, r"(\d+) per setting", v["n"])
    claim(text, r"load average ([\d.]+) at the\s+start", doc["machine_at_start"]["load_average"][0])
    shown = re.search(r"cycling through ((?:±\d, )*±\d)", text)
    strengths = {i["strength"] for i in doc["items"]}
    assert shown and {float(a) * sign for a in re.findall(r"±(\d)", shown.group(1)) for sign in (1, -1)} == strengths


def test_benchmarks_layerwise_residual_is_the_results():
    text = section(text_of(BENCHMARKS), "Editing with the layer-wise residual")
    method = "layerwise-residual"
    check_split_rows(table_with(text, "split"), lambda r: (f"editability-layerwise-{r['split']}", method),
                     dict(EDITABILITY, **{"CPU s / face": "cpu", "smile rise >= 0.3": "rise",
                                          "dlib to unedited <= 0.5": "kept", "ITA within 5°": "ita"}))
    for split in ("dev", "heldout"):
        check_run(text, f"editability-layerwise-{split}")


def test_every_benchmarks_section_is_checked():
    """A section added to docs/benchmarks.md gets a test above before it publishes figures."""
    checked = ("Real faces", "PTI against the paper", "A folder through the CLI", "The default inversion in the app",
               "Editing with the layer-wise residual", "What the user gets back", "A slider edit over HTTP")
    titles = re.findall(r"^## (.*)$", text_of(BENCHMARKS), flags=re.M)
    assert [t for t in titles if not t.startswith(checked)] == []
    assert not tables(section(text_of(BENCHMARKS), "The default inversion in the app"))


# --------------------------------------------------------------------------- docs/scale.md, docs/age_gender.md
def test_scale_is_the_results():
    text = text_of("docs/scale.md")
    doc = result("scale")
    s, items = doc["summary"], doc["items"]
    engines = {"in-process": "inprocess", "Ray": "ray"}
    rows = table_with(text, "engine")
    assert len(rows) == 3
    for row in rows:
        key = f"{engines[row['engine']]}-{row['workers']}"
        v = s[key]
        secs = [i["seconds"] for i in items if f"{i['engine']}-{i['workers']}" == key]
        assert int(row["pairs"]) == v["pairs"] == len(secs)
        assert same(row["wall s"], v["wall_s"]) and same(row["pairs / s"], v["images_per_s"]), (row, v)
        assert same(row["encoder s / pair (mean)"], sum(secs) / len(secs)), row
        diff = row["max PSNR diff vs in-process"]
        assert diff == "(reference)" if key == "inprocess-1" else same(diff, v["max_psnr_diff_vs_inprocess_db"])
    claim(text, r"load average ([\d.]+) at the start and ([\d.]+) at the end",
          doc["machine_at_start"]["load_average"][0], doc["machine_at_end"]["load_average"][0])
    claim(text, r"took ([\d.]+) s \*less\*", -s["ray_overhead_s"])
    claim(text, r"\(([\d.]+) vs ([\d.]+) pairs / s\)", s["ray-2"]["images_per_s"], s["inprocess-1"]["images_per_s"])
    mean = {k: sum(i["seconds"] for i in items if f"{i['engine']}-{i['workers']}" == k) / 64 for k in s if "-" in k}
    claim(text, r"\(([\d.]+) vs ([\d.]+) s\)", mean["ray-2"], mean["ray-1"])
    claim(text, r"max difference ([\d.]+) dB", max(v["max_psnr_diff_vs_inprocess_db"] for k, v in s.items() if "-" in k))
    measured = section(text, "Measured")
    assert doc["command"].split(" ", 1)[1] in measured, doc["command"]
    claim(measured, r"(\d+) samples of the bundled", doc["settings"]["images"])
    claim(measured, r"seeds (\d+)-(\d+)", doc["settings"]["first_seed"], doc["settings"]["first_seed"] + 63)
    claim(measured, r"The\s+machine: (\d+) cores", doc["machine_at_start"]["cores"])
    loads = [doc["machine_at_start"]["load_average"][0], doc["machine_at_end"]["load_average"][0]]
    claim(measured, r"kept at load ([\d.]+)-([\d.]+)", min(loads), max(loads))
    claim(measured, r"the ~([\d.]+) s of wall time", s["inprocess-1"]["wall_s"] / s["inprocess-1"]["pairs"])


def test_scale_plan_is_its_arithmetic():
    """The plan's GPU hours and times are the quoted seconds per image x 2,824 images / GPUs."""
    plan = section(text_of("docs/scale.md"), "Plan")
    n = 2824
    units = {"h": 1.0, "days": 24.0, "min": 1 / 60}
    rows = table_with(plan, "method")
    assert len(rows) == 4
    for row in rows:
        hours = float(row["GPU s / image (paper)"]) * n / 3600
        assert same(row["GPU-hours for 2,824"], hours), row
        for col, gpus in (("1 GPU", 1), ("8 GPUs", 8), ("32 GPUs", 32)):
            cell = row[col]
            if cell.startswith("<"):
                assert hours / gpus * 60 < float(re.search(r"[\d.]+", cell).group(0)), row
                continue
            unit = re.search(r"[\d.]+ (h|days|min)", cell).group(1)
            assert same(cell, hours / gpus / units[unit]), (row, col)


def test_age_gender_comparison_is_the_results():
    text = text_of("docs/age_gender.md").split("<!-- comparison:start -->")[1].split("<!-- comparison:end -->")[0]
    doc = result("age-gender")
    s, items = doc["summary"], {i["crop"]: i for i in doc["items"]}
    rows = table_with(text, "crop")
    assert [r["crop"] for r in rows] == list(items) and len(rows) == s["crops"]
    for row in rows:
        i = items[row["crop"]]
        assert row["size (h x w)"] == f"{i['height']} x {i['width']}"
        assert same(row["age, Node"], i["age_node"]) and same(row["age, ours"], i["age_ours"]), (row, i)
        assert same(row["P(male), Node"], i["male_node"]) and same(row["P(male), ours"], i["male_ours"]), (row, i)
    claim(text, r"(\d+) crops; Node", s["crops"])
    node = doc["settings"]["node"]
    assert (f"Node: {node['package']}, TensorFlow.js {node['tfjs']} ({node['backend']} backend); ours: PyTorch "
            f"{doc['settings']['torch']}") in text
    m = re.search(r"age ([\d.e+-]+) years, P\(male\) ([\d.e+-]+)\*\* \(tolerance ([\d.e+-]+)\)", text)
    assert m and [float(g) for g in m.groups()] == pytest.approx([s["max_abs_age"], s["max_abs_male"], s["tolerance"]],
                                                                  rel=5e-3)
    assert s["max_abs_age"] <= s["tolerance"] and s["max_abs_male"] <= s["tolerance"]
    raw = [t for t in tables(text) if t[0][0] == "crop"][0][1:]       # both columns are headed "abs diff"
    for cells in raw:                       # the difference columns, at their one significant digit
        i = items[cells[0]]
        for cell, diff in ((cells[4], abs(i["age_ours"] - i["age_node"])), (cells[7], abs(i["male_ours"] - i["male_node"]))):
            assert float(cell) == pytest.approx(diff, rel=0.05, abs=5e-10), (cells[0], cell, diff)
    whole = text_of("docs/age_gender.md")
    names = [c.split("[")[0] for c in items]
    for photo in ("players", "gdp"):
        claim(whole, rf"`{photo}.jpg` \((\d+)\)", names.count(photo))
    claim(whole, r"(\d+) DCGAN samples \(`seed=(\d+)`\)", doc["settings"]["dcgan"], doc["settings"]["seed"])


def test_age_gender_weights_are_as_described():
    """The shipped file's parameter count, size and tensor count, read from the file and its JSON."""
    import struct
    path = os.path.join(ROOT, "ganinv", "attributes", "weights", "age_gender.safetensors")
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    params = sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    meta = json.load(open(os.path.join(os.path.dirname(path), "age_gender.json")))
    text = text_of("docs/age_gender.md")
    m = re.search(r"\(([\d,]+) float32 parameters, ([\d.]+) MB\)", text)
    assert m and int(m.group(1).replace(",", "")) == params and same(m.group(2), os.path.getsize(path) / 1e6), m
    claim(text, r"\((\d+) tensors,", meta["num_tensors"])
    claim(text, r"mean RGB \(([\d.]+), ([\d.]+),\s+([\d.]+)\)", *meta["config"]["mean_rgb"])
    claim(text, r"toBatchTensor\((\d+), true\)", meta["config"]["input_size"])
