"""The kNN stage vs database size: faiss flat, IVFPQ (paper presets), HNSW, D&C-restricted search.

    python benchmarks/bench_knn.py                                  # 10k, 100k, 1M, 3M rows of 512-D
    python benchmarks/bench_knn.py --sizes 10000,100000 --queries 100

Database: clustered synthetic 512-D unit descriptors stored sorted by cell, ~10 rows per cell
(``make_database`` of ``bench_restricted_search.py``); queries are database rows perturbed by
noise of norm ``--noise`` (0.7: cosine ≈ 0.82 with the source row) and re-normalised.
The restricted search gets the query's true cell plus N - 1 random cells for N ∈ {1, 10, 100, 1000}
(a classifier right within its top-N, otherwise uninformative; random cells are the worst case for
memory locality). Every method is vprkit's own index plugin (``flat``, ``ivfpq``, ``hnsw``,
``CellSortedDescriptors``), measured in one process per size: build time, memory, latency at batch 1
(mean, p50, p95), batched throughput, and recall against exact search over all rows (recall@1: the
exact top-1 is the returned top-1; recall@k: share of the exact top-k returned).

Above ``--max-flat-copy`` rows the exhaustive baseline is ``faiss.knn`` on the same array (the
kernel of ``IndexFlatIP.search``, without a second 6 GB copy). HNSW is built with
``restricted="filter"`` (no vector copy); the paper's M = 512 only up to ``--hnsw-paper-max-rows``.
Writes ``benchmarks/results/knn.json``; ``python benchmarks/plot_benchmarks.py`` draws it.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from pathlib import Path

import faiss
import numpy as np
from bench_restricted_search import knn_options, latency, make_database
from machine import load_1min, machine_block

from vprkit import create_index
from vprkit.fileio import atomic_write_json
from vprkit.index import CellSortedDescriptors

TOPNS = (1, 10, 100, 1000)


def make_queries(
    x: np.ndarray, cells: np.ndarray, n_cells: int, count: int, topn: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit queries near random database rows, and their top-``topn`` cells (the row's own
    cell first, then distinct random others).

    ``noise`` is the norm of the perturbation relative to the unit descriptor (0.7 → cosine ≈ 0.82
    with the source row), so the query's exact neighbours are mostly, not always, in its own cell.
    """
    rows = rng.integers(0, len(x), count)
    q = x[rows] + noise * rng.standard_normal((count, x.shape[1]), dtype=np.float32) / np.sqrt(x.shape[1])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    n_top = min(topn, n_cells)
    top = np.empty((count, n_top), dtype=np.int64)
    top[:, 0] = cells[rows]
    for i in range(count):  # benchmark set-up only: distinct cells other than the true one
        others = rng.choice(n_cells - 1, n_top - 1, replace=False)
        top[i, 1:] = others + (others >= top[i, 0])
    return np.ascontiguousarray(q, dtype=np.float32), top


def recall(found: np.ndarray, exact: np.ndarray) -> dict:
    """recall@1 and recall@k of ``found`` (q, k) rows against ``exact`` (q, k) rows."""
    at_k = (exact[:, :, None] == found[:, None, :]).any(axis=2).mean()  # (q, k, k) comparison, no loop
    return {"recall_at_1": round(float((found[:, 0] == exact[:, 0]).mean()), 4), "recall_at_k": round(float(at_k), 4)}


def measure(search, n_queries: int, exact: np.ndarray, n_latency: int, batch: int) -> dict:
    """``search(a, b)`` answers queries ``a:b``: latency at batch 1 over the first ``n_latency``
    queries, then batched throughput and recall over all ``n_queries``."""
    out = latency(lambda i: search(i, i + 1), n_latency, warmup=min(3, n_latency))
    found, start = [], time.perf_counter()
    for a in range(0, n_queries, batch):
        found.append(search(a, a + batch)[1])
    out["batched_qps"] = round(n_queries / (time.perf_counter() - start), 1)
    out.update(recall(np.concatenate(found), exact))
    return out


def built(name: str, x: np.ndarray, **config) -> tuple[object, float]:
    start = time.perf_counter()
    index = create_index(name, **config).build(x)
    return index, round(time.perf_counter() - start, 2)


