"""Cost of the D&C classification step (heads + joint top-K + confidence) at city scale.

    python benchmarks/bench_classify.py [--classes 100000] [--dim 512] [--threads 2]

Builds a real D&C classifier (tinycnn backbone, untouched) over a real `dnc` partition with
~100,000 classes in 4 groups whose head prototypes are replaced by "trained-like" ones (see
`trained_like_prototypes`), and times `classify_descriptors` for every score mode (raw, cosine) and
precision (float32 exact; pq4 shortlist + exact re-ranking; bf16 shortlist + exact re-ranking,
proven per query; auto = pq4 below 32 queries, bf16 above): per query at batch 1 (the pipeline's
latency) and batched throughput, and for raw scores the cost per query over a sweep of batch sizes. It also measures the machine (memory bandwidth, float32 GEMV/GEMM)
and the ranking agreement of pq4 with float32 (top-1, per-group top-1, top-100 recall) on
trained-like queries and on random unit queries (the hard case: no class stands out). The load
average is recorded with every number: the machine is shared. The backbone is not timed here.
Writes benchmarks/results/classify.json.
Issue 6 targets, 2 CPU cores: <= 5 ms per query at batch 1, >= 2,000 queries/s batched.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import faiss
import numpy as np
import torch
from machine import load_1min, machine_block

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
    """Median seconds of ``reps`` calls after one warm-up (the median resists the other tenants)."""
    return float(np.median(timed_all(fn, reps)))


def timed_all(fn, reps: int) -> list[float]:
    """Seconds of each of ``reps`` calls after one warm-up (the spread, next to the median)."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def trained_like_prototypes(partition, dim: int, cell: float = 20.0, seed: int = 0) -> list[torch.Tensor]:
    """Per-group prototype matrices ``(S_g, dim)`` shaped like trained D&C heads.

    Statistics copied from a dnc head trained on synthcity (128-D): prototype directions are
    anisotropic (decaying spectrum) and spatially smooth (neighbouring cells share a field), mean
    |cos| between classes ≈ 0.13; norms differ per group (≈ 3.0–3.9) and by ≈ 7 % within a group,
    which matters for raw (un-normalised) scores.
    """
    rng = np.random.default_rng(seed)
    spectrum = (1.0 + np.arange(dim)) ** -0.5
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    levels = np.array([3.3, 3.9, 3.5, 3.0])
    out = []
    for g, classes in enumerate(partition.groups):
        cells = np.floor(partition.class_coords[classes] / cell).astype(np.int64)
        cells -= cells.min(0)
        field = (rng.standard_normal((cells[:, 0].max() + 2, cells[:, 1].max() + 2, dim)) * spectrum).astype(np.float32)
        smooth = sum(field[cells[:, 0] + a, cells[:, 1] + b] for a in (0, 1) for b in (0, 1))
        z = (0.5 * smooth + rng.standard_normal((len(classes), dim)).astype(np.float32) * spectrum) @ basis
        norms = levels[g % len(levels)] * (1 + 0.07 * rng.standard_normal(len(classes)))
        out.append(torch.from_numpy((z / np.linalg.norm(z, axis=1, keepdims=True) * norms[:, None]).astype(np.float32)))
    return out


def trained_like_queries(prototypes: list[torch.Tensor], n: int, seed: int = 1) -> torch.Tensor:
    """``(n, dim)`` unit descriptors at cosine 0.3–0.8 from a random class's prototype."""
    rng = np.random.default_rng(seed)
    protos = torch.nn.functional.normalize(torch.cat(prototypes), dim=1)
    anchor = protos[torch.from_numpy(rng.integers(0, len(protos), n))]
    noise = torch.from_numpy(rng.standard_normal((n, protos.shape[1])).astype(np.float32))
    noise = torch.nn.functional.normalize(noise - (noise * anchor).sum(1, keepdim=True) * anchor, dim=1)
    cos = torch.from_numpy(rng.uniform(0.3, 0.8, (n, 1)).astype(np.float32))
    return torch.nn.functional.normalize(cos * anchor + (1 - cos**2).sqrt() * noise, dim=1)


def rates(dim: int, classes: int) -> dict:
    """Memory bandwidth and float32 GEMV/GEMM rates on the shapes of the classification step."""
    big = np.ones(64_000_000, dtype=np.float32)
    t_sum = timed(big.sum, 5)
    weight = torch.randn(classes, dim)
    one, many = torch.randn(1, dim), torch.randn(256, dim)
    t_gemv = timed(lambda: one @ weight.T, 10)
    t_gemm = timed(lambda: many @ weight.T, 3)
    return {
        "numpy_sum_GBps": round(big.nbytes / t_sum / 1e9, 2),
        "torch_gemv_ms": round(t_gemv * 1e3, 2),
        "torch_gemv_GBps": round(weight.numel() * 4 / t_gemv / 1e9, 2),
        "torch_gemm256_GFLOPs": round(2 * 256 * classes * dim / t_gemm / 1e9, 1),
    }


