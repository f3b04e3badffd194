"""Publish the benchmark results: the plots and the tables of ``docs/benchmarks.md`` (nothing is
measured here; every number comes from a ``benchmarks/results/*.json`` written by a bench script).

    python benchmarks/publish.py            # every plot and table whose results file exists

Plots, written to ``docs/assets/benchmarks/``:

- ``knn_latency.png``: batch-1 latency of the kNN stage vs database rows (log-log), every index and
  the D&C-restricted search at each top-N (from ``bench_knn.py``);
- ``knn_recall.png``: recall@k against exact search vs latency at the largest size (ANN trade-off);
- ``pipelines_pareto.png``: LR@1 vs total per-query latency of every pipeline on synthcity, with the
  Pareto front (from ``bench_pipelines.py`` and, when present, ``bench_methods.py``);
- ``classify_batch.png``: per-query cost of D&C classification over 100k classes vs batch size, one
  line per ``score_precision``, with the issue-6 targets (from ``bench_classify.py``).

Tables, written between ``<!-- bench-NAME:start/end -->`` markers of ``docs/benchmarks.md``:
``knn-latency``, ``knn-detail``, ``hnsw-ef``, ``restricted``, ``data``, ``training``, ``classify``,
``extraction`` (from ``bench_extraction.py``; :func:`extraction_tables` renders any such file, e.g.
a ``--quick`` one, without writing anything), ``scale`` (from ``bench_scale.py``; likewise
:func:`scale_table`).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from docs_tables import table_head, write_between_markers

from vprkit.fileio import atomic_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "docs" / "assets" / "benchmarks"
STYLE = {
    "flat": ("black", "o", "-"),
    "ivfpq/recall": ("tab:blue", "s", "-"),
    "ivfpq/speed": ("tab:blue", "s", "--"),
    "hnsw": ("tab:green", "^", "-"),
    "restricted": ("tab:red", "D", "-"),
}
# shade of each restricted top-N line: more cells, darker
TOPN_RANK = {"restricted/top-1": 0, "restricted/top-10": 1, "restricted/top-100": 2, "restricted/top-1000": 3}


def style(label: str) -> tuple[str, str, str]:
    for prefix, st in STYLE.items():
        if label.startswith(prefix):
            return st
    return ("gray", ".", "-")


def save(fig, name: str) -> Path:
    ASSETS.mkdir(parents=True, exist_ok=True)
    with atomic_path(ASSETS / name, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    print(f"wrote {ASSETS / name}")
    return ASSETS / name


def machine_line(result: dict) -> str:
    m = result["machine"]
    return f"{m['cpus']} CPU cores, {result.get('date', '')}"


def plot_knn(result: dict) -> None:
    sizes = result["sizes"]
    labels = list(dict.fromkeys(lab for s in sizes for lab, r in s["methods"].items() if "skipped" not in r))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for label in labels:
        pts = [
            (s["rows"], s["methods"][label]["p50_ms"])
            for s in sizes
            if label in s["methods"] and "skipped" not in s["methods"][label]
        ]
        colour, marker, line = style(label)
        alpha = 0.35 + 0.65 * (TOPN_RANK.get(label, 3) / 3) if label.startswith("restricted") else 1.0
        ax.plot(*zip(*pts), marker=marker, linestyle=line, color=colour, alpha=alpha, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("database rows (512-D descriptors)")
    ax.set_ylabel("kNN latency per query, batch 1, p50 (ms)")
    ax.set_title(f"kNN stage vs database size ({machine_line(result)})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    save(fig, "knn_latency.png")

    largest = sizes[-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True)
    for ax, key, name in ((axes[0], "recall_at_1", "recall@1"), (axes[1], "recall_at_k", f"recall@{largest['k']}")):
        for i, (label, r) in enumerate(largest["methods"].items()):
            if "skipped" in r:
                continue
            colour, marker, _ = style(label)
            ax.scatter(r["p50_ms"], r[key], color=colour, marker=marker, s=50)
            short = label.replace("restricted/", "")  # the colour says restricted
            ax.annotate(
                short, (r["p50_ms"], r[key]), fontsize=7, xytext=(4, 6 if i % 2 else -10), textcoords="offset points"
            )
        ax.set_xscale("log")
        ax.set_xlabel("latency per query, batch 1, p50 (ms)")
        ax.set_ylabel(f"{name} vs exact search over all rows")
        ax.set_ylim(-0.05, 1.08)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        f"{largest['rows']:,} rows: accuracy of the kNN stage vs its cost "
        "(red: D&C-restricted top-N, blue: IVFPQ, green: HNSW)",
        fontsize=10,
    )
    fig.tight_layout()
    save(fig, "knn_recall.png")


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by one both faster and at least as accurate (sorted by latency)."""
    front, best = [], -1.0
    for latency, acc in sorted(points):
        if acc > best:
            front.append((latency, acc))
            best = acc
    return front


