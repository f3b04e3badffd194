"""Candidate-restricted exact search vs faiss ``IndexFlatIP`` over all rows, as the database grows.

For each database size: clustered synthetic 512-D L2-normalised descriptors arranged into cells
(``--rows-per-cell`` rows on average, Poisson-distributed sizes), stored sorted by cell with CSR
offsets (:class:`vprkit.index.CellSortedDescriptors`). Each query searches its top-``--topn``
cells. Two ways of choosing the cells bracket a real classifier's top-N:

- ``random``: the query's true cell + N-1 cells drawn uniformly (worst case for memory locality);
- ``window``: N consecutive cell ids around the true cell (one contiguous slice; best case).

Measured per size, in one process: batch-1 latency (mean, p50, p95) of the restricted search with
the faiss kernel and the NumPy kernel, of candidate gathering alone, batched throughput, faiss
``IndexFlatIP`` batch-1 latency over all rows, the speed-up, and an exactness check against
``IndexFlatIP`` searched with an ``IDSelectorBatch`` of the same rows. A last section measures
hnswlib's restricted-search modes (``exact`` vs ``filter``) on a smaller graph.

Usage::

    python3 benchmarks/bench_restricted_search.py                       # 10k, 100k, 1M
    python3 benchmarks/bench_restricted_search.py --sizes 10000,100000,1000000,3000000

Writes ``benchmarks/results/restricted_search.json``. 3M rows need ~7 GB of RAM (descriptors are
generated in chunks; the exhaustive reference uses ``faiss.knn`` on the same array instead of
copying it into an ``IndexFlatIP`` above ``--max-flat-copy`` rows).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from pathlib import Path

import faiss
import numpy as np
from machine import load_average, machine_block

from vprkit.fileio import atomic_write_json
from vprkit.index import CellSortedDescriptors


def make_database(n: int, dim: int, rows_per_cell: int, seed: int, chunk: int = 200_000):
    """Cell-sorted clustered descriptors: (descriptors (n, dim), offsets (C+1,), cell of row (n,))."""
    rng = np.random.default_rng(seed)
    n_cells = max(1, n // rows_per_cell)
    cells = np.sort(rng.integers(0, n_cells, n))
    offsets = np.searchsorted(cells, np.arange(n_cells + 1)).astype(np.int64)
    centres = rng.standard_normal((n_cells, dim), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):  # chunks keep the temporary noise small
        block = x[start : start + chunk]
        block[:] = centres[cells[start : start + chunk]]
        block += 0.5 * rng.standard_normal(block.shape, dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    del centres
    return x, offsets, cells


def make_queries(x, cells, n_cells, count, topn, mode, rng):
    rows = rng.integers(0, len(x), count)
    q = x[rows] + 0.5 * rng.standard_normal((count, x.shape[1]), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    true = cells[rows]
    n_top = min(topn, n_cells)
    if mode == "window":
        first = np.clip(true - n_top // 2, 0, n_cells - n_top)
        top = first[:, None] + np.arange(n_top)
    else:
        top = np.empty((count, n_top), dtype=np.int64)
        for i in range(count):  # benchmark set-up only
            others = rng.choice(n_cells - 1, n_top - 1, replace=False)
            top[i, 0] = true[i]
            top[i, 1:] = others + (others >= true[i])
    return np.ascontiguousarray(q, dtype=np.float32), top


def latency(fn, count, warmup=10):
    for i in range(min(warmup, count)):
        fn(i)
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {"mean_ms": float(ms.mean()), "p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}


def exactness(store, x, queries, top, k, flat, checks):
    """Compare with IndexFlatIP restricted by IDSelectorBatch (or faiss.knn over the same rows)."""
    same, max_diff = 0, 0.0
    for i in range(checks):
        allowed = store.row_ids[store.candidate_positions(top[i : i + 1])[0]]
        scores, rows = store.search_cells(queries[i], top[i], k)
        if flat is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            ref_s, ref_r = flat.search(queries[i : i + 1], k, params=params)
        else:
            ref_s, pos = faiss.knn(
                queries[i : i + 1], np.ascontiguousarray(x[allowed]), k, metric=faiss.METRIC_INNER_PRODUCT
            )
            ref_r = allowed[pos]
        same += int((rows == ref_r).all())
        max_diff = max(max_diff, float(np.abs(scores - ref_s).max()))
    return {"queries_checked": checks, "identical_rows": same, "max_abs_score_diff": max_diff}


def bench_size(n, args, rng):
    t0 = time.perf_counter()
    x, offsets, cells = make_database(n, args.dim, args.rows_per_cell, seed=n)
    gen_s = time.perf_counter() - t0
    n_cells = len(offsets) - 1
    stores = {kern: CellSortedDescriptors.from_sorted(x, offsets, kernel=kern) for kern in ("faiss", "numpy")}
    store = stores["faiss"]
    out = {
        "rows": n,
        "dim": args.dim,
        "cells": n_cells,
        "mean_rows_per_cell": n / n_cells,
        "generate_s": round(gen_s, 2),
        "store_memory_bytes": store.memory_bytes(),
    }

    flat = None
    t0 = time.perf_counter()
    if n <= args.max_flat_copy:
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(x)

        def flat_search(q, flat=flat):
            return flat.search(q, args.k)

        out["flat_impl"] = "faiss.IndexFlatIP"
    else:

        def flat_search(q, x=x):
            return faiss.knn(q, x, args.k, metric=faiss.METRIC_INNER_PRODUCT)

        out["flat_impl"] = "faiss.knn (same kernel as IndexFlatIP.search, no copy)"
    out["flat_build_s"] = round(time.perf_counter() - t0, 2)
    fq, _ = make_queries(x, cells, n_cells, args.flat_queries, 1, "random", rng)
    # The exhaustive baseline is timed with 1 thread and with --threads; the faster one counts, so
    # the speed-up is never inflated by OpenMP waiting on a core that another process holds.
    per_threads = {}
    for threads in sorted({1, args.threads}):
        faiss.omp_set_num_threads(threads)
        per_threads[threads] = latency(lambda i: flat_search(fq[i : i + 1]), args.flat_queries, warmup=2)
    faiss.omp_set_num_threads(args.threads)
    best = min(per_threads, key=lambda t: per_threads[t]["mean_ms"])
    out["flat_all_rows"] = {
        **per_threads[best],
        "threads": best,
        "by_threads": {str(t): v for t, v in per_threads.items()},
    }

    for mode in ("random", "window"):
        queries, top = make_queries(x, cells, n_cells, args.queries, args.topn, mode, rng)
        cand = np.diff(store.candidate_positions(top)[1])
        res = {
            "topn": top.shape[1],
            "candidates_mean": float(cand.mean()),
            "candidate_fraction": float(cand.mean() / n),
        }
        res["gather_positions"] = latency(lambda i, top=top: store.candidate_positions(top[i : i + 1]), args.queries)
        for kern, st in stores.items():
            res[f"restricted_{kern}"] = latency(
                lambda i, st=st, q=queries, top=top: st.search_cells(q[i], top[i], args.k), args.queries
            )
        t0 = time.perf_counter()
        for s in range(0, args.queries, args.batch):
            store.search_cells(queries[s : s + args.batch], top[s : s + args.batch], args.k)
        res["batched_queries_per_s"] = args.queries / (time.perf_counter() - t0)
        res["speedup_vs_flat"] = out["flat_all_rows"]["mean_ms"] / res["restricted_faiss"]["mean_ms"]
        res["exactness_vs_flat"] = exactness(store, x, queries, top, args.k, flat, args.checks)
        out[mode] = res
        print(
            f"n={n:>9,} {mode:6s} candidates {cand.mean():7.0f}  restricted "
            f"{res['restricted_faiss']['mean_ms']:.3f} ms (numpy {res['restricted_numpy']['mean_ms']:.3f})  "
            f"flat {out['flat_all_rows']['mean_ms']:.2f} ms  speed-up {res['speedup_vs_flat']:.0f}x  "
            f"exact {res['exactness_vs_flat']['identical_rows']}/{args.checks}",
            flush=True,
        )
    return out


def bench_hnsw_restricted(args, rng):
    """hnswlib restricted search: exact over the candidates' stored vectors vs the filter callback."""
    from vprkit import create_index

    n = args.hnsw_rows
    x, offsets, cells = make_database(n, args.dim, args.rows_per_cell, seed=7)
    n_cells = len(offsets) - 1
    queries, top = make_queries(x, cells, n_cells, args.hnsw_queries, args.hnsw_topn, "random", rng)
    store = CellSortedDescriptors.from_sorted(x, offsets)
    allowed = [store.row_ids[store.candidate_positions(top[i : i + 1])[0]] for i in range(len(queries))]
    ref = [store.search_cells(queries[i], top[i], args.k)[1][0] for i in range(len(queries))]
    out = {
        "rows": n,
        "M": args.hnsw_M,
        "backend": args.hnsw_backend,
        "topn": top.shape[1],
        "candidates_mean": float(np.mean([len(a) for a in allowed])),
    }
    t0 = time.perf_counter()
    index = create_index("hnsw", M=args.hnsw_M, backend=args.hnsw_backend).build(x)
    out["build_s"] = round(time.perf_counter() - t0, 2)
    out["memory_bytes"] = index.memory_bytes()
    for mode in ("exact", "filter"):
        index.config.restricted = mode
        res = latency(lambda i: index.search_rows(queries[i], allowed[i], args.k), len(queries), warmup=2)
        rows = [index.search_rows(queries[i], allowed[i], args.k)[1][0] for i in range(len(queries))]
        res["recall_vs_exact"] = float(np.mean([len(set(r) & set(e)) / args.k for r, e in zip(rows, ref)]))
        out[mode] = res
        print(
            f"hnsw n={n:,} M={args.hnsw_M} restricted={mode}: {res['mean_ms']:.3f} ms, "
            f"recall {res['recall_vs_exact']:.3f}",
            flush=True,
        )
    return out


