"""Test-time resolution per query condition, with the shipped synthcity checkpoints.

    python benchmarks/bench_resolution.py                     # scales 1, 0.8, 0.6, 0.4
    python benchmarks/bench_resolution.py --scales 1,0.8 --threads 2

Every row is one ``vprkit run --resolution S`` (flat index; D&C + CosPlace searches the top-100
cells) on synthcity's balanced test queries (``--dataset synthcity``) and on its lighting ones
(``--dataset synthcity-lighting``). The network cost of a convolutional model grows with the
pixels, so a scale S costs about S² of the native forward pass. LR@1 (%) per condition.

Writes ``benchmarks/results/resolution.json`` and the table between the markers of
``docs/pipelines.md``.
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
PIPELINES = {"CosPlace alone": ("none", "cosplace"), "D&C + CosPlace top-100": ("dnc", "cosplace")}
DATASETS = {"balanced": "synthcity", "lighting": "synthcity-lighting"}
COLUMNS = {
    "balanced": ("clean", "dusk", "night", "cast", "fog", "blur", "noise", "occlusion", "fov"),
    "lighting": ("clean", "dusk", "night", "cast"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,0.8,0.6,0.4", help="comma-separated resolution factors")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "resolution.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "pipelines.md"))
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    rows = []
    for mix, dataset in DATASETS.items():
        for name, (classifier, retriever) in PIPELINES.items():
            for scale in scales:
                config = RunConfig(
                    classifier=classifier,
                    retriever=retriever,
                    topn=100,
                    index="flat",
                    dataset=dataset,
                    split="test",
                    resolution=scale,
                    threads=args.threads,
                )
                report = run_pipeline(config)[0].to_dict()
                rows.append(
                    {
                        "queries": mix,
                        "pipeline": name,
                        "resolution": report["config"]["resolution"],
                        "lr": report["lr"],
                        "by_condition": report["by_condition"],
                    }
                )
                print(mix, name, scale, report["lr"]["1"], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_block(), "rows": rows}, indent=2) + "\n", encoding="utf-8")
    lines: list[str] = []
    for mix in DATASETS:
        columns = COLUMNS[mix]
        if lines:
            lines.append("")
        lines.append(f"**{mix.capitalize()} queries** (`--dataset {DATASETS[mix]}`), LR@1 (%):")
        lines.append("")
        lines += table_head("| pipeline | resolution | pixels | " + " | ".join(columns) + " | all |")
        for row in (r for r in rows if r["queries"] == mix):
            s = row["resolution"]
            cells = " | ".join(f"{row['by_condition'][c]:.1f}" for c in columns)
            lines.append(f"| {row['pipeline']} | {s:g} | {s * s:.2f}× | {cells} | {row['lr']['1']:.1f} |")
    day = time.strftime("%Y-%m-%d")
    lines += ["", f"Measured {day} with the shipped checkpoints. Regenerate: `python benchmarks/bench_resolution.py`."]
    write_between_markers(Path(args.docs), {"resolution-table": lines})


if __name__ == "__main__":
    main()
