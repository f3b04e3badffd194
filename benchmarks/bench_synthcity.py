"""Time synthcity: generating ``small`` on disk, streaming ``city`` views, and the raw-thumbnail baseline.

Usage::

    python3 benchmarks/bench_synthcity.py [--out-dir /tmp/synthcity-small] [--workers 2]
        [--stream-views 4096] [--skip-generate]

Writes ``benchmarks/results/synthcity.json``: wall and CPU seconds of ``small`` generation, views/s,
``city`` streaming throughput (render only, and render + PNG encode in memory), and LR@1 of raw
thumbnails (16 px colour and grey, 8 px colour) overall and per query condition. The load average
before and after is recorded: the numbers depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import time
from pathlib import Path

from machine import load_1min, machine_block
from vprkit_synthcity.baseline import thumbnail_baseline
from vprkit_synthcity.config import SynthCityConfig
from vprkit_synthcity.generate import SynthCity

from vprkit.fileio import atomic_write_json


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_generate(out_dir: Path, workers: int, seed: int) -> dict:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    city = SynthCity(SynthCityConfig(size="small", seed=seed, workers=workers))
    load0 = load_1min()
    c0, t0 = _cpu(), time.perf_counter()
    counts = city.generate(out_dir)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    n = sum(counts.values())
    size_mb = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file()) / 1e6
    return {
        "counts": counts,
        "views": n,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "views_per_s": round(n / wall, 1),
        "workers": workers,
        "disk_mb": round(size_mb, 1),
        "loadavg_before": load0,
        "loadavg_after": load_1min(),
        "street_km": city.summary()["street_km"],
        "area_km2": city.summary()["area_km2"],
    }


def bench_stream(n_views: int, seed: int) -> dict:
    from PIL import Image

    t0 = time.perf_counter()
    city = SynthCity(SynthCityConfig(size="city", seed=seed))
    total = sum(city.counts().values())
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = 0
    encode = 0.0
    for batch in city.iter_views("train", chunk_views=512, stop=n_views):
        done += len(batch.rows)
        t1 = time.perf_counter()
        for img in batch.images:
            Image.fromarray(img).save(io.BytesIO(), format="PNG", compress_level=1)
        encode += time.perf_counter() - t1
    wall = time.perf_counter() - t0
    return {
        "city_views": total,
        "city_train_views": city.counts()["train"],
        "setup_s": round(setup, 2),
        "views": done,
        "render_views_per_s": round(done / (wall - encode), 1),
        "render_and_encode_views_per_s": round(done / wall, 1),
        "one_process": True,
        "area_km2": city.summary()["area_km2"],
        "street_km": city.summary()["street_km"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/synthcity-small-bench"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stream-views", type=int, default=4096)
    ap.add_argument("--skip-generate", action="store_true", help="reuse --out-dir as generated before")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthcity.json")
    args = ap.parse_args()
    result: dict = {}
    if not args.skip_generate:
        result["generate_small"] = bench_generate(args.out_dir, args.workers, args.seed)
        print("generate small:", result["generate_small"])
    result["stream_city"] = bench_stream(args.stream_views, args.seed)
    print("stream city:", result["stream_city"])
    baselines = {}
    for size, grey in ((16, False), (16, True), (8, False)):
        r = thumbnail_baseline(args.out_dir, size=size, grey=grey)
        key = f"{size}px_{'grey' if grey else 'colour'}"
        baselines[key] = {
            "lr1": round(r["lr1"], 4),
            "n_queries": r["n_queries"],
            "by_condition": {c: round(v[0], 4) for c, v in r["by_condition"].items()},
        }
        print("thumbnails", key, baselines[key])
    result["thumbnail_baseline_small"] = baselines
    result["machine"] = machine_block()
    atomic_write_json(args.out, result)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
