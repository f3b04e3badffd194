"""Training augmentation per query condition: D&C and CosPlace, paper recipe vs ``photometric``.

    python benchmarks/bench_augmentation.py                 # train what is missing, evaluate, publish
    python benchmarks/bench_augmentation.py --evaluate-only

Each model is trained with the comparison budget of ``docs/results.md`` (its config in
``configs/``, ``training.epochs`` = 14 of 300 iterations × 64 images) on the embedded city; the
paper-recipe runs are ``bench_methods.py``'s ``dnc`` and ``cosplace`` folders (the same config), the
others differ only in ``training.augmentation``. Every model is evaluated with ``vprkit run``
(flat index, top-100 cells for D&C + CosPlace) on two query sets of the same city: ``synthcity``
(the nine conditions, about 44 queries each) and ``synthcity-lighting`` (120 queries each at dusk,
night and under a colour cast, 40 clean). The figures are LR@1 (%) per condition.

Writes ``benchmarks/results/augmentation.json`` and the tables between the markers of
``docs/training.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_methods import ROOT, Method, ensure_trained, evaluate
from docs_tables import table_head, write_between_markers
from machine import machine_block
from query_noise import noise_points, query_counts

MODELS = [
    Method("dnc", "classifier", "dnc", "D&C, paper (dnc)", "synthcity_small_dnc.yaml"),
    Method(
        "dnc_photometric",
        "classifier",
        "dnc",
        "D&C, photometric",
        "synthcity_small_dnc.yaml",
        ("training.augmentation=photometric",),
    ),
    Method("cosplace", "retriever", "cosplace", "CosPlace, paper (cosplace)", "synthcity_small_cosplace.yaml"),
    Method(
        "cosplace_photometric",
        "retriever",
        "cosplace",
        "CosPlace, photometric",
        "synthcity_small_cosplace.yaml",
        ("training.augmentation=photometric",),
    ),
]
RECIPE_NAMES = {"paper": ("dnc", "cosplace"), "photometric": ("dnc_photometric", "cosplace_photometric")}
CONDITIONS = ("clean", "dusk", "night", "cast", "fog", "blur", "noise", "occlusion", "fov")
LIGHTING = ("clean", "dusk", "night", "cast")
DATASETS = {"balanced": "synthcity", "lighting": "synthcity-lighting"}


def pipelines(runs: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """Row name → (classifier folder, retriever folder) of every evaluated pipeline."""
    rows: dict[str, tuple[Path | None, Path | None]] = {}
    for recipe, (dnc, cosplace) in RECIPE_NAMES.items():
        rows[f"D&C alone, {recipe}"] = (runs / dnc, None)
        rows[f"CosPlace alone, {recipe}"] = (None, runs / cosplace)
        rows[f"D&C + CosPlace top-100, {recipe}"] = (runs / dnc, runs / cosplace)
    return rows


def table(rows: dict[str, dict], conditions: tuple[str, ...]) -> list[str]:
    lines = table_head("| pipeline, recipe | " + " | ".join(conditions) + " | all |")
    for name, result in rows.items():
        cells = [f"{result['by_condition'][c]:.1f}" for c in conditions]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['lr']['1']:.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=14, help="shared budget of the 300-iteration loop")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "methods"), help="one model folder per model")
    parser.add_argument("--evaluate-only", action="store_true", help="do not train; fail on missing models")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "augmentation.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "training.md"))
    args = parser.parse_args()
    runs = Path(args.runs)
    trained = {}
    for method in MODELS:
        if args.evaluate_only:
            if not (runs / method.key / "manifest.json").is_file():
                raise SystemExit(f"{runs / method.key} holds no model; run without --evaluate-only")
            continue
        trained[method.key] = ensure_trained(method, runs / method.key, args.epochs, "synthcity")
    results: dict[str, dict[str, dict]] = {}
    counts = {mix: query_counts(dataset) for mix, dataset in DATASETS.items()}
    for mix, dataset in DATASETS.items():
        results[mix] = {}
        for name, (classifier, retriever) in pipelines(runs).items():
            report = evaluate(classifier, retriever, dataset)
            results[mix][name] = {"lr": report["lr"], "by_condition": report["by_condition"]}
            print(mix, name, report["lr"]["1"], flush=True)
    # issue 18's criterion: D&C + CosPlace top-100 no worse than CosPlace alone on a lighting
    # condition by more than that condition's noise (one binomial standard error)
    checks = []
    for mix in DATASETS:
        for recipe in RECIPE_NAMES:
            mixed = results[mix][f"D&C + CosPlace top-100, {recipe}"]["by_condition"]
            alone = results[mix][f"CosPlace alone, {recipe}"]["by_condition"]
            for condition in LIGHTING:
                se = noise_points(alone[condition], counts[mix][condition])
                gap = alone[condition] - mixed[condition]
                checks.append(
                    {
                        "queries": mix,
                        "recipe": recipe,
                        "condition": condition,
                        "dnc_cosplace": mixed[condition],
                        "cosplace": alone[condition],
                        "standard_error": round(se, 2),
                        "worse_than_noise": gap > se,
                    }
                )
                print(f"{mix} {recipe} {condition}: {mixed[condition]:.1f} vs {alone[condition]:.1f} ± {se:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": machine_block(),
        "epochs": args.epochs,
        "models": {m.key: {"label": m.label, "overrides": list(m.overrides), **trained.get(m.key, {})} for m in MODELS},
        "queries_per_condition": counts,
        "results": results,
        "combined_vs_retrieval": checks,
    }
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    check_lines = table_head(
        "| queries | recipe | condition | D&C + CosPlace | CosPlace alone | one SE | worse by more |"
    )
    for c in checks:
        check_lines.append(
            f"| {c['queries']} | {c['recipe']} | {c['condition']} | {c['dnc_cosplace']:.1f} | {c['cosplace']:.1f} "
            f"| {c['standard_error']:.1f} | {'yes' if c['worse_than_noise'] else 'no'} |"
        )
    write_between_markers(
        Path(args.docs),
        {
            "augmentation-balanced": table(results["balanced"], CONDITIONS),
            "augmentation-lighting": table(results["lighting"], LIGHTING),
            "augmentation-check": check_lines,
        },
    )


if __name__ == "__main__":
    main()