def method_row_label(key: str, labels: dict[str, str]) -> str:
    """``"dnc+cosplace@100"`` → ``"D&C … top-100 → CosPlace"``; ``"cosplace"`` → its label."""
    pipeline, _, topn = key.partition("@")
    parts = [labels[p] for p in pipeline.split("+")]
    return f"{parts[0]} top-{topn} → {parts[1]}" if topn else parts[0]


def plot_pipelines(pipelines: dict | None, methods: dict | None) -> None:
    points = []  # (label, latency ms, LR@1, group)
    if pipelines:
        for r in pipelines["rows"]:
            points.append((r["label"], r["latency_ms"]["total"], r["lr"]["1"], "shipped checkpoints (40 epochs)"))
    if methods:
        for key, r in methods["rows"].items():
            points.append(
                (
                    method_row_label(key, methods["labels"]),
                    r["latency_ms"]["total"],
                    r["lr"]["1"],
                    f"method comparison ({methods['epochs']} epochs)",
                )
            )
    if not points:
        return
    front = pareto([(p[1], p[2]) for p in points])
    on_front = set(front)
    fig, ax = plt.subplots(figsize=(9, 6))
    for group, colour in zip(dict.fromkeys(p[3] for p in points), ("tab:red", "tab:gray")):
        sel = [p for p in points if p[3] == group]
        ax.scatter([p[1] for p in sel], [p[2] for p in sel], color=colour, s=30, alpha=0.8, label=group)
        for i, (label, x, y, _) in enumerate(sel):
            if (x, y) in on_front or group.startswith("shipped"):
                ax.annotate(label, (x, y), fontsize=6.5, xytext=(4, 5 if i % 2 else -9), textcoords="offset points")
    ax.plot(*zip(*front), color="black", alpha=0.4, linestyle=":", label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("total latency per query, batch 1 (ms): extraction + classification + gathering + kNN")
    ax.set_ylabel("LR@1 (%)")
    source = pipelines or methods
    ax.set_title(f"Pipelines on synthcity small, test queries ({machine_line(source)})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, "pipelines_pareto.png")


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f}" if nbytes >= 2**20 else f"{nbytes / 2**20:.1f}"


def knn_tables(result: dict) -> dict[str, list[str]]:
    sizes = result["sizes"]
    labels = list(dict.fromkeys(lab for s in sizes for lab in s["methods"]))
    head = "| method | " + " | ".join(f"{s['rows']:,} rows" for s in sizes) + " |"
    latency = table_head(head)
    for label in labels:
        cells = []
        for s in sizes:
            r = s["methods"].get(label)
            cells.append("–" if r is None or "skipped" in r else f"{r['p50_ms']:.3g}")
        latency.append(f"| {label} | " + " | ".join(cells) + " |")
    detail = []
    for s in sizes[-2:]:
        detail += [
            f"**{s['rows']:,} rows** ({s['cells']:,} cells):",
            "",
            *table_head(
                "| method | p50 ms | p95 ms | batched q/s | recall@1 | recall@20 | candidates | build s | memory MiB |"
            ),
        ]
        for label, r in s["methods"].items():
            if "skipped" in r:
                detail.append(f"| {label} | skipped: {r['skipped']} | | | | | | | |")
                continue
            cand = (
                f"{r['candidates_mean']:,.0f}"
                if "candidates_mean" in r
                else f"{s['rows']:,}"
                if label == "flat"
                else "–"
            )
            detail.append(
                f"| {label} | {r['p50_ms']:.3g} | {r['p95_ms']:.3g} | {r['batched_qps']:,.0f} | "
                f"{r['recall_at_1']:.3f} | {r['recall_at_k']:.3f} | {cand} | {r['build_s']:,.1f} | "
                f"{mib(r['memory_bytes'])} |"
            )
        detail.append("")
    return {"knn-latency": latency, "knn-detail": detail[:-1]}


def hnsw_ef_table(result: dict) -> list[str]:
    lines = table_head("| rows | graph | ef | p50 ms | batched q/s | recall@1 | recall@20 | build s |")
    for s in result["sizes"]:
        for label, r in s["methods"].items():
            if label.startswith("hnsw") and "skipped" not in r:
                graph = label.split(",")[0].removeprefix("hnsw/")
                lines.append(
                    f"| {s['rows']:,} | {graph} | {r['ef_search']} | {r['p50_ms']:.3g} | {r['batched_qps']:,.0f} | "
                    f"{r['recall_at_1']:.3f} | {r['recall_at_k']:.3f} | {r['build_s']:,.0f} |"
                )
    return lines


def restricted_table(result: dict) -> list[str]:
    lines = table_head(
        "| rows | cells | candidates | restricted p50 / mean ms (random cells) | p50 / mean ms (window) | "
        "exhaustive mean ms | speed-up on means (random / window) | identical to `IndexFlatIP` restricted |"
    )
    for s in result["sizes"]:
        rnd, win = s["random"], s["window"]
        same = ", ".join(
            f"{x['exactness_vs_flat']['identical_rows']}/{x['exactness_vs_flat']['queries_checked']}"
            for x in (rnd, win)
        )
        lines.append(
            f"| {s['rows']:,} | {s['cells']:,} | {rnd['candidates_mean']:,.0f} | "
            f"{rnd['restricted_faiss']['p50_ms']:.3f} / {rnd['restricted_faiss']['mean_ms']:.3f} | "
            f"{win['restricted_faiss']['p50_ms']:.3f} / {win['restricted_faiss']['mean_ms']:.3f} | "
            f"{s['flat_all_rows']['mean_ms']:,.1f} | {rnd['speedup_vs_flat']:,.0f}× / {win['speedup_vs_flat']:,.0f}× | {same} |"
        )
    return lines


def data_table(filenames: dict | None, partition: dict | None) -> list[str]:
    lines = table_head("| step | points | seconds | notes |")
    if filenames:
        lines.append(
            f"| parse standard '@' file names | {filenames['n_names']:,} | {filenames['parse_seconds']:.1f} | "
            f"{filenames['parse_names_per_second']:,.0f} names/s, peak RSS {filenames['max_rss_mb']:,} MB |"
        )
    if partition:
        for name, r in partition["runs"].items():
            if "classes" in r:
                note = f"{r['classes']:,} classes"
            else:  # cplanet: geoclass sets over combinatorial regions
                note = f"5 geoclass sets of {min(r['achieved']):,}–{max(r['achieved']):,} classes, {r['regions']:,} regions"
            note += f"; {r['data']}" if r.get("data") else ""
            lines.append(f"| `{name}` fit | {r['points']:,} | {r['fit_s']:.1f} | {note} |")
            if "assign_s" in r:
                lines.append(f"| `{name}` assign() | {r['points']:,} | {r['assign_s']:.1f} | |")
    return lines


def training_table(result: dict) -> list[str]:
    lines = table_head("| what | backbone | image | batch | threads / workers | device | images / s |")
    for r in result["runs"]:
        lines.append(
            f"| training (D&C recipe) | {r['backbone']} | {r['image_size']} | {r['batch']} | "
            f"{r['threads']} / {r['workers']} | {r['device']}{' AMP' if r['amp'] else ''} | {r['images_per_s_wall']:,.0f} |"
        )
    for r in result.get("extraction", []):
        lines.append(
            f"| extraction ({r['aggregation']}) | {r['backbone']} | {r['image_size']} | {r['batch']} | "
            f"{r['threads']} / – | {r['device']}{' AMP' if r['amp'] else ''} | {r['images_per_s']:,.0f} |"
        )
    return lines


def extraction_tables(result: dict) -> list[str]:
    """Forward-pass images/s per backbone × variant (with the smallest cosine similarity to CPU
    float32 NCHW), then where the time goes end to end from JPEG files."""
    forward = result["forward"]
    labels = list(dict.fromkeys(r["label"] for r in forward))
    reference = labels[0]
    cpu = next((r["runtime"] for r in forward if r["device"] == "cpu"), None)
    loads = [r["runtime"]["load_average_1m"] for r in forward if r["runtime"].get("load_average_1m") is not None]
    where = []
    if cpu:
        where.append(f"{cpu['device_name']}, {cpu['threads']} of {cpu['cores']} cores as torch threads")
    if result.get("cuda"):
        tf32 = "TF32 convolutions" if result["cuda"]["cudnn_allow_tf32"] else "no TF32"
        where.append(f"{result['cuda']['device_name']} ({tf32} in float32)")
    if loads:
        where.append(f"1-minute load {min(loads):.2f}–{max(loads):.2f}")
    lines = []
    if result.get("quick"):
        lines += ["**Smoke run (`--quick`): these numbers are not a measurement.**", ""]
    lines += [
        f"Forward pass, images/s at batch {result['batch']} (batch over the median batch time); in parentheses "
        f"the smallest cosine similarity of a batch's descriptors with {reference} NCHW "
        f"(issue 16: >= {result['cosine_target']}). {'; '.join(where)}; {result.get('date', '')}.",
        "",
        *table_head("| backbone | image | " + " | ".join(labels) + " |"),
    ]
    for key in dict.fromkeys((r["backbone"], r["image_size"]) for r in forward):
        cells = {r["label"]: r for r in forward if (r["backbone"], r["image_size"]) == key}
        text = []
        for label in labels:
            r = cells.get(label)
            if r is None:
                text.append("–")
                continue
            cell = f"{r['images_per_s']:,.1f}" if r["images_per_s"] < 100 else f"{r['images_per_s']:,.0f}"
            if label != reference:
                cosine = r["cosine_vs_float32"]["min"]
                cell += f" ({cosine:.5f})" if r["agrees"] else f" (**{cosine:.5f}**, below target)"
            text.append(cell)
        lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(text) + " |")
    e2e = result.get("end_to_end")
    if e2e:
        jpeg = e2e["jpeg"]
        lines += [
            "",
            f"End to end from {e2e['images']} JPEG files ({jpeg['width']}×{jpeg['height']}, {jpeg['mean_kib']:.0f} KiB "
            f"on average, in the page cache): {e2e['backbone']} at {e2e['image_size']}, {e2e['precision']}"
            f"{' channels_last' if e2e['channels_last'] else ''}, batch {e2e['runs'][0]['batch']}, "
            f"{e2e['transform'].removeprefix('vprkit build_test_transform: ')}. Milliseconds per image; decode and "
            "transform run in the loader (in the worker when there is one), *waiting* is the time the network "
            "waited for the loader.",
            "",
            *table_head(
                "| DataLoader workers | torch threads | decode | transform | forward | waiting | total | images / s |"
            ),
        ]
        for r in e2e["runs"]:
            ms = r["ms_per_image"]
            lines.append(
                f"| {r['workers']} | {r['threads']} | {ms['decode']:.2f} | {ms['transform']:.2f} | "
                f"{ms['forward']:.2f} | {ms['waiting_for_loader']:.2f} | {ms['total']:.2f} | {r['images_per_s']:,.1f} |"
            )
    return lines


