"""Time formatting and parsing of standard '@' file names at SF-XL scale.

Usage: ``python3 benchmarks/bench_filenames.py [--n 3000000]``; writes
``benchmarks/results/filenames.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from machine import machine_block

from vprkit.data.filenames import format_filenames, parse_filenames
from vprkit.fileio import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "filenames.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.n
    east = rng.uniform(540_000, 560_000, n)
    north = rng.uniform(4_170_000, 4_190_000, n)
    lat = rng.uniform(37.6, 37.8, n)
    lon = rng.uniform(-122.5, -122.3, n)
    heading = rng.choice(np.arange(0, 360, 30.0), n)

    t0 = time.perf_counter()
    names = format_filenames(
        east,
        north,
        10,
        "S",
        lat,
        lon,
        pano_id="panoXYZ0123456789ab",
        tile_num=0,
        heading=heading,
        timestamp="2017-01",
        note="db",
    )
    t_format = time.perf_counter() - t0
    paths = [f"images/test/database/{s}" for s in names.tolist()]
    del names

    t0, c0 = time.perf_counter(), time.process_time()
    parsed = parse_filenames(paths)
    t_parse = time.perf_counter() - t0
    cpu_parse = time.process_time() - c0
    assert parsed.ok.all()
    assert np.abs(parsed["east"] - east).max() <= 0.005 + 1e-9

    result = {
        "n_names": n,
        "format_seconds": round(t_format, 3),
        "parse_seconds": round(t_parse, 3),
        "parse_cpu_seconds": round(cpu_parse, 3),  # less sensitive than wall time to a busy machine
        "parse_names_per_second": round(n / t_parse),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": machine_block(),
    }
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
