"""Cost of the D&C classification step (heads + joint top-K + confidence) at city scale.

    python benchmarks/bench_classify.py [--classes 100000] [--dim 512] [--threads 2]

Builds a real D&C classifier (tinycnn backbone, untouched) over a real `dnc` partition with
~100,000 classes in 4 groups, and times `classify_descriptors` on random unit descriptors: per query
at batch 1 (the pipeline's latency) and batched throughput. The backbone is not timed here (that is
the `extract`/`classify` forward in `vprkit run`). Writes benchmarks/results/classify.json.
Issue 6 targets, 2 CPU cores: <= 5 ms per query at batch 1, >= 2,000 queries/s batched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vprkit import create_classifier, create_partitioner

ROOT = Path(__file__).resolve().parents[1]


def city_partition(n_classes: int, per_class: int = 10, cell: float = 20.0):
    """A dnc partition of a square city with ``n_classes`` occupied 20 m cells."""
    side = int(np.ceil(np.sqrt(n_classes)))
    idx = np.arange(n_classes)
    cx, cy = idx % side, idx // side
    rng = np.random.default_rng(0)
    east = (np.repeat(cx, per_class) + rng.random(n_classes * per_class)) * cell + 500_000.0
    north = (np.repeat(cy, per_class) + rng.random(n_classes * per_class)) * cell + 4_000_000.0
    return create_partitioner("dnc").fit(east, north)


def timed(fn, reps: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=120, help="classes ranked per query (top-100 cells + 20 fill)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "classify.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    partition = city_partition(args.classes)
    torch.manual_seed(0)
    rows = {}
    for mode in ("raw", "cosine"):
        clf = create_classifier("dnc", backbone="tinycnn", descriptor_dim=args.dim, score_mode=mode).build(partition)
        one = torch.nn.functional.normalize(torch.randn(1, args.dim), dim=1)
        many = torch.nn.functional.normalize(torch.randn(args.batch, args.dim), dim=1)
        t1 = timed(lambda: clf.classify_descriptors(one, args.k), reps=50)
        tb = timed(lambda: clf.classify_descriptors(many, args.k), reps=5)
        rows[mode] = {"batch1_ms": round(t1 * 1e3, 3), "batched_qps": round(args.batch / tb, 1)}
        print(f"{mode:6s} batch 1: {t1 * 1e3:7.2f} ms/query   batch {args.batch}: {args.batch / tb:8.1f} queries/s", flush=True)
    result = {
        "classes": partition.num_classes, "groups": partition.num_groups, "dim": args.dim, "k": args.k,
        "threads": args.threads, "batch": args.batch, "modes": rows,
        "prototype_bytes": partition.num_classes * args.dim * 4,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg": os.getloadavg(),
                    "torch": torch.__version__},
        "command": "python benchmarks/bench_classify.py",
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