def scale_table(result: dict) -> list[str]:
    """The SF-XL-scale phases (``bench_scale.py``): one row per phase, float32 and float16 storage
    side by side, issue 16's target beside them (a missed target in bold)."""
    data, phases, targets = result["data"], result["phases"], result["targets"]
    storages = result["storages"]
    gb = 1e9

    def mark(text: str, ok: bool | None) -> str:
        return text if ok is None or ok else f"**{text}** (over target)"

    def rss(res: dict, after: str) -> str:
        """RSS after the load or the searches, (+ its increase over the RSS before the load, of which
        file-backed: pages of memory-mapped files, which the kernel may drop)."""
        mem, start = res[f"memory_after_{after}"], res["memory_before_load"]
        mapped = (mem["RssFile"] - start["RssFile"]) / gb
        return f"{mem['VmRSS'] / gb:.2f} GB (+{res[f'rss_increase_after_{after}'] / gb:.2f}, file-backed {mapped:.2f})"

    def row(label: str, cell, target: str) -> str:
        """``cell(storage, entry)`` → text, or None for a dash."""
        texts = []
        for storage in ("float32", "float16"):
            entry = storages.get(storage)
            text = cell(storage, entry) if entry else None
            texts.append(text if text is not None else "–")
        return f"| {label} | {texts[0]} | {texts[1]} | {target} |"

    def load(name: str):
        def cell(storage: str, entry: dict) -> str | None:
            res = entry["load"].get(name)
            if res is None:
                return None
            ok = res["load_s"] <= targets["mmap_load_s"] if name.endswith("mmap") else None
            text = mark(f"{res['load_s']:.2f} s", ok)
            if "model_imports_s" in res:
                text += f" (+ {res['model_imports_s']:.1f} s model imports)"
            return f"{text}, RSS {rss(res, 'load')}"

        return cell

    def p50(timing: dict) -> str:
        # results from before the search target was recorded carry no verdict
        limit = targets.get("search_p50_ms")
        return mark(f"{timing['p50_ms']:.3f}", None if limit is None else timing["p50_ms"] <= limit)

    def search(name: str):
        def cell(storage: str, entry: dict) -> str | None:
            res = entry["load"].get(name)
            if res is None or "batch1" not in res:
                return None
            b1 = res["batch1"]
            return (
                f"{p50(b1)} / {b1['mean_ms']:.3f} / {b1['p95_ms']:.3f} ms; {res['batched']['queries_per_s']:,.0f} q/s"
            )

        return cell

    def measured(name: str, key: str, text):
        """A cell showing ``text(value)`` of the variant ``name``'s ``key``, a dash where absent
        (results from before the bench recorded it)."""

        def cell(storage: str, entry: dict) -> str | None:
            value = entry["load"].get(name, {}).get(key)
            return None if value is None else text(value)

        return cell

    def timing(r: dict) -> str:
        return f"{p50(r)} / {r['mean_ms']:.3f} / {r['p95_ms']:.3f} ms"

    def share(value: float) -> str:
        return f"{value:.0%}"

    def after_search(storage: str, entry: dict) -> str | None:
        res = entry["load"].get("index_eager")
        if res is None or "memory_after_search" not in res:
            return None
        ok = res["rss_increase_after_search"] <= targets["float16_resident_gb"] * gb if storage == "float16" else None
        return mark(rss(res, "search"), ok)

    def build(storage: str, entry: dict) -> str:
        b = entry["build"]
        seconds = f"{b['s']:.1f} s"
        return (
            f"{mark(seconds, b['s'] <= targets['bundle_build_s'])}, {b['bundle_bytes'] / gb:.2f} GB, "
            f"peak RSS {b['memory']['VmHWM'] / gb:.2f} GB"
        )

    def exact(storage: str, entry: dict) -> str | None:
        e = entry["load"].get("index_eager", {}).get("vs_float32_eager")
        if e is None:
            return None
        ok = e["identical_topk"] >= targets["float16_identical"]
        return mark(
            f"{e['identical_topk']:.1%} / {e['top1_agreement']:.1%} of {e['queries']:,} queries "
            f"(max score difference {e['max_abs_score_diff']:.2g})",
            ok,
        )

    search_target = f"p50 ≤ {targets['search_p50_ms']} ms" if "search_p50_ms" in targets else "–"
    store = phases["store_write"]
    eager = next((e["load"]["index_eager"] for e in storages.values() if "index_eager" in e["load"]), {})
    before = eager.get("memory_before_load", {}).get("VmRSS")
    machine = result["machine"]
    lines = []
    if result.get("quick"):
        lines += ["**Smoke run (`--quick`): these numbers are not a measurement.**", ""]
    lines += [
        f"{data['rows']:,} × {data['dim']} synthetic descriptors over a {data['side_m'] / 1000:.0f} km street grid "
        f"(UTM {data['utm_zone']}), {data['classes']:,} D&C classes ({data['mean_rows_per_class']:.1f} rows each); "
        f"top-{data['topn']} cells ≈ {data['candidates_mean']:,.0f} candidates, k = {data['k']}, "
        f"{data['latency_queries']} queries at batch 1, {data['queries']:,} in batches of {result['config']['batch']}; "
        f"{machine['cpus']} CPU cores, {machine.get('threads', '?')} threads, page cache {result['page_cache']}, "
        f"load average {result['load_average_before'][0]:.2f} before and {result['load_average_after'][0]:.2f} after; "
        f"{result.get('date', '')}. GB = 10⁹ bytes; RSS is the fresh process's VmRSS, (+…) its increase over the "
        + (f"{before / gb:.2f} GB " if before else "")
        + "it held before the load (Python, torch, faiss, vprkit).",
        "",
        *table_head("| phase | float32 storage | float16 storage | target |"),
        f"| (a) descriptor store write (`import_descriptors`) | {store['s']:.1f} s, {store['file_bytes'] / gb:.2f} GB, "
        f"peak RSS {store['memory']['VmHWM'] / gb:.2f} GB | (the same store) | – |",
        row("(b) bundle build from the store (`build_bundle`, `flat`)", build, f"≤ {targets['bundle_build_s']:.0f} s"),
        row("(c) `load_index(store, mmap=False)`", load("index_eager"), "–"),
        row("(c) `load_index(store, mmap=True)`", load("index_mmap"), f"≤ {targets['mmap_load_s']:.0f} s"),
        row("(c) `MapBundle.load(bundle, mmap=False)` (`localize --bundle`)", load("bundle_eager"), "–"),
        row(
            "(c) `MapBundle.load(bundle, mmap=True)` (`--mmap`)",
            load("bundle_mmap"),
            f"≤ {targets['mmap_load_s']:.0f} s",
        ),
        row(
            "(d) float32 file in the page cache before the searches, after `mmap=False`",
            measured("index_eager", "float32_cached_before_search", share),
            "–",
        ),
        row(
            "(d) float32 file in the page cache before the searches, after `mmap=True`",
            measured("index_mmap", "float32_cached_before_search", share),
            "–",
        ),
        row("(d) search after `mmap=False`: batch 1 p50 / mean / p95; batched", search("index_eager"), search_target),
        row("(d) search after `mmap=True`: batch 1 p50 / mean / p95; batched", search("index_mmap"), search_target),
        row(
            "(d) the same batch-1 queries again, after `mmap=False`",
            measured("index_eager", "batch1_repeat", timing),
            search_target,
        ),
        row(
            "(d) the same batch-1 queries again, after `mmap=True`",
            measured("index_mmap", "batch1_repeat", timing),
            search_target,
        ),
        row(
            "(d) RSS after the searches (`mmap=False`)",
            after_search,
            f"float16: ≤ {targets['float16_resident_gb']:.0f} GB (+…)",
        ),
        row(f"(e) identical top-{data['k']} rows / same top-1 as float32", exact, "exact (100 %)"),
    ]
    return lines


