"""Every classifier × retriever pair with the checkpoints vprkit ships, on synthcity small.

    python benchmarks/bench_every_pair.py
    python benchmarks/bench_every_pair.py --dataset synthcity-lighting --marker every-pair-lighting

Each cell is one ``vprkit run --classifier C --retriever R --topn 100`` (flat index, test split):
LR@1 (%), and for the mixed pipelines the share of queries that keep a database image within 25 m
among the candidates of their top-100 cells. ``none`` as the classifier is retrieval over the
whole database; as the retriever, classification alone (class coordinates). Accuracy only:
latency is measured by ``bench_pipelines.py`` on a quiet machine.

Writes ``benchmarks/results/every_pair.json`` (or ``every_pair_<dataset>.json``) and the table
between the markers of ``docs/pipelines.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from docs_tables import table_head, write_between_markers
from machine import machine_block
from query_noise import noise_points, query_counts

from vprkit.pipeline.models import shipped_methods
from vprkit.pipeline.run import RunConfig, run_pipeline

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthcity")
    parser.add_argument("--marker", default="every-pair-table")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--docs", default=str(ROOT / "docs" / "pipelines.md"))
    args = parser.parse_args()
    classifiers = ["none", *shipped_methods("classifier")]
    retrievers = ["none", *shipped_methods("retriever")]
    cells: dict[str, dict[str, dict]] = {}
    for classifier in classifiers:
        cells[classifier] = {}
        for retriever in retrievers:
            if classifier == retriever == "none":
                continue
            config = RunConfig(
                classifier=classifier,
                retriever=retriever,
                topn=100,
                index="flat",
                dataset=args.dataset,
                split="test",
                threads=args.threads,
            )
            report = run_pipeline(config)[0].to_dict()
            cells[classifier][retriever] = {
                "lr": report["lr"],
                "by_condition": report["by_condition"],
                "positives": report.get("positives"),
                "chance_lr": report.get("chance_lr"),
            }
            print(classifier, retriever, report["lr"]["1"], flush=True)
    checks = combined_vs_retrieval(cells, query_counts(args.dataset))
    name = "every_pair.json" if args.dataset == "synthcity" else f"every_pair_{args.dataset}.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(
        json.dumps(
            {"machine": machine_block(), "dataset": args.dataset, "cells": cells, "combined_vs_retrieval": checks},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    lines = table_head("| classifier ↓ retriever → | " + " | ".join(retrievers) + " |")
    for classifier in classifiers:
        row = []
        for retriever in retrievers:
            cell = cells[classifier].get(retriever)
            if cell is None:
                row.append("–")
                continue
            text = f"{cell['lr']['1']:.1f}"
            if cell.get("positives"):
                text += f" ({cell['positives']['positives_in_candidates_pct']:.0f} %)"
            row.append(text)
        lines.append(f"| **{classifier}** | " + " | ".join(row) + " |")
    chance = next(c["chance_lr"] for r in cells.values() for c in r.values() if c.get("chance_lr"))
    lines += [
        "",
        f"LR@1 (%) on `--dataset {args.dataset}` (400 test queries); in brackets, the queries that keep a "
        f"positive among the top-100 cells' candidates. Chance: {chance['1']:.2f} % at LR@1. Measured "
        f"{time.strftime('%Y-%m-%d')} with the shipped checkpoints; regenerate: "
        f"`python benchmarks/bench_every_pair.py{'' if args.dataset == 'synthcity' else ' --dataset ' + args.dataset}`.",
    ]
    check_lines = table_head(
        "| condition | queries | D&C alone | D&C + CosPlace top-100 | CosPlace alone | one SE | worse by more |"
    )
    for c in checks:
        check_lines.append(
            f"| {c['condition']} | {c['queries']} | {c['dnc']:.1f} | {c['dnc_cosplace']:.1f} | {c['cosplace']:.1f} "
            f"| {c['standard_error']:.1f} | {'yes' if c['worse_than_noise'] else 'no'} |"
        )
    write_between_markers(Path(args.docs), {args.marker: lines, f"{args.marker}-check": check_lines})


def combined_vs_retrieval(cells: dict[str, dict[str, dict]], counts: dict[str, int]) -> list[dict]:
    """Issue 18's criterion per query condition: is D&C + CosPlace top-100 worse than CosPlace
    alone by more than one binomial standard error of the CosPlace figure on that condition's
    queries? With D&C alone beside it, which says whether the classifier's cells lost the place."""
    mixed = cells["dnc"]["cosplace"]["by_condition"]
    alone = cells["none"]["cosplace"]["by_condition"]
    classes = cells["dnc"]["none"]["by_condition"]
    checks = []
    for condition in sorted(alone, key=lambda c: (c != "clean", c)):
        se = noise_points(alone[condition], counts[condition])
        checks.append(
            {
                "condition": condition,
                "queries": counts[condition],
                "dnc": classes[condition],
                "dnc_cosplace": mixed[condition],
                "cosplace": alone[condition],
                "standard_error": round(se, 2),
                "worse_than_noise": alone[condition] - mixed[condition] > se,
            }
        )
    return checks


if __name__ == "__main__":
    main()
