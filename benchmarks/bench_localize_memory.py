"""Peak memory and time of `vprkit localize` on many large photos, by batch size.

Writes N random 512×512 JPEGs, builds the default synthcity bundle (shipped D&C + CosPlace), then
runs ``vprkit localize IMAGES --bundle B --json`` in a fresh process per batch size and records its
peak resident memory (``ru_maxrss`` of the child) and wall time. ``--batch-size N`` (all images in
one batch) is what `localize` did before it streamed. Writes
``benchmarks/results/localize_memory.json``.

Usage: ``python3 benchmarks/bench_localize_memory.py [--n 2000] [--batch-sizes 32,2000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_block
from PIL import Image

from vprkit.fileio import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch-sizes", default="32,2000")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "localize_memory.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_localize_"))
    rng = np.random.default_rng(0)
    images = []
    for i in range(args.n):
        path = work / "photos" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)).save(path, quality=90)
        images.append(str(path))
    bundle = work / "bundle"
    subprocess.run(
        [sys.executable, "-m", "vprkit", "index", "build", "--out", str(bundle), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(p.returncode, time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        cmd = [
            sys.executable,
            "-c",
            script,
            sys.executable,
            "-m",
            "vprkit",
            "localize",
            *images,
            "--bundle",
            str(bundle),
            "--batch-size",
            str(batch),
            "--json",
        ]
        rc, seconds, rss_kib = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        runs.append(
            {
                "batch_size": batch,
                "returncode": int(rc),
                "seconds": round(float(seconds), 1),
                "peak_rss_mib": round(int(rss_kib) / 1024),
                "images_per_s": round(args.n / float(seconds), 1),
            }
        )
        print(runs[-1], flush=True)
    result = {
        "images": args.n,
        "image_size": args.size,
        "bundle": "synthcity small, shipped dnc + cosplace (tinycnn)",
        "runs": runs,
        "machine": machine_block(),
        "date": time.strftime("%Y-%m-%d"),
    }
    atomic_write_json(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
