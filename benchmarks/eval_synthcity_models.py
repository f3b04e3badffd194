"""LR@1/5/10/20 on the test queries of a dataset for a trained D&C classifier and CosPlace retriever,
against chance and against untrained networks of the same architecture.

    python3 benchmarks/eval_synthcity_models.py /work/runs/synthcity_small \
        --dnc /work/runs/dnc_synthcity_small --cosplace /work/runs/cosplace_synthcity_small

Writes ``benchmarks/results/synthcity_models.json``. Classifier predictions use the class
coordinates of the partition (coordinate mode in the output); retrieval is exhaustive (faiss flat)
over ``test/database``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vprkit.data.standard import load_split
from vprkit.evaluation import localization_recall
from vprkit.models.extract import extract_descriptors
from vprkit.training.validation import retrieval_lr

NS = (1, 5, 10, 20)


def classifier_lr(model, queries) -> dict:
    t0 = time.perf_counter()
    desc = extract_descriptors(model.descriptor, queries, model.transform, batch_size=100)
    pred = model.classify_descriptors(torch.from_numpy(desc), 20)
    lr = localization_recall(pred.coords, queries.utm, NS)
    conf = pred.confidence
    hit1 = ((pred.coords[:, 0] - queries.utm) ** 2).sum(1) <= 25.0**2
    return {
        **{f"LR@{n}": round(v, 2) for n, v in lr.items()},
        "seconds": round(time.perf_counter() - t0, 2),
        "median_confidence_m_correct": float(np.median(conf[hit1])) if hit1.any() else None,
        "median_confidence_m_wrong": float(np.median(conf[~hit1])) if (~hit1).any() else None,
    }


def classifier_chance(partition, queries, seed: int = 0, trials: int = 20) -> dict:
    """Random ranking of the classes (expected LR@N of guessing), averaged over trials."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(NS))
    for _ in range(trials):
        ranks = np.argsort(rng.random((len(queries), partition.num_classes)), axis=1)[:, :20]
        out += np.array(list(localization_recall(partition.class_coords[ranks], queries.utm, NS).values()))
    return {f"LR@{n}": round(v / trials, 2) for n, v in zip(NS, out)}


def retriever_lr(model, database, queries) -> dict:
    t0 = time.perf_counter()
    db = extract_descriptors(model.encode, database, model.transform, batch_size=200)
    q = extract_descriptors(model.encode, queries, model.transform, batch_size=200)
    lr = retrieval_lr(db, database.utm, q, queries.utm, NS)
    return {**{k: round(v, 2) for k, v in lr.items()}, "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--dnc", type=Path)
    parser.add_argument("--cosplace", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthcity_models.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    queries = load_split(args.dataset, "test/queries")
    database = load_split(args.dataset, "test/database")
    result: dict = {"dataset": str(args.dataset), "queries": len(queries), "database": len(database)}
    if args.dnc:
        from vprkit_dnc.classifier import DncClassifier

        trained = DncClassifier.load(args.dnc)
        torch.manual_seed(0)
        untrained = DncClassifier(trained.config).build(trained.partition)
        result["dnc"] = {
            "coord_mode": trained.partition.coord_mode,
            "classes": trained.partition.num_classes,
            "trained": classifier_lr(trained, queries),
            "trained_cosine_scores": classifier_lr(_with_scores(trained, "cosine"), queries),
            "untrained": classifier_lr(untrained, queries),
            "chance": classifier_chance(trained.partition, queries),
            "training": {k: v for k, v in trained.training_summary.items() if k != "history"},
        }
        print(json.dumps(result["dnc"], indent=1), flush=True)
    if args.cosplace:
        from vprkit_cosplace.retriever import CosPlaceRetriever

        trained = CosPlaceRetriever.load(args.cosplace)
        untrained = CosPlaceRetriever(trained.config)
        result["cosplace"] = {
            "trained": retriever_lr(trained, database, queries),
            "untrained": retriever_lr(untrained, database, queries),
        }
        print(json.dumps(result["cosplace"], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def _with_scores(model, mode: str):
    clone = type(model)(model.config.model_copy(update={"score_mode": mode}))
    clone.partition, clone.net, clone.heads, clone.group_classes = (
        model.partition,
        model.net,
        model.heads,
        model.group_classes,
    )
    return clone


if __name__ == "__main__":
    main()
