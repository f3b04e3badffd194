"""Cost of partial mining's bookkeeping (docs/methods/netvlad.md) at city scale, descriptors excluded.

    python benchmarks/bench_partial_mining.py [--images 1000000] [--dim 4096] [--threads 2]

A street grid of ``--images`` training images (one every 2.5 m along streets 50 m apart, 4 headings
per place, as synthcity renders them) in UTM metres. Times (1) the positives of every training image
within 10 m, once per run (``training_positives``), and (2) one cache refresh of 1,000 queries with a
pool of 1,000 random database images and 10 negatives each (``PartialMiner.mine``), with random unit
descriptors standing in for the network so that only vprkit's own work is timed (the forward passes
— chunk + positives + pool images — are the network's cost and scale the same way). Writes
benchmarks/results/partial_mining.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from machine import machine_block

ROOT = Path(__file__).resolve().parents[1]


def street_grid(n_images: int, spacing: float = 2.5, block: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 2)`` UTM and ``(n,)`` headings: places along east-west streets, 4 headings each."""
    places = n_images // 4
    per_street = int(np.ceil(np.sqrt(places * block / spacing)))
    idx = np.arange(places)
    east = 500_000.0 + (idx % per_street) * spacing
    north = 4_000_000.0 + (idx // per_street) * block
    utm = np.repeat(np.stack([east, north], 1), 4, axis=0)
    heading = np.tile([0.0, 90.0, 180.0, 270.0], places)
    return utm, heading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    from vprkit_netvlad.mining import PartialMiner, training_positives

    utm, heading = street_grid(args.images)
    t0, c0 = time.perf_counter(), time.process_time()
    positives = training_positives(utm, 10.0, heading, 45.0)
    t_pos, c_pos = time.perf_counter() - t0, time.process_time() - c0
    miner = PartialMiner(utm, positives, 25.0, 1000, 10)
    rng = np.random.default_rng(0)
    queries = rng.choice(miner.query_rows, 1000, replace=False)
    described = []
    bank = np.random.default_rng(1).standard_normal((4096, args.dim), dtype=np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)

    def describe(rows: np.ndarray) -> np.ndarray:  # a lookup: the network's forward passes are not timed
        described.append(len(rows))
        return bank[rows % len(bank)]

    t0 = time.perf_counter()
    triplets = miner.mine(queries, describe, rng)
    t_mine = time.perf_counter() - t0
    result = {
        "images": len(utm),
        "dim": args.dim,
        "threads": args.threads,
        "positives_pairs": len(positives.indices),
        "positives_mean_per_image": float(positives.counts.mean()),
        "positives_s": round(t_pos, 3),
        "positives_cpu_s": round(c_pos, 3),
        "positives_MiB": round((positives.indices.nbytes + positives.distances.nbytes) / 2**20, 1),
        "refresh_queries": 1000,
        "refresh_images_described": described[0],
        "refresh_triplets": len(triplets),
        "refresh_s_excluding_descriptors": round(t_mine, 3),
        "machine": machine_block(),
    }
    out = ROOT / "benchmarks" / "results" / "partial_mining.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
