"""vprkit at SF-XL scale: 2.8M database rows × 512-D through the real store, bundle and index code.

Synthetic data, real code paths (issue 16). The database is an SF-like street grid in UTM zone
10S (``bench_partition.street_city``: streets every 100 m, panoramas of 12 crops 30° apart),
12 × 12 km at 2.8M rows (the side scales with sqrt(rows), so ``--quick`` keeps SF-XL's density),
named with standard '@' file names (no image file is written: the descriptor store's content key
is given, never computed from files). A real D&C partition is fitted on those coordinates and a
real ``dnc`` classifier (tinycnn, untrained) built over it; the retriever is a real ``cosplace``
(tinycnn → 512-D, untrained) that gives the store and the bundle their fingerprints and dimension.
Descriptors are clustered by D&C cell (one random centre per cell + noise, L2-normalised, as
``bench_restricted_search.make_database``), generated in chunks.

Timed phases (``time.perf_counter``; resident memory from ``/proc/self/status``: VmRSS, RssAnon,
RssFile, and the phase's peak VmHWM, reset before each phase):

a. **store write**: ``import_descriptors`` into a descriptor store (a temporary cache folder);
b. **bundle build** from that store (``build_bundle(..., descriptors=store.descriptors(mmap=True),
   index="flat", index_config={"storage": S})``) for S = float32 and float16, one after the other
   (each bundle is deleted when measured, so the disk holds one at a time);
c. **load** in a fresh subprocess per variant (clean RSS): ``load_index(bundle/"store", mmap=False)``,
   ``load_index(..., mmap=True)``, and ``MapBundle.load(bundle, mmap=False)`` (what ``vprkit
   localize --bundle`` does) and ``mmap=True`` (``--mmap``), each with every fingerprint check;
d. **restricted search** in the same subprocess after a ``load_index``: top-100 cells (the query's
   true cell + 99 random ones, ``bench_restricted_search``'s ``random`` mode), k = 20, through
   ``store.search_cells``: batch-1 latency (after a warm-up), batched throughput, then batch-1
   latency again on the same queries (their float32 rows now read once: a warm page cache), then RSS;
   before the first pass, the share of the float32 file (``descriptors.npy``) in the page cache
   (``mincore``), since the float32 re-scoring (float16) or the scan (float32 mapped) reads it;
e. **exactness**: the float16 store's rows against the float32 store's on the same queries.

Queries are database rows plus noise of norm ``--noise`` (0.7: cosine ≈ 0.82 with the source row).

Usage::

    python benchmarks/bench_scale.py                          # 2.8M rows; benchmarks/results/scale.json
    python benchmarks/bench_scale.py --quick --out /tmp/scale_quick.json   # 100k rows, a smoke test

The full run needs about 20 GB free under ``--tmp`` (checked first: the store, 5.7 GB, plus one
bundle at a time, 6.2 GB float32 / 9.1 GB float16 with the 0.3 GB database list; all removed at
the end). Its resident peak is the float16 bundle build: about 16 GB, of which about 10 GB
anonymous (the database list, the cell-sorted float32 copy and its float16 copy) and the rest pages
of the memory-mapped store, which the kernel can drop.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from bench_partition import street_city
from bench_restricted_search import latency
from machine import load_average, machine_block

from vprkit.fileio import atomic_write_json

SFXL_ROWS = 2_800_000
SFXL_SIDE_M = 12_000.0
ZONE = (10, "S")
CROPS = 12
STORAGES = ("float32", "float16")
#: issue 16's targets, shown beside the measured numbers
TARGETS = {
    "bundle_build_s": 60.0,
    "mmap_load_s": 2.0,
    "float16_resident_gb": 3.0,
    "float16_identical": 1.0,
    "search_p50_ms": 0.3,
}
GB = 1e9
_STATUS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")


# -- memory and timing ------------------------------------------------------------------------


def memory() -> dict[str, int]:
    """Resident memory of this process in bytes: VmRSS, RssAnon, RssFile, RssShmem and the peak
    VmHWM (since the last :func:`reset_peak`), from ``/proc/self/status``; AnonHugePages (anonymous
    memory on 2 MB transparent huge pages, fewer TLB misses in a scattered scan) from
    ``/proc/self/smaps_rollup``."""
    out: dict[str, int] = {}
    for source, fields in (("status", _STATUS_FIELDS), ("smaps_rollup", ("AnonHugePages",))):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/self/{source}").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in fields:
                    out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: ``5`` into ``/proc/self/clear_refs``)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@contextlib.contextmanager
def phase(record: dict[str, Any]):
    """Time the block into ``record["s"]``; ``record["memory"]`` is :func:`memory` after it, its
    ``VmHWM`` the peak during the block."""
    gc.collect()
    reset_peak()
    t0 = time.perf_counter()
    yield record
    record["s"] = round(time.perf_counter() - t0, 3)
    record["memory"] = memory()


def gb(nbytes: float | None) -> str:
    return "?" if nbytes is None else f"{nbytes / GB:.2f} GB"


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def cached_fraction(path: Path) -> float:
    """Share of ``path``'s pages in the page cache (``mincore(2)`` on a read-only map of it, made
    with libc so that nothing is read): whether a search's reads of that file come from memory or
    from the disk."""
    import ctypes
    import mmap

    size = path.stat().st_size
    if size == 0:
        return 1.0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    vec = np.zeros(-(-size // mmap.PAGESIZE), dtype=np.uint8)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            if libc.mincore(address, size, vec.ctypes.data) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(fd)
    return float((vec & 1).mean())


def evict_page_cache(folder: Path) -> None:
    """Drop ``folder``'s files from the page cache (written back first; no root needed), so a load
    reads them from the disk."""
    for f in folder.rglob("*"):
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# -- synthetic data ---------------------------------------------------------------------------


def make_database(rows: int, side: float, root: Path, seed: int):
    """An SF-like street grid of ``rows`` images (panoramas of 12 crops) as an ImageList with
    standard '@' names; no file is written."""
    from vprkit.data.filenames import format_filenames
    from vprkit.data.image_list import ImageList
    from vprkit.geometry.utm import utm_to_latlon

    panoramas = -(-rows // CROPS)
    east, north, heading = street_city(panoramas * CROPS, extent=side, seed=seed, crops=CROPS)
    east, north, heading = east[:rows], north[:rows], heading[:rows]
    lat, lon = utm_to_latlon(east, north, f"{ZONE[0]}{ZONE[1]}")
    pano = (np.arange(rows) // CROPS).astype(str)
    paths = format_filenames(east, north, ZONE[0], ZONE[1], lat, lon, pano_id=pano, heading=np.round(heading, 2))
    return ImageList(
        root=root,
        paths=paths,
        east=east,
        north=north,
        zone_number=ZONE[0],
        zone_letter=ZONE[1],
        lat=lat,
        lon=lon,
        heading=heading,
    )


def make_descriptors(cells: np.ndarray, n_cells: int, dim: int, seed: int, chunk: int = 200_000) -> np.ndarray:
    """(n, dim) float32 unit rows clustered by cell: each cell's random centre plus noise (rows in
    no cell share one more centre), generated in chunks (``make_database``'s recipe)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_cells + 1, dim), dtype=np.float32)
    centre_of_row = np.where(cells >= 0, cells, n_cells)
    x = np.empty((len(cells), dim), dtype=np.float32)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        block[:] = centres[centre_of_row[start : start + chunk]]
        block += 0.5 * rng.standard_normal(block.shape, dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return x


def make_queries(x: np.ndarray, cells: np.ndarray, n_cells: int, count: int, topn: int, noise: float, rng):
    """Noisy copies of database rows that lie in a cell, and each query's top-``topn`` cells: its
    true cell first, then ``topn - 1`` distinct others drawn uniformly (``random`` mode)."""
    rows = rng.choice(np.flatnonzero(cells >= 0), count)
    q = x[rows] + noise * rng.standard_normal((count, x.shape[1]), dtype=np.float32) / np.sqrt(x.shape[1])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    true = cells[rows]
    n_top = min(topn, n_cells)
    top = np.empty((count, n_top), dtype=np.int64)
    for i in range(count):  # set-up only
        others = rng.choice(n_cells - 1, n_top - 1, replace=False)
        top[i, 0] = true[i]
        top[i, 1:] = others + (others >= true[i])
    return np.ascontiguousarray(q, dtype=np.float32), top, rows


# -- the fresh-process measurements -----------------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Load one variant in this (fresh) process, search it when asked; the numbers as a dict."""
    import torch

    import vprkit.index.torch_kernel  # noqa: F401  (float16 search converts with torch: loaded before the baseline)
    from vprkit.index import load_index
    from vprkit.pipeline.bundle import MapBundle

    faiss.omp_set_num_threads(spec["threads"])
    torch.set_num_threads(spec["threads"])
    out: dict[str, Any] = {}
    if spec["what"] == "bundle":
        # importing the model classes (torchvision, timm...) costs the same for any map: timed apart
        from vprkit.registry import get_classifier_spec, get_retriever_spec

        manifest = json.loads((Path(spec["path"]) / "manifest.json").read_text(encoding="utf-8"))
        t0 = time.perf_counter()
        get_classifier_spec(manifest["classifier"]["name"]).load_factory()
        get_retriever_spec(manifest["retriever"]["name"]).load_factory()
        out["model_imports_s"] = round(time.perf_counter() - t0, 3)
    gc.collect()
    out["memory_before_load"] = memory()
    reset_peak()
    t0 = time.perf_counter()
    if spec["what"] == "bundle":
        bundle = MapBundle.load(spec["path"], mmap=spec["mmap"])
        store = bundle.store
        out["memory_bytes_reported"] = bundle.memory_bytes()
    else:
        store = load_index(spec["path"], mmap=spec["mmap"])
        out["memory_bytes_reported"] = {"store": int(store.memory_bytes())}
    out["load_s"] = round(time.perf_counter() - t0, 3)
    out["memory_after_load"] = memory()
    out["rss_increase_after_load"] = out["memory_after_load"]["VmRSS"] - out["memory_before_load"]["VmRSS"]
    out["n_cells"] = store.n_cells
    out["ntotal"] = store.ntotal
    if spec["search"]:
        q, cells, k = np.load(spec["queries"]), np.load(spec["cells"]), spec["k"]
        n_latency = min(spec["latency_queries"], len(q))
        float32_file = Path(spec["path"]) / "descriptors.npy"
        out["float32_cached_before_search"] = cached_fraction(float32_file)
        out["batch1"] = latency(lambda i: store.search_cells(q[i], cells[i], k), n_latency, warmup=spec["warmup"])
        batch = spec["batch"]
        store.search_cells(q[:batch], cells[:batch], k)  # warm-up
        scores, rows = np.empty((len(q), k), np.float32), np.empty((len(q), k), np.int64)
        t0 = time.perf_counter()
        for s in range(0, len(q), batch):
            scores[s : s + batch], rows[s : s + batch] = store.search_cells(q[s : s + batch], cells[s : s + batch], k)
        out["batched"] = {"batch": batch, "queries": len(q), "queries_per_s": len(q) / (time.perf_counter() - t0)}
        # the batch-1 queries again: every float32 row their re-scoring reads (float16) or their scan
        # touches (float32 through the map) has now been read once, so this pass sees a warm page cache
        out["batch1_repeat"] = latency(lambda i: store.search_cells(q[i], cells[i], k), n_latency, warmup=0)
        out["memory_after_search"] = memory()
        out["rss_increase_after_search"] = out["memory_after_search"]["VmRSS"] - out["memory_before_load"]["VmRSS"]
        np.save(spec["scores_out"], scores)
        np.save(spec["rows_out"], rows)
    out["load_average_1m"] = load_average()[0]
    return out


def run_child(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    result_path = work / f"child_{spec['name']}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps({**spec, "result": str(result_path)})]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    out = json.loads(result_path.read_text(encoding="utf-8"))
    out["process_wall_s"] = round(time.perf_counter() - t0, 2)  # with interpreter start and imports
    return out


def rss_text(res: dict[str, Any], after: str) -> str:
    """``"RSS 3.41 GB (+2.90 GB; anon 3.10 of which huge pages 2.80, file 0.31)"``: a child's RSS
    after ``load`` or ``search``, its increase over the RSS before the load, and the anonymous
    (on transparent huge pages) / file-backed split."""
    mem = res[f"memory_after_{after}"]
    return (
        f"RSS {gb(mem.get('VmRSS'))} (+{gb(res[f'rss_increase_after_{after}'])}; "
        f"anon {mem.get('RssAnon', 0) / GB:.2f} of which huge pages {mem.get('AnonHugePages', 0) / GB:.2f}, "
        f"file {mem.get('RssFile', 0) / GB:.2f})"
    )


def exactness(rows: np.ndarray, scores: np.ndarray, ref_rows: np.ndarray, ref_scores: np.ndarray) -> dict[str, Any]:
    overlap = [len(set(a) & set(b)) / rows.shape[1] for a, b in zip(rows.tolist(), ref_rows.tolist())]
    return {
        "queries": len(rows),
        "identical_topk": float((rows == ref_rows).all(axis=1).mean()),
        "identical_topk_sets": float(np.mean([o == 1.0 for o in overlap])),
        "top1_agreement": float((rows[:, 0] == ref_rows[:, 0]).mean()),
        "topk_overlap_mean": float(np.mean(overlap)),
        "max_abs_score_diff": float(np.abs(scores - ref_scores).max()),
    }


# -- the run ----------------------------------------------------------------------------------


def check_disk(folder: Path, rows: int, dim: int) -> int:
    """Bytes needed: the store (n·d·4) + one float16 bundle (n·d·6) + as much again as margin."""
    need = int(rows * dim * 4 * 3.5)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise SystemExit(
            f"bench_scale: {free / GB:.1f} GB free under {folder}, {need / GB:.1f} GB needed for {rows:,} rows "
            f"× {dim} (a {rows * dim * 4 / GB:.1f} GB descriptor store + a bundle of up to "
            f"{rows * dim * 6 / GB:.1f} GB, with margin); free some space or choose another folder with --tmp"
        )
    return need


def available_memory() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def bench(args: argparse.Namespace, work: Path, result: dict[str, Any]) -> None:
    import torch

    from vprkit import create_classifier, create_partitioner, create_retriever
    from vprkit.pipeline.bundle import build_bundle
    from vprkit.pipeline.descriptor_store import import_descriptors

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    side = args.side if args.side else SFXL_SIDE_M * np.sqrt(args.rows / SFXL_ROWS)
    phases: dict[str, Any] = result.setdefault("phases", {})

    with phase(phases.setdefault("database_list", {})):
        database = make_database(args.rows, side, work / "images", args.seed)
    with phase(phases.setdefault("partition_fit", {})):
        partition = create_partitioner("dnc").fit(database.east, database.north, database.heading)
    with phase(phases.setdefault("models", {})):
        torch.manual_seed(args.seed)
        classifier = create_classifier("dnc", backbone="tinycnn").build(partition)
        retriever = create_retriever("cosplace", backbone="tinycnn", fc_output_dim=args.dim)
    cells, _ = partition.assign(database.east, database.north, database.heading)
    n_classes = int(partition.num_classes)
    per_cell = np.bincount(cells[cells >= 0], minlength=n_classes)
    data = result["data"] = {
        "rows": args.rows,
        "dim": args.dim,
        "side_m": round(float(side), 1),
        "utm_zone": f"{ZONE[0]}{ZONE[1]}",
        "crops_per_panorama": CROPS,
        "classes": n_classes,
        "groups": int(partition.num_groups),
        "rows_in_no_cell": int((cells < 0).sum()),
        "mean_rows_per_class": float(per_cell.mean()) if n_classes else 0.0,
        "max_rows_per_class": int(per_cell.max(initial=0)),
        "retriever": retriever.name,
        "classifier": classifier.name,
    }
    print(
        f"database: {args.rows:,} rows × {args.dim} over {side / 1000:.1f} × {side / 1000:.1f} km; "
        f"D&C partition: {n_classes:,} classes ({data['mean_rows_per_class']:.1f} rows per class), "
        f"{data['rows_in_no_cell']:,} rows in no cell",
        flush=True,
    )
    with phase(phases.setdefault("descriptors", {})):
        x = make_descriptors(cells, n_classes, args.dim, args.seed + 1)
    print(f"descriptors generated in {phases['descriptors']['s']:.1f} s", flush=True)

    # a. the store, written from the descriptors
    content = f"synthetic bench_scale rows={args.rows} seed={args.seed}"
    record = phases.setdefault("store_write", {})
    with phase(record):
        store = import_descriptors(
            x, retriever, database, content=content, cache=work / "cache", source="synthetic (bench_scale.py)"
        )
    record["file_bytes"] = store.size_bytes()
    record["folder"] = str(store.root)
    print(f"store write: {record['s']:.1f} s, {gb(record['file_bytes'])}", flush=True)

    queries, top, query_rows = make_queries(x, cells, n_classes, args.queries, args.topn, args.noise, rng)
    candidates = per_cell[top].sum(axis=1)
    data.update(
        {
            "queries": args.queries,
            "latency_queries": min(args.latency_queries, args.queries),
            "topn": int(top.shape[1]),
            "k": args.k,
            "noise": args.noise,
            "candidates_mean": float(candidates.mean()),
        }
    )
    del x
    np.save(work / "queries.npy", queries)
    np.save(work / "cells.npy", top)

    storages: dict[str, Any] = result.setdefault("storages", {})
    for storage in args.storages:
        entry = storages.setdefault(storage, {})
        out = work / f"bundle_{storage}"
        build = entry.setdefault("build", {})
        with phase(build):
            bundle = build_bundle(
                out,
                database,
                classifier=classifier,
                retriever=retriever,
                descriptors=store.descriptors(mmap=True),
                index="flat",
                index_config={"storage": storage},
                dataset="synthetic SF-XL scale (bench_scale.py)",
            )
        build["store_n_cells"] = bundle.store.n_cells
        build["bundle_bytes"] = folder_bytes(out)
        build["store_folder_bytes"] = folder_bytes(out / "store")
        del bundle
        gc.collect()
        # the bundle's GBs are written back now, not by kernel threads during the timed loads
        t0 = time.perf_counter()
        os.sync()
        build["sync_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"bundle build ({storage}): {build['s']:.1f} s, {gb(build['bundle_bytes'])} on disk, "
            f"peak RSS {gb(build['memory'].get('VmHWM'))}",
            flush=True,
        )
        variants = [
            ("index_eager", "index", False, True),
            ("index_mmap", "index", True, True),
            ("bundle_eager", "bundle", False, False),
            ("bundle_mmap", "bundle", True, False),
        ]
        loads = entry.setdefault("load", {})
        for name, what, mmap, search in variants:
            if args.evict_page_cache:
                evict_page_cache(out)
            spec = {
                "name": f"{storage}_{name}",
                "what": what,
                "path": str(out / "store" if what == "index" else out),
                "mmap": mmap,
                "search": search,
                "queries": str(work / "queries.npy"),
                "cells": str(work / "cells.npy"),
                "k": args.k,
                "latency_queries": args.latency_queries,
                "warmup": args.warmup,
                "batch": args.batch,
                "threads": args.threads,
                "rows_out": str(work / f"rows_{storage}_{name}.npy"),
                "scores_out": str(work / f"scores_{storage}_{name}.npy"),
            }
            res = loads[name] = run_child(spec, work)
            line = f"  {name:12s} load {res['load_s']:.2f} s, {rss_text(res, 'load')}"
            if search:
                b1 = res["batch1"]
                line += (
                    f"; float32 file {res['float32_cached_before_search']:.0%} cached"
                    f"; batch 1 p50 {b1['p50_ms']:.3f} / mean {b1['mean_ms']:.3f} / p95 {b1['p95_ms']:.3f} ms, "
                    f"batched {res['batched']['queries_per_s']:,.0f} q/s; "
                    f"again p50 {res['batch1_repeat']['p50_ms']:.3f} ms; after search {rss_text(res, 'search')}"
                )
            print(line, flush=True)
        shutil.rmtree(out)

    if "float32" in storages:
        ref_rows = np.load(work / "rows_float32_index_eager.npy")
        ref_scores = np.load(work / "scores_float32_index_eager.npy")
        for storage, entry in storages.items():
            for name, res in entry["load"].items():
                if "batched" in res and (storage, name) != ("float32", "index_eager"):
                    rows = np.load(work / f"rows_{storage}_{name}.npy")
                    scores = np.load(work / f"scores_{storage}_{name}.npy")
                    res["vs_float32_eager"] = exactness(rows, scores, ref_rows, ref_scores)
        # the search found the query's source row (it is in the query's own cell)
        data["source_row_top1_float32"] = float((ref_rows[:, 0] == query_rows).mean())


def summary(result: dict[str, Any]) -> list[str]:
    data, phases, t = result["data"], result["phases"], TARGETS

    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER"

    lines = [
        f"SF-XL scale: {data['rows']:,} × {data['dim']}, {data['classes']:,} D&C classes, "
        f"top-{data['topn']} cells ≈ {data['candidates_mean']:,.0f} candidates, k = {data['k']}"
        + (" [--quick: not a measurement]" if result.get("quick") else ""),
        f"  synthetic data: list {phases['database_list']['s']:.1f} s, partition {phases['partition_fit']['s']:.1f} s, "
        f"models {phases['models']['s']:.1f} s, descriptors {phases['descriptors']['s']:.1f} s",
        f"  (a) store write: {phases['store_write']['s']:.1f} s, {gb(phases['store_write']['file_bytes'])}, "
        f"peak RSS {gb(phases['store_write']['memory'].get('VmHWM'))}",
    ]
    for storage, entry in result["storages"].items():
        b, loads = entry["build"], entry["load"]
        lines.append(
            f"  [{storage}] (b) bundle build {b['s']:.1f} s (target ≤ {t['bundle_build_s']:.0f} s: "
            f"{verdict(b['s'] <= t['bundle_build_s'])}), {gb(b['bundle_bytes'])}, peak RSS {gb(b['memory'].get('VmHWM'))}"
        )
        for name, res in loads.items():
            text = f"    (c) {name:12s} load {res['load_s']:.2f} s"
            if "model_imports_s" in res:
                text += f" + {res['model_imports_s']:.2f} s model imports"
            if name.endswith("mmap"):
                text += f" (target ≤ {t['mmap_load_s']:.0f} s: {verdict(res['load_s'] <= t['mmap_load_s'])})"
            text += f", {rss_text(res, 'load')}"
            lines.append(text)
            if "batch1" in res:
                b1 = res["batch1"]
                text = (
                    f"        (d) float32 file {res['float32_cached_before_search']:.0%} in the page cache; "
                    f"batch 1 p50 {b1['p50_ms']:.3f} / mean {b1['mean_ms']:.3f} / p95 {b1['p95_ms']:.3f} ms, "
                    f"batched {res['batched']['queries_per_s']:,.0f} q/s; "
                )
                if "batch1_repeat" in res:
                    r = res["batch1_repeat"]
                    text += f"again {r['p50_ms']:.3f} / {r['mean_ms']:.3f} / {r['p95_ms']:.3f} ms; "
                text += f"after search {rss_text(res, 'search')}"
                if storage == "float16" and name == "index_eager":
                    ok = res["rss_increase_after_search"] <= t["float16_resident_gb"] * GB
                    text += f" (target ≤ {t['float16_resident_gb']:.0f} GB: {verdict(ok)})"
                lines.append(text)
            if "vs_float32_eager" in res:
                e = res["vs_float32_eager"]
                lines.append(
                    f"        (e) vs float32 eager: identical top-{data['k']} {e['identical_topk']:.1%}, "
                    f"top-1 {e['top1_agreement']:.1%}, max score diff {e['max_abs_score_diff']:.2g}"
                )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=SFXL_ROWS)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--side", type=float, default=0.0, help="city side in metres; 0 = 12 km × sqrt(rows / 2.8M)")
    ap.add_argument("--queries", type=int, default=1024, help="queries searched batched (and compared)")
    ap.add_argument("--latency-queries", type=int, default=300, help="of those, timed one at a time")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--topn", type=int, default=100)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--noise", type=float, default=0.7, help="query perturbation norm (relative to 1)")
    ap.add_argument("--storages", default="float32,float16")
    ap.add_argument("--threads", type=int, default=2, help="faiss OpenMP and torch threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="where the temporary GBs go")
    ap.add_argument(
        "--evict-page-cache",
        action="store_true",
        help="drop the bundle's files from the page cache before each load (default: warm, as just written)",
    )
    ap.add_argument("--quick", action="store_true", help="100k rows, 200 queries: a smoke test, not a measurement")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        atomic_write_json(Path(spec["result"]), child(spec))
        return
    if args.quick:
        args.rows, args.queries, args.latency_queries, args.warmup = 100_000, 200, 100, 5
    args.storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    unknown = set(args.storages) - set(STORAGES)
    if unknown:
        raise SystemExit(f"--storages: unknown {sorted(unknown)}; choose among {', '.join(STORAGES)}")
    args.tmp.mkdir(parents=True, exist_ok=True)
    need = check_disk(args.tmp, args.rows, args.dim)
    ram = available_memory()
    anon_peak = args.rows * (args.dim * 4 * 1.5 + 320) + 1.0 * GB  # float32 + float16 copies, names, runtime
    if ram is not None and ram < anon_peak:
        print(
            f"bench_scale: warning: {ram / GB:.1f} GB of RAM available; a bundle build holds about "
            f"{anon_peak / GB:.1f} GB",
            flush=True,
        )
    result: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"},
        "quick": bool(args.quick),
        "date": time.strftime("%Y-%m-%d"),
        "targets": TARGETS,
        "page_cache": "evicted before each load" if args.evict_page_cache else "warm (files just written, then synced)",
        "disk_needed_bytes": need,
        "load_average_before": load_average(),
    }
    work = Path(tempfile.mkdtemp(prefix="vprkit_bench_scale_", dir=args.tmp))
    t0 = time.perf_counter()
    try:
        bench(args, work, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    result["load_average_after"] = load_average()
    result["machine"] = machine_block(threads=args.threads, ram_available_at_start_bytes=ram)
    atomic_write_json(args.out, result)
    print("\n".join(summary(result)))
    print(f"total {result['total_s']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