def plot_classify(result: dict) -> None:
    sweep = result["batch_sweep_ms_per_query"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {"float32": "black", "pq4": "tab:blue", "bf16": "tab:orange", "auto": "tab:red"}
    for precision, costs in sweep.items():
        batches = sorted(int(b) for b in costs if b != "loadavg")
        ax.plot(
            batches,
            [costs[str(b)] for b in batches],
            marker="o",
            color=colors.get(precision, "gray"),
            label=precision,
            linewidth=2.5 if precision == "auto" else 1.2,
        )
    ax.axhline(1e3 / result["targets"]["batched_qps"], color="gray", linestyle=":", label="2,000 queries/s")
    ax.plot(
        [1],
        [result["targets"]["batch1_ms"]],
        marker="*",
        markersize=12,
        color="gray",
        linestyle="none",
        label="5 ms at batch 1",
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted(int(b) for b in next(iter(sweep.values())) if b != "loadavg")
    ax.set_xticks(ticks, [str(b) for b in ticks])
    ax.minorticks_off()
    ax.set_xlabel("queries per call (batch)")
    ax.set_ylabel("ms per query")
    ax.set_title(
        f"D&C classification, {result['classes']:,} classes x {result['dim']}-D, raw scores, "
        f"{result['machine']['threads']} threads",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, "classify_batch.png")


def classify_table(result: dict) -> list[str]:
    lines = table_head(
        "| scores | precision | batch 1 (ms / query) | batch 256 (queries / s, median; min–max of 7) | "
        "top-1 = float32 | top-100 recall | re-scored in float32 |"
    )
    for name, row in result["modes"].items():
        mode, precision = name.split("/", 1)
        reps = row["batched_qps_each_rep"]
        agree = row.get("vs_float32", {}).get("trained_like", {})
        random_agree = row.get("vs_float32", {}).get("random", {})
        recall = f"{agree['top100_recall']:.1%} / {random_agree['top100_recall']:.1%}" if agree else "–"
        rescored = (
            f"{agree['rescored_in_float32']} / {random_agree['rescored_in_float32']}"
            if "rescored_in_float32" in agree
            else "–"
        )
        scan = f" ({row['scan_batch1']} / {row['scan_batched']})" if precision == "auto" else ""
        top1 = f"{agree['top1_agreement']:.0%}" if agree else "–"
        lines.append(
            f"| {mode} | {precision.replace('/shortlist', ', shortlist ')}{scan} | {row['batch1_ms']:.2f} | "
            f"{row['batched_qps']:,.0f} ({min(reps):,.0f}–{max(reps):,.0f}) | {top1} | {recall} | {rescored} |"
        )
    return lines


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def main() -> None:
    tables: dict[str, list[str]] = {}
    knn = load("knn.json")
    if knn:
        plot_knn(knn)
        tables.update(knn_tables(knn))
    plot_pipelines(load("pipelines.json"), load("methods.json"))
    if hnsw_ef := load("knn_hnsw_ef.json"):
        tables["hnsw-ef"] = hnsw_ef_table(hnsw_ef)
    if restricted := load("restricted_search_scale.json"):
        tables["restricted"] = restricted_table(restricted)
    if (filenames := load("filenames.json")) or load("partition.json"):
        tables["data"] = data_table(filenames, load("partition.json"))
    if training := load("training_throughput.json"):
        tables["training"] = training_table(training)
    if extraction := load("extraction.json"):
        tables["extraction"] = extraction_tables(extraction)
    if scale := load("scale.json"):
        tables["scale"] = scale_table(scale)
    if classify := load("classify.json"):
        plot_classify(classify)
        tables["classify"] = classify_table(classify)
    write_between_markers(ROOT / "docs" / "benchmarks.md", {f"bench-{name}": lines for name, lines in tables.items()})
    print(f"wrote {len(tables)} table(s) into docs/benchmarks.md")


if __name__ == "__main__":
    main()
