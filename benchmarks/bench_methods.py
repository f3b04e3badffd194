"""Train and evaluate every registered method on synthcity small: the D&C paper's Tables 1–3 in miniature.

    python benchmarks/bench_methods.py                      # train what is missing, evaluate all
    python benchmarks/bench_methods.py --epochs 14 --runs runs/methods --only dnc,planet
    python benchmarks/bench_methods.py --evaluate-only      # tables from the models already trained

Every classifier (and CosPlace) is trained with the same loop and the same budget: its config in
``configs/`` with ``training.epochs`` set to ``--epochs`` (300 iterations of 64 images each), on the
embedded dataset (``synthcity``, generated into the cache on first use). NetVLAD and GeM use their
triplet schedule from their configs. A run whose folder holds a finished model is reused (after
checking that it was trained with the config asked for now); an interrupted one is resumed.

Writes ``benchmarks/results/methods.json`` and the tables between the markers of
``docs/results.md``. Each row is one ``vprkit run`` evaluation (the same numbers as its ``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from docs_tables import table_head, write_between_markers
from machine import load_1min, machine_block

from vprkit.config import config_to_dict, load_yaml
from vprkit.pipeline.run import RunConfig, run_pipeline
from vprkit.training.api import resolve_training_config, train_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@dataclass(frozen=True)
class Method:
    """One trained model of the comparison."""

    key: str  # folder name under --runs
    kind: str  # classifier | retriever
    name: str  # registered method
    label: str
    config: str  # file in configs/
    overrides: tuple[str, ...] = ()
    budget: bool = True  # trained with the shared --epochs budget (the 300-iteration group loop)


METHODS = [
    Method("dnc", "classifier", "dnc", "D&C (AAMC, N = 2, M = 20 m)", "synthcity_small_dnc.yaml"),
    Method("planet", "classifier", "planet", "PlaNet", "synthcity_small_planet.yaml"),
    Method("hge", "classifier", "hge", "HGE", "synthcity_small_hge.yaml"),
    Method("cplanet", "classifier", "cplanet", "CPlaNet", "synthcity_small_cplanet.yaml"),
    Method("mvmf", "classifier", "mvmf", "MvMF", "synthcity_small_mvmf.yaml"),
    Method("cosplace", "retriever", "cosplace", "CosPlace", "synthcity_small_cosplace.yaml"),
    Method("netvlad", "retriever", "netvlad", "NetVLAD", "synthcity_small_netvlad.yaml", budget=False),
    Method("gem", "retriever", "gem", "GeM", "synthcity_small_gem.yaml", budget=False),
    # D&C ablations (paper Table 3 and supplementary): head, groups per axis, cell side
    Method(
        "dnc_ce", "classifier", "dnc", "D&C, linear head + cross-entropy", "synthcity_small_dnc.yaml", ("head=linear",)
    ),
    Method("dnc_n1", "classifier", "dnc", "D&C, N = 1 (1 group)", "synthcity_small_dnc.yaml", ("partition.N=1",)),
    Method("dnc_n3", "classifier", "dnc", "D&C, N = 3 (9 groups)", "synthcity_small_dnc.yaml", ("partition.N=3",)),
    Method("dnc_m50", "classifier", "dnc", "D&C, M = 50 m", "synthcity_small_dnc.yaml", ("partition.M=50",)),
]
CLASSIFIERS = ["dnc", "planet", "hge", "cplanet", "mvmf"]
RETRIEVERS = ["cosplace", "netvlad", "gem"]
ABLATION = ["dnc", "dnc_ce", "dnc_n1", "dnc_n3", "dnc_m50"]
TOPN = 100
TOPNS = (100, 10, 1)  # Table 2: top-N cells searched (the "All" row is retrieval alone)


def overrides_for(method: Method, epochs: int) -> list[str]:
    return [*method.overrides, *([f"training.epochs={epochs}"] if method.budget else [])]


def ensure_trained(method: Method, run_dir: Path, epochs: int, dataset: str) -> dict:
    """Train (or resume, or reuse) ``method`` in ``run_dir``; returns what was done and how long it took."""
    config_file = CONFIGS / method.config
    overrides = overrides_for(method, epochs)
    wanted = config_to_dict(resolve_training_config(method.kind, method.name, config_file, overrides))
    saved = run_dir / "training" / "config.yaml"
    if saved.is_file():
        have = load_yaml(saved)
        if have != wanted:
            changed = sorted(k for k in set(have) | set(wanted) if have.get(k) != wanted.get(k))
            raise SystemExit(
                f"{run_dir} was trained with another config (differs in {changed}); "
                f"delete it or pass another --runs folder"
            )
    timing = run_dir / "bench_train.json"
    if (run_dir / "manifest.json").is_file() and timing.is_file():
        return json.loads(timing.read_text(encoding="utf-8"))
    resume = (run_dir / "training" / "last.pt").is_file()
    print(
        f"{'resuming' if resume else 'training'} {method.key}: {method.kind} {method.name} {' '.join(overrides)}",
        flush=True,
    )
    start = time.perf_counter()
    train_model(
        method.kind,
        method.name,
        dataset,
        run_dir,
        config_file=None if resume else config_file,
        overrides=overrides,
        resume=resume,
        overwrite=not resume and run_dir.exists(),
    )
    done = {
        "train_s": round(time.perf_counter() - start, 1),
        "resumed": resume,
        "overrides": overrides,
        "config": method.config,
        "loadavg_after": load_1min(),
    }
    timing.write_text(json.dumps(done, indent=2) + "\n", encoding="utf-8")
    return done


def training_seconds(run_dir: Path) -> float:
    """Training compute time of a finished run from its history: epochs × the median epoch time
    (images trained / images/s for the group loop, seconds for triplets). The median, because an
    epoch's rate is timed on the wall clock and one that spanned a pause of the machine reads slow;
    validation is not included."""
    history = json.loads((run_dir / "training" / "history.json").read_text(encoding="utf-8"))
    config = load_yaml(run_dir / "training" / "config.yaml")["training"]
    if all("seconds" in e for e in history):
        per_epoch = [e["seconds"] for e in history]
    else:
        per_epoch = [config["iterations_per_epoch"] * config["batch_size"] / e["images_per_s"] for e in history]
    return float(len(history) * statistics.median(per_epoch))


def evaluate(classifier: Path | None, retriever: Path | None, dataset: str, topn: int = TOPN) -> dict:
    config = RunConfig(
        classifier=str(classifier) if classifier else "none",
        retriever=str(retriever) if retriever else "none",
        topn=topn,
        index="flat",
        dataset=dataset,
        split="test",
    )
    return run_pipeline(config)[0].to_dict()  # one query set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=14, help="shared budget of the 300-iteration loop")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "methods"), help="one model folder per method")
    parser.add_argument("--dataset", default="synthcity")
    parser.add_argument("--only", default="", help="comma-separated keys to train and evaluate (default: all)")
    parser.add_argument("--evaluate-only", action="store_true", help="do not train; skip missing models")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "methods.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "results.md"))
    args = parser.parse_args()
    runs = Path(args.runs)
    keys = [k for k in args.only.split(",") if k] or [m.key for m in METHODS]
    by_key = {m.key: m for m in METHODS}

    trained: dict[str, dict] = {}
    for key in keys:
        method, run_dir = by_key[key], runs / key
        if args.evaluate_only:
            if (run_dir / "manifest.json").is_file():
                timing = run_dir / "bench_train.json"
                trained[key] = json.loads(timing.read_text()) if timing.is_file() else {}
        else:
            trained[key] = ensure_trained(method, run_dir, args.epochs, args.dataset)

    rows: dict[str, dict] = {}

    def row(name: str, classifier: str | None, retriever: str | None, topn: int = TOPN) -> None:
        if any(k is not None and k not in trained for k in (classifier, retriever)):
            return
        report = evaluate(
            runs / classifier if classifier else None, runs / retriever if retriever else None, args.dataset, topn
        )
        report["train"] = {
            k: {**trained[k], "compute_s": round(training_seconds(runs / k), 1)} for k in (classifier, retriever) if k
        }
        rows[name] = report
        print(
            f"{name:34s} LR@1 {report['lr']['1']:5.1f}  LR@5 {report['lr']['5']:5.1f}  "
            f"total {report['latency_ms']['total']:7.2f} ms",
            flush=True,
        )

    for key in dict.fromkeys(CLASSIFIERS + ABLATION):
        row(f"{key}", key, None)
    for key in RETRIEVERS:
        row(f"{key}", None, key)
    for retriever in RETRIEVERS:
        for classifier in CLASSIFIERS:
            for topn in TOPNS:
                row(f"{classifier}+{retriever}@{topn}", classifier, retriever, topn)

    result = {
        "machine": machine_block(),
        "date": time.strftime("%Y-%m-%d"),
        "epochs": args.epochs,
        "topns": TOPNS,
        "dataset": args.dataset,
        "command": "python benchmarks/bench_methods.py" + (f" --epochs {args.epochs}" if args.epochs != 14 else ""),
        "labels": {m.key: m.label for m in METHODS},
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    write_docs_tables(Path(args.docs), result)


def _lr(r: dict) -> str:
    return " | ".join(f"{r['lr'][n]:.1f}" for n in ("1", "5", "10", "20"))


def _minutes(r: dict) -> str:
    """Training compute minutes (from the history; wall time also counted pauses and validation)."""
    seconds = sum(t.get("compute_s", 0) for t in r["train"].values())
    return f"{seconds / 60:.0f}" if seconds else "–"


def write_docs_tables(page: Path, result: dict) -> None:
    """Rewrite the three tables between their markers in ``page``."""
    rows, labels = result["rows"], result["labels"]
    lat = lambda r, k: f"{r['latency_ms'][k]:.2f}"  # noqa: E731
    alone = table_head(
        "| method | kind | LR@1 | LR@5 | LR@10 | LR@20 | extract ms | classify ms | kNN ms | total ms | train compute min |"
    )
    for key in CLASSIFIERS + RETRIEVERS:
        if key in rows:
            r = rows[key]
            kind = "classifier" if key in CLASSIFIERS else "retriever (flat, all rows)"
            alone.append(
                f"| {labels[key]} | {kind} | {_lr(r)} | {lat(r, 'extract')} | {lat(r, 'classify')} | "
                f"{lat(r, 'knn')} | {lat(r, 'total')} | {_minutes(r)} |"
            )
    present = [c for c in CLASSIFIERS if any(k.startswith(f"{c}+") for k in rows)]
    mixed = table_head(
        "| retriever | top-N | "
        + " | ".join(f"{labels[c]} LR@1" for c in present)
        + " | candidates (D&C) | gather + kNN ms (D&C) |"
    )
    for ret in RETRIEVERS:
        if ret not in rows:
            continue
        everything = rows[ret]  # retrieval over all rows: the "All" row of every classifier column
        mixed.append(
            f"| {labels[ret]} | all | "
            + " | ".join(f"{everything['lr']['1']:.1f}" for _ in present)
            + f" | {everything['database_size']:,} | {everything['latency_ms']['knn']:.3f} |"
        )
        for topn in result["topns"]:
            cells = [rows.get(f"{c}+{ret}@{topn}") for c in present]
            d = rows.get(f"dnc+{ret}@{topn}")
            cost = (
                f"{d['candidates']:,.0f} | {d['latency_ms']['gather'] + d['latency_ms']['knn']:.3f}" if d else "– | –"
            )
            mixed.append(
                f"| {labels[ret]} | {topn} | "
                + " | ".join(f"{r['lr']['1']:.1f}" if r else "–" for r in cells)
                + f" | {cost} |"
            )
    ablation = table_head(
        "| D&C variant | LR@1 | LR@5 | LR@10 | LR@20 | confidence std (m), median: correct / wrong top-1 | train compute min |"
    )
    for key in ABLATION:
        if key in rows:
            r = rows[key]
            conf = r.get("confidence", {})
            std = " / ".join(
                f"{conf[k]:.0f}" if conf.get(k) is not None else "–"
                for k in ("median_std_correct_m", "median_std_wrong_m")
            )
            if conf.get("median_std_m") == 0:  # one group: one expert, nothing to disagree
                std = "– (one expert)"
            ablation.append(f"| {labels[key]} | {_lr(r)} | {std} | {_minutes(r)} |")
    m = result["machine"]
    footer = (
        f"Measured {result['date']} on {m['cpus']} CPU cores ({m['platform']}), load average at the end "
        f"{m['loadavg'][0]:.1f}; batch size 1 for latency; budget {result['epochs']} epochs × 300 "
        f"iterations × 64 images for the group-loop methods. Regenerate: `{result['command']}`."
    )
    write_between_markers(
        page,
        {
            f"methods-{name}": [*lines, "", footer]
            for name, lines in (("alone", alone), ("mixed", mixed), ("ablation", ablation))
        },
    )


if __name__ == "__main__":
    main()
