"""Partitioner speed at city scale: fit and assign() on millions of points.

A synthetic street grid (SF-like extent, UTM zone 10S) stands in for SF-XL's training set:
streets every ``block`` metres, images spread along them with headings. Writes
``benchmarks/results/partition.json``; ``--pictures DIR`` also draws the docs' maps on a small
city.

    python3 benchmarks/bench_partition.py                 # 3M points (defaults)
    python3 benchmarks/bench_partition.py --points 300000 --cplanet-points 300000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from machine import machine_block

from vprkit import create_partitioner

RESULTS = Path(__file__).resolve().parent / "results" / "partition.json"
ZONE = "10S"


def street_city(n: int, extent: float = 7000.0, block: float = 100.0, seed: int = 0, crops: int = 1):
    """``n`` images along a grid of streets: UTM east/north (m) and headings (degrees).

    With ``crops=12`` images come as panoramas cut into 12 crops 30° apart (as SF-XL's), so one
    position carries several headings.
    """
    rng = np.random.default_rng(seed)
    if crops > 1:
        east, north, heading = street_city(n // crops, extent, block, seed)
        offsets = np.arange(crops) * (360.0 / crops)
        return (
            np.repeat(east, crops),
            np.repeat(north, crops),
            np.mod(np.repeat(heading, crops) + np.tile(offsets, len(heading)), 360.0),
        )
    along = rng.uniform(0, extent, n)
    street = rng.integers(0, int(extent / block) + 1, n) * block + rng.normal(0, 3, n)
    vertical = rng.random(n) < 0.5
    east = 545000 + np.where(vertical, street, along)
    north = 4175000 + np.where(vertical, along, street)
    heading = rng.uniform(0, 360, n)
    return east, north, heading


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bench(points: int, cplanet_points: int) -> dict:
    city = street_city(points)
    # CosPlace needs SF-XL-like density per (10 m cell, 30° bin): panoramas of 12 crops on a 2 km grid.
    dense = street_city(points, extent=2000.0, crops=12)
    runs = {}
    cases = [
        ("dnc", {}, True, city),
        ("cosplace", {}, True, dense),
        ("s2", {"utm_zone": ZONE}, True, city),
        ("hge", {"utm_zone": ZONE}, False, city),
    ]
    for name, cfg, do_assign, (east, north, heading) in cases:
        part, fit_s = timed(lambda: create_partitioner(name, **cfg).fit(east, north, heading))
        row = {
            "points": points,
            "fit_s": round(fit_s, 3),
            "classes": part.num_classes,
            "groups": part.num_groups,
            "dropped": part.dropped,
            "data": "2 km grid, 12 crops per panorama" if name == "cosplace" else "7 km grid",
        }
        if part.children:
            row["children_classes"] = {k: c.num_classes for k, c in part.children.items()}
        if do_assign:
            (labels, _), assign_s = timed(lambda: part.assign(east, north, heading))
            row["assign_s"] = round(assign_s, 3)
            row["assign_matches_train_labels"] = bool((labels == part.train_labels).all())
        runs[name] = row
        print(name, row, flush=True)

    e, n, _ = street_city(cplanet_points, extent=7000.0 * np.sqrt(cplanet_points / points), seed=1)
    feats = (
        np.random.default_rng(2).normal(size=(cplanet_points, 64)).astype(np.float32) + (e[:, None] // 200 % 7) * 0.2
    )
    for label, features in (("cplanet_geo_only", None), ("cplanet_features64", feats)):
        part, fit_s = timed(lambda: create_partitioner("cplanet", utm_zone=ZONE).fit(e, n, features=features))
        (labels, _), assign_s = timed(lambda: part.assign(e, n))
        runs[label] = {
            "points": cplanet_points,
            "fit_s": round(fit_s, 3),
            "assign_s": round(assign_s, 3),
            "regions": part.num_classes,
            **{k: v for k, v in part.info.items() if k != "visual"},
        }
        print(label, runs[label], flush=True)
    return runs


def pictures(folder: Path) -> None:
    """The maps of the docs pages, on a small dense street grid (600 m × 600 m)."""
    from vprkit.geometry.partition_map import plot_partition

    folder.mkdir(parents=True, exist_ok=True)
    east, north, heading = street_city(200000, extent=600.0, block=100.0, seed=3)
    configs = {
        "dnc": {},
        "cosplace": {"groups_num": None},
        "s2": {"utm_zone": ZONE, "tau_min": 50, "tau_max": 1000},
        "hge": {"utm_zone": ZONE, "tau_min": 50, "tau_max_coarse": 4000, "tau_max_medium": 2000, "tau_max_fine": 1000},
        "cplanet": {"utm_zone": ZONE},
    }
    for name, cfg in configs.items():
        part = create_partitioner(name, **cfg).fit(east, north, heading)
        plot_partition(part, east, north, folder / f"{name}.png")
        if name == "cplanet":
            plot_partition(
                part.children["set2"],
                east,
                north,
                folder / "cplanet_set2.png",
                title=f"cplanet geoclass set 2 (geo-only edges): {part.children['set2'].num_classes} geoclasses",
            )
        if name == "hge":
            plot_partition(
                part.children["coarse"],
                east,
                north,
                folder / "hge_coarse.png",
                title=f"hge coarse level: {part.children['coarse'].num_classes} cells",
            )
        print("drew", name, part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=3_000_000)
    parser.add_argument("--cplanet-points", type=int, default=300_000)
    parser.add_argument("--pictures", type=Path, default=None, help="also draw the docs' maps into this folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.pictures:
        pictures(args.pictures)
        return
    runs = bench(args.points, args.cplanet_points)
    result = {
        "benchmark": "partition",
        "machine": machine_block(threads=os.environ.get("OMP_NUM_THREADS", "unset")),
        "data": "synthetic street grid, 7 km x 7 km (cosplace: 2 km, panoramas of 12 crops), streets every 100 m, UTM 10S",
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