class SizeRun:
    """One database size: the data, the exact reference, and the results of every method."""

    def __init__(self, n: int, args) -> None:
        rng = np.random.default_rng(n)
        self.n, self.args = n, args
        self.x, self.offsets, cells = make_database(n, args.dim, args.rows_per_cell, seed=n)
        n_cells = len(self.offsets) - 1
        self.queries, self.top = make_queries(self.x, cells, n_cells, args.queries, max(TOPNS), args.noise, rng)
        self.nq = len(self.queries)
        self.exact: np.ndarray | None = None
        self.out = {"rows": n, "dim": args.dim, "cells": n_cells, "queries": args.queries, "k": args.k, "methods": {}}

    def record(self, label: str, search, build_s: float, memory: int, n_latency: int | None = None, **extra) -> None:
        result = {
            **measure(search, self.nq, self.exact, n_latency or self.nq, self.args.batch),
            "build_s": build_s,
            "memory_bytes": int(memory),
            **extra,
        }
        self.out["methods"][label] = result
        print(
            f"n={self.n:>9,} {label:22s} p50 {result['p50_ms']:9.3f} ms  {result['batched_qps']:9.1f} q/s  "
            f"R@1 {result['recall_at_1']:.3f}  R@k {result['recall_at_k']:.3f}  "
            f"build {build_s:7.1f} s  mem {result['memory_bytes'] / 2**20:8.1f} MiB",
            flush=True,
        )

    def flat(self) -> None:
        """Exact search over all rows: also the reference of every recall."""
        args, x, queries = self.args, self.x, self.queries
        if self.n <= args.max_flat_copy:
            index, build_s = built("flat", x)
            search, memory, impl = (
                (lambda a, b: index.search(queries[a:b], args.k)),
                index.memory_bytes(),
                "vprkit flat (the cell-sorted store, faiss.knn)",
            )
        else:
            build_s, memory, impl = 0.0, x.nbytes, "faiss.knn over the array (IndexFlatIP's kernel, no copy)"
            search = lambda a, b: faiss.knn(queries[a:b], x, args.k, metric=faiss.METRIC_INNER_PRODUCT)  # noqa: E731
        self.exact = np.concatenate([search(a, a + args.batch)[1] for a in range(0, self.nq, args.batch)])
        self.record("flat", search, build_s, memory, min(args.flat_queries, self.nq), impl=impl)

    def ivfpq(self) -> None:
        index, build_s = built("ivfpq", self.x)
        for preset in ("recall", "speed"):
            index.config.preset = preset
            self.record(
                f"ivfpq/{preset}",
                lambda a, b: index.search(self.queries[a:b], self.args.k),
                build_s,
                index.memory_bytes(),
                nlist=index.nlist_effective,
                nprobe=index.nprobe,
            )

    def hnsw(self) -> None:
        args = self.args
        for M, cap in ((args.hnsw_M, args.hnsw_max_rows), (512, args.hnsw_paper_max_rows)):
            label = f"hnsw/M={M}"
            if self.n > cap:
                self.out["methods"][label] = {"skipped": f"n > {cap:,} (--hnsw{'-paper' if M == 512 else ''}-max-rows)"}
                continue
            index, build_s = built("hnsw", self.x, M=M, restricted="filter", backend=args.hnsw_backend)
            for ef in args.hnsw_ef:  # one graph, several search-time candidate lists
                index.config.ef_search = ef
                name = label if ef == args.hnsw_ef[0] else f"{label},ef={ef}"
                self.record(
                    name,
                    lambda a, b, index=index: index.search(self.queries[a:b], args.k),
                    build_s,
                    index.memory_bytes(),
                    ef_search=max(ef, args.k),
                )
            del index
            gc.collect()

    def restricted(self) -> None:
        start = time.perf_counter()
        store = CellSortedDescriptors.from_sorted(self.x, self.offsets)
        build_s = round(time.perf_counter() - start, 3)  # the sort by cell happens once at bundle build
        for topn in TOPNS:
            cells = np.ascontiguousarray(self.top[:, :topn])
            positions = store.candidate_positions(cells)[1]
            self.record(
                f"restricted/top-{topn}",
                lambda a, b, c=cells: store.search_cells(self.queries[a:b], c[a:b], self.args.k),
                build_s,
                store.memory_bytes(),
                topn=topn,
                candidates_mean=float(np.diff(positions).mean()),
            )


METHODS = ("ivfpq", "hnsw", "restricted")  # flat always runs: it is the reference


def bench_size(n: int, args) -> dict:
    run = SizeRun(n, args)
    run.flat()
    for method in METHODS:
        if method in args.methods:
            getattr(run, method)()
            gc.collect()
    return run.out


def main() -> None:
    threads = "faiss OpenMP threads (hnswlib uses all cores)"
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[knn_options("10000,100000,1000000,3000000", threads)],
    )
    ap.add_argument("--noise", type=float, default=0.7, help="query perturbation norm (relative to 1)")
    ap.add_argument("--queries", type=int, default=200, help="queries per size (latency, recall, throughput)")
    ap.add_argument("--flat-queries", type=int, default=20, help="batch-1 latency queries of the exhaustive search")
    ap.add_argument("--batch", type=int, default=100, help="batch of the throughput figure")
    ap.add_argument("--hnsw-max-rows", type=int, default=3_000_000)
    ap.add_argument(
        "--hnsw-backend",
        choices=("hnswlib", "faiss"),
        default="hnswlib",
        help="the HNSW library (the published numbers: hnswlib; the index's default is faiss)",
    )
    ap.add_argument("--hnsw-paper-max-rows", type=int, default=100_000, help="M = 512 (paper) up to this size")
    ap.add_argument(
        "--hnsw-ef",
        type=lambda v: [int(e) for e in v.split(",")],
        default=[16],
        help="search ef values (raised to k); the first is the plain 'hnsw/M=..' row (16: faiss default)",
    )
    ap.add_argument(
        "--methods",
        type=lambda v: v.split(","),
        default=list(METHODS),
        help=f"comma list of {', '.join(METHODS)} (flat always runs)",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "knn.json")
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_block(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/bench_knn.py",
        "loadavg_start": load_1min(),
        "sizes": [],
    }
    for n in (int(s) for s in args.sizes.split(",")):
        result["sizes"].append(bench_size(n, args))
        result["sizes"][-1]["loadavg_after"] = load_1min()
        atomic_write_json(args.out, result)  # a partial file survives an interrupted 3M run
        gc.collect()
    result["machine"] = machine_block()  # the load at the end
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