def cpu_times():
    """Aggregate (busy, steal, total) jiffies from /proc/stat (Linux), to report CPU contention."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields) - idle - steal, steal, sum(fields)


def contention(before, after):
    """Share of all CPU time that was busy (any process) or stolen by the hypervisor meanwhile."""
    if before is None or after is None or after[2] == before[2]:
        return None
    total = after[2] - before[2]
    return {
        "busy_share": round((after[0] - before[0]) / total, 3),
        "steal_share": round((after[1] - before[1]) / total, 3),
    }


def thread_info():
    info = {
        "faiss_omp_max_threads": faiss.omp_get_max_threads(),
        "env": {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "MKL_NUM_THREADS",
            )
        },
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = threadpool_info()
    except ImportError:
        info["threadpoolctl"] = "not installed"
    return info


def knn_options(sizes: str, threads_help: str) -> argparse.ArgumentParser:
    """The options of both kNN benchmarks: the synthetic databases (``--sizes``, ``--dim``,
    ``--rows-per-cell``, :func:`make_database`), ``--k``, faiss's threads, the largest database the
    exhaustive search copies, and the HNSW graph's M."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--sizes", default=sizes)
    options.add_argument("--dim", type=int, default=512)
    options.add_argument("--rows-per-cell", type=int, default=10)
    options.add_argument("--k", type=int, default=20)
    options.add_argument("--threads", type=int, default=2, help=threads_help)
    options.add_argument("--max-flat-copy", type=int, default=1_500_000)
    options.add_argument("--hnsw-M", type=int, default=32)
    options.add_argument(
        "--hnsw-backend",
        choices=("hnswlib", "faiss"),
        default="hnswlib",
        help="the HNSW library (the published numbers: hnswlib; the index's default is faiss)",
    )
    return options


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[knn_options("10000,100000,1000000", "faiss OpenMP threads")],
    )
    ap.add_argument("--topn", type=int, default=100)
    ap.add_argument("--queries", type=int, default=500, help="batch-1 queries per size and mode")
    ap.add_argument(
        "--batch",
        type=int,
        default=256,
        help="batch size for the throughput figure (faiss parallelises batches over 100 queries)",
    )
    ap.add_argument("--flat-queries", type=int, default=20)
    ap.add_argument("--checks", type=int, default=20, help="queries compared with IndexFlatIP restricted")
    ap.add_argument("--hnsw-rows", type=int, default=20_000, help="0 skips the hnsw section")
    ap.add_argument("--hnsw-topn", type=int, default=10)
    ap.add_argument("--hnsw-queries", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "restricted_search.json")
    args = ap.parse_args()
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_average_at_start": load_average(),
        "threads": thread_info(),
        "sizes": [],
    }
    for n in (int(s) for s in args.sizes.split(",")):
        before = cpu_times()
        result["sizes"].append(bench_size(n, args, rng))
        result["sizes"][-1]["machine_cpu_during"] = contention(before, cpu_times())
        result["sizes"][-1]["load_average_after"] = load_average()
        gc.collect()  # free this size's arrays before generating the next
    if args.hnsw_rows:
        result["hnsw_restricted"] = bench_hnsw_restricted(args, rng)
    result.update(
        {
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "machine": machine_block(),
        }
    )
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
