"""Every built-in pipeline combination on synthcity small, in one run on one machine.

    python benchmarks/bench_pipelines.py                 # shipped checkpoints, test split
    python benchmarks/bench_pipelines.py --classifier DIR --retriever DIR --dataset PATH

Writes benchmarks/results/pipelines.json and rewrites the table between the markers in
docs/pipelines.md. Each row is one `vprkit run` configuration (same numbers as its --json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from docs_tables import table_head, write_between_markers
from machine import machine_block

from vprkit.pipeline.run import RunConfig, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
COMBOS = [
    # (label, classifier?, retriever?, topn, index, index overrides)
    ("D&C (classification only)", True, False, 100, "flat", {}),
    ("CosPlace, exhaustive (flat)", False, True, 100, "flat", {}),
    ("CosPlace + HNSW", False, True, 100, "hnsw", {"backend": "hnswlib"}),  # the published row's library
    ("CosPlace + IVFPQ (recall preset)", False, True, 100, "ivfpq", {"preset": "recall"}),
    ("CosPlace + IVFPQ (speed preset)", False, True, 100, "ivfpq", {"preset": "speed"}),
    ("D&C + CosPlace, top-1", True, True, 1, "flat", {}),
    ("D&C + CosPlace, top-10", True, True, 10, "flat", {}),
    ("D&C + CosPlace, top-100", True, True, 100, "flat", {}),
]


def positives_everywhere(rows: list[dict]) -> None:
    """Retrieval over every row keeps every query that has a positive: copy that share from a mixed row."""
    share = next((r["positives"]["queries_with_positives_pct"] for r in rows if "positives" in r), None)
    for r in rows:
        if share is not None and "positives" not in r and r["database_size"]:
            r["positives_all_pct"] = share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default="dnc")
    parser.add_argument("--retriever", default="cosplace")
    parser.add_argument("--dataset", default="synthcity")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipelines.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "pipelines.md"))
    args = parser.parse_args()

    rows = []
    for label, use_cls, use_ret, topn, index, index_cfg in COMBOS:
        start = time.perf_counter()
        config = RunConfig(
            classifier=args.classifier if use_cls else "none",
            retriever=args.retriever if use_ret else "none",
            topn=topn,
            index=index,
            index_config=index_cfg,
            dataset=args.dataset,
            split=args.split,
        )
        report = run_pipeline(config)[0].to_dict()  # one query set
        report["label"] = label
        report["wall_s"] = round(time.perf_counter() - start, 1)
        rows.append(report)
        print(f"{label:36s} LR@1 {report['lr']['1']:5.1f}  total {report['latency_ms']['total']:8.3f} ms", flush=True)
    positives_everywhere(rows)
    result = {
        "machine": machine_block(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/bench_pipelines.py",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_docs_table(Path(args.docs), result)


def write_docs_table(page: Path, result: dict) -> None:
    lines = table_head(
        "| pipeline | LR@1 | LR@5 | LR@10 | LR@20 | extract ms | classify ms | gather ms | kNN ms | total ms | "
        "candidates | queries with a positive among them |"
    )
    for r in result["rows"]:
        lat, lr = r["latency_ms"], r["lr"]
        searched = f"{r['candidates']:.0f} / {r['database_size']}" if r["database_size"] else "– (class coordinates)"
        if "positives" in r:
            kept = f"{r['positives']['positives_in_candidates_pct']:.1f} %"
        else:
            kept = f"{r['positives_all_pct']:.1f} %" if "positives_all_pct" in r else "–"
        lines.append(
            f"| {r['label']} | {lr['1']:.1f} | {lr['5']:.1f} | {lr['10']:.1f} | {lr['20']:.1f} | "
            f"{lat['extract']:.2f} | {lat['classify']:.2f} | {lat['gather']:.3f} | {lat['knn']:.3f} | "
            f"{lat['total']:.2f} | {searched} | {kept} |"
        )
    m = result["machine"]
    lines.append("")
    lines.append(
        f"Measured {result['date']} on {m['cpus']} CPU cores ({m['platform']}), load average at the end "
        f"{m['loadavg'][0]:.1f}; batch size 1 for latency. Regenerate: `{result['command']}`."
    )
    write_between_markers(page, {"pipelines-table": lines})


if __name__ == "__main__":
    main()
