"""Time importing a D&C release at SF-XL scale: rebuilding the official class order from the
training file list (sort, parse, official cells, first appearance, one set per group), the vprkit
partition of the same images, and placing every head row.

Synthetic names in SF-XL's geometry (UTM 10S, a ~9 × 10 km box of 20 m cells, 12 crops per
panorama position, density varying over the city); random EfficientNet-B0-sized heads. Writes
``benchmarks/results/release_import.json``.

Usage: ``python3 benchmarks/bench_release_import.py [--n 41000000]``
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_block

from vprkit.data.filenames import format_filenames
from vprkit.fileio import atomic_write_json


def synthetic_names(n: int, seed: int = 0) -> list[str]:
    """``n`` training paths, 12 headings per position, positions denser downtown, in 10 folders."""
    rng = np.random.default_rng(seed)
    positions = n // 12 + 1
    radius = 5_000 * np.sqrt(rng.uniform(0, 1, positions)) ** 1.3
    angle = rng.uniform(0, 2 * np.pi, positions)
    east = np.repeat(550_000 + radius * np.cos(angle), 12)[:n]
    north = np.repeat(4_180_000 + radius * np.sin(angle), 12)[:n]
    heading = np.tile(np.arange(0, 360, 30.0), positions)[:n]
    names: list[str] = []
    for start in range(0, n, 2_000_000):
        block = format_filenames(
            east[start : start + 2_000_000],
            north[start : start + 2_000_000],
            10,
            "S",
            None,
            None,
            pano_id="panoXYZ0123456789ab",
            heading=heading[start : start + 2_000_000],
        ).tolist()
        names += [f"{(start + i) % 10:02d}/{s}" for i, s in enumerate(block)]
    rng.shuffle(names)
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=41_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "release_import.json")
    args = ap.parse_args()
    from vprkit_dnc.classifier import DncClassifier
    from vprkit_dnc.classifier_config import DncClassifierConfig
    from vprkit_dnc.release import _copy_rows, _vprkit_rows, official_class_table, train_coordinates

    from vprkit.registry import create_partitioner

    t0 = time.perf_counter()
    names = synthetic_names(args.n)
    t_make = time.perf_counter() - t0
    timings = {}
    t0 = time.perf_counter()
    east, north = train_coordinates(names)
    timings["sort_and_parse_s"] = time.perf_counter() - t0
    del names
    t0 = time.perf_counter()
    table = official_class_table(east, north, 20, 2, 10)
    timings["official_class_table_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    partition = create_partitioner("dnc").fit(east, north)
    timings["vprkit_partition_s"] = time.perf_counter() - t0
    heads = [{"weight": torch.randn(len(g), 1280)} for g in table]
    model = DncClassifier(DncClassifierConfig(backbone="tinycnn", descriptor_dim=1280))
    model.build(partition)
    corners = np.asarray([c for g in table for c in g], dtype=np.float64)
    t0 = time.perf_counter()
    placement = _vprkit_rows(model, corners, table)
    _copy_rows(heads, placement, model.heads, lambda head: dict(head.named_parameters()))
    timings["place_head_rows_s"] = time.perf_counter() - t0
    result = {
        "n_names": args.n,
        "classes": int(partition.num_classes),
        "group_sizes": [len(g) for g in table],
        "make_names_s": round(t_make, 1),
        **{k: round(v, 2) for k, v in timings.items()},
        "total_s": round(sum(timings.values()), 1),
        "max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "machine": machine_block(),
    }
    atomic_write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
