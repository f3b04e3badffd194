"""Re-ranking the retrieved shortlist with `sift`, on synthcity small (issue 19).

    python benchmarks/bench_rerank.py
    python benchmarks/bench_rerank.py --threads 2 --ks 10 20 50

Two first stages, each with the checkpoints vprkit ships (flat index, test split, 400 queries):
retrieval alone (``--classifier none --retriever cosplace``) and classify → retrieve
(``--classifier dnc --retriever cosplace --topn 100``); each without re-ranking and with
``--reranker sift --rerank-k K`` for every K, and once with ``--reranker-set upscale=2`` (SIFT on
images doubled before detection) at the middle K. Per query condition (the note in synthcity's
file names): LR@1/5/10; per stage: latency at batch 1 (ms/query). Also the keypoints SIFT finds
per query and per database image, and the bytes of one database image's cached features.

Writes ``benchmarks/results/rerank.json``, the table between the ``rerank-table`` markers of
``docs/pipelines.md`` and the plot ``docs/assets/benchmarks/rerank_latency.png`` (LR@1 vs total
latency per query).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from docs_tables import table_head, write_between_markers
from machine import machine_block

from vprkit.data.standard import load_split
from vprkit.evaluation.metrics import localization_recall
from vprkit.pipeline.run import RunConfig, run_pipeline
from vprkit.plotting import png_figure

ROOT = Path(__file__).resolve().parents[1]
NS = (1, 5, 10)
FIRST_STAGES = {"CosPlace": ("none", "cosplace"), "D&C → CosPlace top-100": ("dnc", "cosplace")}


def by_condition(report: Any, root: Path) -> dict[str, dict[str, float]]:
    """LR@1/5/10 per query condition, from the run's localization."""
    queries = load_split(root, f"test/{report.query_set}")
    loc = report.evaluation.localization
    truth = np.stack([queries.east, queries.north], axis=1)
    notes = np.asarray(queries.extra.get("note", np.array([""] * len(queries)))).astype(str)
    out = {"all": localization_recall(loc.coords, truth, NS, 25.0)}
    for cond in np.unique(notes):
        mask = notes == cond
        out[str(cond) or "none"] = localization_recall(loc.coords[mask], truth[mask], NS, 25.0)
    return {c: {str(n): round(v, 1) for n, v in lr.items()} for c, lr in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthcity")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--docs", default=str(ROOT / "docs" / "pipelines.md"))
    args = parser.parse_args()
    mid = sorted(args.ks)[len(args.ks) // 2]
    variants: list[tuple[str, str | None, int, dict[str, Any]]] = [("none", None, 20, {})]
    variants += [(f"sift K={k}", "sift", k, {}) for k in args.ks]
    variants.append((f"sift ×2 K={mid}", "sift", mid, {"upscale": 2.0}))
    rows: list[dict[str, Any]] = []
    for stage_name, (classifier, retriever) in FIRST_STAGES.items():
        for label, reranker, k, settings in variants:
            config = RunConfig(
                classifier=classifier,
                retriever=retriever,
                topn=100,
                dataset=args.dataset,
                split="test",
                threads=args.threads,
                reranker=reranker,
                rerank_k=k,
                reranker_config=settings,
            )
            [report] = run_pipeline(config)
            d = report.to_dict()
            root = Path(d["config"]["dataset"])
            rows.append(
                {
                    "first_stages": stage_name,
                    "reranking": label,
                    "lr": {n: d["lr"][n] for n in ("1", "5", "10")},
                    "by_condition": by_condition(report, root),
                    "latency_ms": d["latency_ms"],
                    "rerank": d.get("rerank"),
                    "runtime": d["runtime"],
                }
            )
            print(stage_name, label, d["lr"]["1"], d["latency_ms"]["total"], flush=True)
    out = ROOT / "benchmarks" / "results" / "rerank.json"
    out.write_text(json.dumps({"machine": machine_block(), "dataset": args.dataset, "rows": rows}, indent=2) + "\n")
    write_docs(rows, args)
    plot(rows, ROOT / "docs" / "assets" / "benchmarks" / "rerank_latency.png")


def write_docs(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    conditions = [c for c in rows[0]["by_condition"] if c != "all"]
    lines = table_head(
        "| first stages | re-ranking | LR@1 | LR@5 | LR@10 | "
        + " | ".join(f"{c} @1/5/10" for c in conditions)
        + " | first stages ms | rerank ms | total ms |"
    )
    for r in rows:
        lat = r["latency_ms"]
        rerank_ms = lat.get("rerank", 0.0)
        cond = ["/".join(f"{r['by_condition'][c][n]:.0f}" for n in ("1", "5", "10")) for c in conditions]
        lines.append(
            f"| {r['first_stages']} | {r['reranking']} | {r['lr']['1']:.1f} | {r['lr']['5']:.1f} | {r['lr']['10']:.1f} | "
            + " | ".join(cond)
            + f" | {lat['total'] - rerank_ms:.1f} | {rerank_ms:.1f} | {lat['total']:.1f} |"
        )
    stats = [r["rerank"] for r in rows if r["rerank"] and "×2" not in r["reranking"]]
    doubled = [r["rerank"] for r in rows if r["rerank"] and "×2" in r["reranking"]]
    rt = rows[0]["runtime"]
    lines += [
        "",
        f"LR@N (%) on `--dataset {args.dataset}` (400 test queries, 25 m), per query condition LR@1/5/10; latency "
        f"per query at batch 1 on {rt['device']} ({rt['device_name']}), {rt['threads']} threads, load "
        f"{rt.get('load_average_1m') or 0:.1f} at the start. SIFT found a median of "
        f"{stats[0]['median_query_keypoints']:.0f} keypoints per query and "
        f"{stats[0]['median_database_keypoints']:.0f} per database image "
        f"({doubled[0]['median_query_keypoints']:.0f} and {doubled[0]['median_database_keypoints']:.0f} at ×2); "
        f"cached features take {stats[0]['features_bytes_per_image']:.0f} bytes per database image "
        f"({doubled[0]['features_bytes_per_image']:.0f} at ×2). Measured {time.strftime('%Y-%m-%d')}; regenerate: "
        "`python benchmarks/bench_rerank.py`.",
    ]
    write_between_markers(Path(args.docs), {"rerank-table": lines})


def plot(rows: list[dict[str, Any]], png: Path) -> None:
    with png_figure(png, figsize=(6.4, 4.2), dpi=120) as fig:
        ax = fig.subplots()
        for stage, marker in zip(FIRST_STAGES, ("o", "s")):
            mine = [r for r in rows if r["first_stages"] == stage and "×2" not in r["reranking"]]
            x = [r["latency_ms"]["total"] for r in mine]
            y = [r["lr"]["1"] for r in mine]
            ax.plot(x, y, marker=marker, label=stage)
            for r, xi, yi in zip(mine, x, y):
                ax.annotate(
                    r["reranking"].replace("sift ", ""), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
            for r in rows:
                if r["first_stages"] == stage and "×2" in r["reranking"]:
                    ax.scatter([r["latency_ms"]["total"]], [r["lr"]["1"]], marker="x", c="black")
                    ax.annotate(
                        r["reranking"].replace("sift ", ""), (r["latency_ms"]["total"], r["lr"]["1"]), fontsize=7
                    )
        ax.set_xlabel("latency per query, batch 1 (ms)")
        ax.set_ylabel("LR@1 (%)")
        ax.set_title("synthcity small: re-ranking the shortlist with SIFT", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)


if __name__ == "__main__":
    main()