def agreement(reference, fast, classes: np.ndarray | None = None, top: int = 100) -> dict:
    """Ranking agreement of ``fast`` with ``reference`` (two ``ScoredTop``)."""
    ref, got = reference.columns[:, :top].numpy(), fast.columns[:, :top].numpy()
    recall = np.mean([len(np.intersect1d(a, b)) / len(a) for a, b in zip(ref, got)])
    return {
        "top1_agreement": round(float((ref[:, 0] == got[:, 0]).mean()), 4),
        "group_top1_agreement": round(float((reference.group_best == fast.group_best).float().mean()), 4),
        f"top{top}_recall": round(float(recall), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=120, help="classes ranked per query (top-100 cells + 20 fill)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--shortlists", default="256,512", help="pq4 classes per group re-ranked exactly, one row each")
    parser.add_argument("--accuracy-queries", type=int, default=500)
    parser.add_argument("--sweep", default="1,4,16,32,64,128,256", help="batch sizes of the raw-score sweep")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "classify.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)

    result = {"machine": machine_block(threads=args.threads, **rates(args.dim, args.classes))}
    print("machine:", result["machine"], flush=True)
    partition = city_partition(args.classes)
    prototypes = trained_like_prototypes(partition, args.dim)
    queries = {
        "trained_like": trained_like_queries(prototypes, args.accuracy_queries),
        "random": torch.nn.functional.normalize(
            torch.randn(args.accuracy_queries, args.dim, generator=torch.Generator().manual_seed(2)), dim=1
        ),
    }
    one = queries["trained_like"][:1]
    many = queries["trained_like"][: args.batch].repeat(1 + args.batch // len(queries["trained_like"]), 1)[: args.batch]
    rows, sweep = {}, {}
    for mode in ("raw", "cosine"):
        reference = None
        runs = (
            [("float32", None)]
            + [("pq4", int(r)) for r in args.shortlists.split(",")]
            + [("bf16", None), ("auto", None)]
        )
        for precision, shortlist in runs:
            extra = {} if shortlist is None else {"score_shortlist": shortlist}
            clf = create_classifier(
                "dnc", backbone="tinycnn", descriptor_dim=args.dim, score_mode=mode, score_precision=precision, **extra
            ).build(partition)
            with torch.no_grad():
                for head, weight in zip(clf.heads, prototypes):
                    head.weight.copy_(weight)
            start = time.perf_counter()
            clf.classify_descriptors(one, args.k)  # packs (and for pq4 encodes) the prototypes once
            prepare_s = time.perf_counter() - start
            t1 = timed(partial(clf.classify_descriptors, one, args.k), reps=50)
            load1 = load_1min()
            batched = timed_all(partial(clf.classify_descriptors, many, args.k), reps=7)
            tb = float(np.median(batched))
            row = {
                "batch1_ms": round(t1 * 1e3, 3),
                "batch1_loadavg": load1,
                "batched_qps": round(args.batch / tb, 1),
                "batched_loadavg": load_1min(),
                "batched_qps_each_rep": [round(args.batch / t, 1) for t in batched],
                "prepare_s": round(prepare_s, 2),
                "scorer_bytes": clf.scorer.nbytes(),
            }
            if precision == "pq4":
                row["shortlist_per_group"] = clf.scorer.shortlist
            row["scan_batch1"] = clf.scorer.top(one, args.k).scan
            row["scan_batched"] = clf.scorer.top(many, args.k).scan
            tops = {name: clf.scorer.top(x, args.k) for name, x in queries.items()}
            if reference is None:
                reference = tops
            else:
                row["vs_float32"] = {name: agreement(reference[name], tops[name]) for name in queries}
                if precision in ("bf16", "auto"):  # queries without a proof, re-scored in float32
                    for name in queries:
                        row["vs_float32"][name]["rescored_in_float32"] = tops[name].rescored
            if mode == "raw" and shortlist in (None, 256):
                sweep[precision] = {
                    b: round(
                        timed(partial(clf.classify_descriptors, many[:b], args.k), reps=max(3, 64 // b)) / b * 1e3, 3
                    )
                    for b in map(int, args.sweep.split(","))
                }
                sweep[precision]["loadavg"] = load_1min()
            name = f"{mode}/{precision}" + ("" if shortlist is None else f"/shortlist{shortlist}")
            rows[name] = row
            print(
                f"{name:26s} batch 1: {t1 * 1e3:7.2f} ms/query (load {load1})   batch {args.batch}: "
                f"{args.batch / tb:8.1f} queries/s (load {row['batched_loadavg']})  {row.get('vs_float32', '')}",
                flush=True,
            )
    result.update(
        {
            "classes": partition.num_classes,
            "groups": partition.num_groups,
            "dim": args.dim,
            "k": args.k,
            "batch": args.batch,
            "modes": rows,
            "batch_sweep_ms_per_query": sweep,
            "prototype_bytes": partition.num_classes * args.dim * 4,
            "targets": {"batch1_ms": 5.0, "batched_qps": 2000.0},
            "command": "python benchmarks/bench_classify.py",
        }
    )
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
