"""Descriptor-extraction throughput of real backbones per device and precision (issue 16).

    python benchmarks/bench_extraction.py                 # the full run, writes results/extraction.json
    python benchmarks/bench_extraction.py --quick --out /tmp/extraction_quick.json   # smoke run, seconds

Three measurements, every one set up through :class:`vprkit.runtime.Runtime` (``prepare`` moves the
network and makes its weights NHWC, ``encoder`` runs it under autocast on NHWC input and returns
float32), i.e. the code path of ``vprkit index build`` and of every query:

- **forward**: the network alone on decoded batches (random images, ImageNet-normalised, already on
  the device), batch ``--batch``, for the shipped models' tinycnn (the cosplace retriever's network,
  64×64) and untrained CosPlace retrievers on timm's resnet18, efficientnet_b0 and resnet50
  (``pretrained=False``: the same cost as ImageNet weights; GeM + FC 512) at 224×224 and 512×512.
  Variants: CPU float32 NCHW (the reference), float32 channels_last with batch norms folded
  (``Runtime.fold_batch_norm``), bfloat16 autocast channels_last folded (when the CPU has native
  bfloat16, :func:`vprkit.runtime.cpu_supports_bf16`); CUDA (when present) float32, float16 and
  bfloat16 autocast, all channels_last. After ``--warmup`` batches, batches are timed until both
  ``--min-seconds`` and ``--min-batches`` are reached; images/s is the batch over the median batch
  time (the median resists the other tenants of a shared machine).
- **agreement**: the cosine similarity of every variant's descriptors with those of CPU float32
  NCHW for the same images (min and mean over the batch); issue 16 asks for >= 0.999.
- **end to end**: ``--images`` random-content 640×480 JPEG files written to a temporary folder, read
  through a torch DataLoader (0 and 1 workers) that decodes (PIL open + convert RGB) and transforms
  them (vprkit's test transform, :func:`vprkit.models.transforms.build_test_transform`, square 224:
  Resize + ToTensor + Normalize), then resnet18 at 224 in the fastest CPU variant that agrees with
  float32. Each phase is timed separately (ms per image): decode and transform inside the loader (in
  the worker when there is one), the forward pass, and the time the main process waited for the
  loader; images/s is over the whole pass. The files are in the page cache (just written).

The threads are resolved once, before anything is measured (``--threads``; default
:func:`vprkit.runtime.default_threads` at the start), and every row records
:meth:`Runtime.describe` (device, precision, threads, load average when it was measured). Writes
``benchmarks/results/extraction.json`` atomically (``--quick`` without ``--out``: a file in the
temporary folder, never the results); ``python benchmarks/publish.py`` renders it into
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import machine_block
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from vprkit.fileio import atomic_write_json
from vprkit.models.transform_config import IMAGENET_MEAN, IMAGENET_STD, TestTransform
from vprkit.models.transforms import build_test_transform
from vprkit.runtime import Runtime, cpu_supports_bf16, default_threads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COSINE_TARGET = 0.999
TINYCNN = "tinycnn"
TINYCNN_SIZE = 64
BACKBONES = (TINYCNN, "resnet18", "efficientnet_b0", "resnet50")
SIZES = (224, 512)
E2E_BACKBONE, E2E_SIZE = "resnet18", 224
JPEG_SIZE, JPEG_QUALITY = (640, 480), 90


def variant_label(device: str, precision: str, channels_last: bool) -> str:
    """``channels_last`` variants also run the batch-norm-folded copy (``Runtime.fold_batch_norm``)."""
    return f"{device} {precision}{' channels_last+fold' if channels_last else ''}"


def variants(cuda: bool) -> list[tuple[str, str, bool]]:
    """``(device, precision, channels_last)`` of every measured variant; the first is the reference."""
    out = [("cpu", "float32", False), ("cpu", "float32", True)]
    if cpu_supports_bf16():
        out.append(("cpu", "bfloat16", True))
    if cuda:
        out += [("cuda", "float32", True), ("cuda", "float16", True)]
        if torch.cuda.is_bf16_supported():
            out.append(("cuda", "bfloat16", True))
    return out


def build_network(backbone: str) -> Any:
    """A real vprkit retriever, the code path ``vprkit index build`` extracts with: tinycnn is the
    shipped synthcity cosplace checkpoint (128-D); the others are untrained CosPlace retrievers
    (``pretrained=False``: timm backbone → L2 → GeM → FC 512 → L2). On the CPU."""
    torch.manual_seed(0)
    if backbone == TINYCNN:
        from vprkit.pipeline.models import resolve_model

        return resolve_model("retriever", "cosplace")
    from vprkit import create_retriever

    return create_retriever("cosplace", backbone=backbone, fc_output_dim=512, pretrained=False)


def random_batch(batch: int, size: int) -> torch.Tensor:
    """``(batch, 3, size, size)`` uniform images, ImageNet-normalised (what the test transform gives)."""
    gen = torch.Generator().manual_seed(size)
    images = torch.rand(batch, 3, size, size, generator=gen)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def round_load(describe: dict[str, Any]) -> dict[str, Any]:
    load = describe.get("load_average_1m")
    return {**describe, "load_average_1m": None if load is None else round(load, 2)}


def time_batches(
    encode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    device: torch.device,
    warmup: int,
    min_seconds: float,
    min_batches: int,
) -> tuple[torch.Tensor, list[float]]:
    """The output of the first call, and the seconds of each timed call (after ``warmup`` calls)."""
    out = encode(images).cpu()
    for _ in range(warmup - 1):
        encode(images)
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_batches or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        encode(images)
        sync(device)
        times.append(time.perf_counter() - t0)
    return out, times


def measure_forward(
    base: Any, backbone: str, size: int, args: argparse.Namespace, threads: int, cuda: bool
) -> list[dict[str, Any]]:
    """Every variant of one (backbone, image size); the first row is the float32 NCHW reference."""
    images_cpu = random_batch(args.batch, size)
    rows: list[dict[str, Any]] = []
    reference: torch.Tensor | None = None
    for device, precision, channels_last in variants(cuda):
        runtime = Runtime.resolve(
            device, precision, threads=threads, channels_last=channels_last, fold_batch_norm=channels_last
        )
        held = runtime.prepare(copy.deepcopy(base))
        images = images_cpu.to(runtime.device)  # decoded batches already on the device
        warmup = args.warmup if runtime.device.type == "cpu" else max(args.warmup, 3)
        with runtime.active():
            describe = round_load(runtime.describe())
            out, times = time_batches(
                runtime.encoder(held.encode, normalized=True),
                images,
                runtime.device,
                warmup,
                args.min_seconds,
                args.min_batches,
            )
        del held, images
        if runtime.device.type == "cuda":
            torch.cuda.empty_cache()
        if reference is None:
            reference = out
        cosine = F.cosine_similarity(out.double(), reference.double(), dim=1)
        median = statistics.median(times)
        row = {
            "backbone": backbone,
            "image_size": size,
            "batch": args.batch,
            "label": variant_label(device, precision, channels_last),
            "device": device,
            "precision": precision,
            "channels_last": channels_last,
            "threads": runtime.threads,
            "runtime": describe,
            "descriptor_dim": int(out.shape[1]),
            "warmup_batches": warmup,
            "timed_batches": len(times),
            "timed_s": round(sum(times), 3),
            "median_batch_s": round(median, 5),
            "min_batch_s": round(min(times), 5),
            "max_batch_s": round(max(times), 5),
            "images_per_s": round(args.batch / median, 1),
            "cosine_vs_float32": {"min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6)},
            "agrees": bool(float(cosine.min()) >= COSINE_TARGET),
        }
        rows.append(row)
        cos = row["cosine_vs_float32"]
        print(
            f"{backbone:>16} {size:>4} {row['label']:<28} {row['images_per_s']:>9,.1f} img/s  "
            f"median {median * 1e3:>9.1f} ms/batch ({len(times)} batches)  "
            f"cosine min {cos['min']:.6f} mean {cos['mean']:.6f}  load {describe['load_average_1m']}",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------------- end to end
def write_jpegs(folder: Path, count: int) -> tuple[list[Path], int]:
    """``count`` 640×480 JPEG files of smooth random content with grain (photo-like sizes; pure
    noise would decode slower than any photograph). Returns the paths and their total bytes."""
    rng = np.random.default_rng(0)
    width, height = JPEG_SIZE
    paths = []
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize(JPEG_SIZE, Image.Resampling.BICUBIC), dtype=np.float32)
        grain = rng.normal(0.0, 6.0, smooth.shape).astype(np.float32)
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8)).save(path, quality=JPEG_QUALITY)
        paths.append(path)
    return paths, sum(p.stat().st_size for p in paths)


class JpegFiles(Dataset):
    """Decoded and transformed images, with the seconds each phase took: ``(image, [decode, transform])``."""

    def __init__(self, paths: list[Path], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        t0 = time.perf_counter()
        with Image.open(self.paths[index]) as file:
            image = file.convert("RGB")
        t1 = time.perf_counter()
        tensor = self.transform(image)
        t2 = time.perf_counter()
        return tensor, torch.tensor([t1 - t0, t2 - t1], dtype=torch.float64)


def measure_end_to_end(
    base: Any, paths: list[Path], precision: str, channels_last: bool, workers: int, threads: int, batch: int
) -> dict[str, Any]:
    """One pass over the JPEG files through a DataLoader with ``workers`` workers and the network."""
    runtime = Runtime.resolve(
        "cpu", precision, threads=threads, workers=workers, channels_last=channels_last, fold_batch_norm=channels_last
    )
    held = runtime.prepare(copy.deepcopy(base))
    encode = runtime.encoder(held.encode, normalized=True)
    transform = build_test_transform(TestTransform(resize="square", size=E2E_SIZE))
    loader = DataLoader(JpegFiles(paths, transform), batch_size=batch, num_workers=workers, shuffle=False)
    with runtime.active():
        describe = round_load(runtime.describe())
        encode(torch.zeros(batch, 3, E2E_SIZE, E2E_SIZE))  # warm the network, not the loader
        decode = transform_s = wait = forward = 0.0
        first_batch_s = None
        start = tick = time.perf_counter()
        for images, phases in loader:
            got = time.perf_counter()
            wait += got - tick
            first_batch_s = got - start if first_batch_s is None else first_batch_s
            encode(images)
            tick = time.perf_counter()
            forward += tick - got
            decode += float(phases[:, 0].sum())
            transform_s += float(phases[:, 1].sum())
        wall = tick - start
    n = len(paths)
    row = {
        "workers": workers,
        "threads": runtime.threads,
        "precision": precision,
        "channels_last": channels_last,
        "runtime": describe,
        "images": n,
        "batch": batch,
        "wall_s": round(wall, 3),
        "first_batch_s": round(first_batch_s or 0.0, 3),
        "ms_per_image": {
            "decode": round(decode / n * 1e3, 3),
            "transform": round(transform_s / n * 1e3, 3),
            "forward": round(forward / n * 1e3, 3),
            "waiting_for_loader": round(wait / n * 1e3, 3),
            "total": round(wall / n * 1e3, 3),
        },
        "images_per_s": round(n / wall, 1),
    }
    ms = row["ms_per_image"]
    print(
        f"  {workers} worker(s), {runtime.threads} thread(s): decode {ms['decode']:.2f}  transform "
        f"{ms['transform']:.2f}  forward {ms['forward']:.2f}  waiting {ms['waiting_for_loader']:.2f}  "
        f"total {ms['total']:.2f} ms/image  ->  {row['images_per_s']:,.1f} images/s",
        flush=True,
    )
    return row


def e2e_variant(forward: list[dict[str, Any]]) -> tuple[str, bool, str]:
    """The fastest CPU variant of resnet18 at 224 that agrees with float32, else vprkit's ``auto``."""
    rows = [
        r
        for r in forward
        if r["backbone"] == E2E_BACKBONE and r["image_size"] == E2E_SIZE and r["device"] == "cpu" and r["agrees"]
    ]
    if rows:
        best = max(rows, key=lambda r: r["images_per_s"])
        return best["precision"], best["channels_last"], f"fastest CPU variant of the forward runs ({best['label']})"
    auto = Runtime.resolve("cpu", "auto", threads=1)
    return auto.precision, True, "vprkit's auto precision (resnet18 at 224 not measured)"


# ------------------------------------------------------------------------------------ report
def print_tables(result: dict[str, Any]) -> None:
    forward = result["forward"]
    labels = list(dict.fromkeys(r["label"] for r in forward))
    print(f"\nforward pass, images/s (batch {result['batch']}; cosine vs cpu float32: min)")
    head = f"{'backbone':<16} {'image':>5} " + " ".join(f"{lab:>30}" for lab in labels)
    print(head + "\n" + "-" * len(head))
    for key in dict.fromkeys((r["backbone"], r["image_size"]) for r in forward):
        cells = {r["label"]: r for r in forward if (r["backbone"], r["image_size"]) == key}
        text = []
        for lab in labels:
            r = cells.get(lab)
            text.append(
                f"{'–':>30}"
                if r is None
                else f"{r['images_per_s']:>12,.1f} (cos {r['cosine_vs_float32']['min']:.5f})"
                + (" " if r["agrees"] else "!")
            )
        print(f"{key[0]:<16} {key[1]:>5} " + " ".join(f"{t:>30}" for t in text))
    e2e = result.get("end_to_end")
    if e2e:
        print(
            f"\nend to end from {e2e['images']} JPEG files ({e2e['jpeg']['width']}×{e2e['jpeg']['height']}, "
            f"{e2e['jpeg']['mean_kib']:.0f} KiB), {e2e['backbone']} at {e2e['image_size']}, {e2e['precision']}"
            f"{' channels_last' if e2e['channels_last'] else ''}: ms per image"
        )
        head = f"{'workers':>7} {'threads':>7} {'decode':>8} {'transform':>10} {'forward':>8} {'waiting':>8} {'total':>8} {'images/s':>9}"
        print(head + "\n" + "-" * len(head))
        for r in e2e["runs"]:
            ms = r["ms_per_image"]
            print(
                f"{r['workers']:>7} {r['threads']:>7} {ms['decode']:>8.2f} {ms['transform']:>10.2f} "
                f"{ms['forward']:>8.2f} {ms['waiting_for_loader']:>8.2f} {ms['total']:>8.2f} {r['images_per_s']:>9,.1f}"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of seconds: batch 2, 224 only, 16 images")
    parser.add_argument("--backbones", nargs="+", default=None, help=f"default: {' '.join(BACKBONES)}")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="timm backbones' input sizes (224 512)")
    parser.add_argument("--batch", type=int, default=None, help="images per batch (32; --quick 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: vprkit's default)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed batches first (1; CUDA at least 3)")
    parser.add_argument("--min-seconds", type=float, default=None, help="time each variant at least this (5)")
    parser.add_argument("--min-batches", type=int, default=None, help="and at least this many batches (3)")
    parser.add_argument("--images", type=int, default=None, help="JPEG files end to end (256; --quick 16)")
    parser.add_argument("--no-cuda", action="store_true", help="CPU only even when CUDA is present")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the JPEG end-to-end runs")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (results/extraction.json)")
    args = parser.parse_args()
    quick = args.quick
    defaults: dict[str, Any] = {
        "backbones": list(BACKBONES),
        "sizes": [224] if quick else list(SIZES),
        "batch": 2 if quick else 32,
        "warmup": 1,
        "min_seconds": 0.0 if quick else 5.0,
        "min_batches": 2 if quick else 3,
        "images": 16 if quick else 256,
        # a smoke run never replaces the measured results
        "out": Path(tempfile.gettempdir()) / "extraction_quick.json" if quick else RESULTS / "extraction.json",
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    unknown = [b for b in args.backbones if b != TINYCNN and not _is_timm(b)]
    if unknown:
        parser.error(f"unknown backbone(s) {unknown}: tinycnn or timm model names")
    if min(args.batch, args.warmup, args.min_batches, args.images) < 1 or (
        args.threads is not None and args.threads < 1
    ):
        parser.error("--batch, --warmup, --min-batches, --images and --threads must be at least 1")
    return args


def _is_timm(name: str) -> bool:
    import timm

    return bool(timm.is_model(name))


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    cuda = torch.cuda.is_available() and not args.no_cuda
    # resolved once: the default would shrink as this very run raises the load average
    threads = args.threads if args.threads is not None else default_threads(0)
    print(
        f"threads {threads}, batch {args.batch}, cpu bfloat16 {'native' if cpu_supports_bf16() else 'not native'}, "
        f"cuda {torch.cuda.get_device_name(0) if cuda else 'no'}",
        flush=True,
    )
    forward: list[dict[str, Any]] = []
    for backbone in args.backbones:
        base = build_network(backbone)
        for size in [TINYCNN_SIZE] if backbone == TINYCNN else args.sizes:
            forward += measure_forward(base, backbone, size, args, threads, cuda)
    result: dict[str, Any] = {
        "quick": bool(args.quick),
        "batch": args.batch,
        "cosine_target": COSINE_TARGET,
        "timing": {
            "warmup_batches": args.warmup,
            "min_seconds": args.min_seconds,
            "min_batches": args.min_batches,
            "statistic": "batch / median batch time",
        },
        "cuda": (
            {
                "device_name": torch.cuda.get_device_name(0),
                "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            }
            if cuda
            else None
        ),
        "forward": forward,
    }
    if not args.no_end_to_end:
        precision, channels_last, why = e2e_variant(forward)
        base = build_network(E2E_BACKBONE)
        with tempfile.TemporaryDirectory(prefix="vprkit-bench-jpeg-") as tmp:
            paths, nbytes = write_jpegs(Path(tmp), args.images)
            print(
                f"end to end: {len(paths)} JPEG files, {nbytes / len(paths) / 1024:.0f} KiB each on average; "
                f"{E2E_BACKBONE} at {E2E_SIZE}, {precision}{' channels_last' if channels_last else ''} ({why})",
                flush=True,
            )
            runs = []
            for workers in (0, 1):
                # with a worker, one core fewer for torch (as vprkit's default does), at least 1
                run_threads = args.threads if args.threads is not None else max(1, threads - workers)
                runs.append(measure_end_to_end(base, paths, precision, channels_last, workers, run_threads, args.batch))
        result["end_to_end"] = {
            "backbone": E2E_BACKBONE,
            "image_size": E2E_SIZE,
            "images": len(paths),
            "jpeg": {
                "width": JPEG_SIZE[0],
                "height": JPEG_SIZE[1],
                "quality": JPEG_QUALITY,
                "mean_kib": round(nbytes / len(paths) / 1024, 1),
            },
            "transform": f"vprkit build_test_transform: {TestTransform(resize='square', size=E2E_SIZE).describe()}",
            "precision": precision,
            "channels_last": channels_last,
            "precision_choice": why,
            "runs": runs,
        }
    gpu = torch.cuda.get_device_name(0) if cuda else None
    result.update(
        machine=machine_block(threads=threads, gpu=gpu, cpu_bf16=cpu_supports_bf16()),
        seconds=round(time.perf_counter() - started, 1),
        date=time.strftime("%Y-%m-%d"),
        command=shlex.join(["python", "benchmarks/bench_extraction.py", *sys.argv[1:]]),
    )
    atomic_write_json(args.out, result)
    print_tables(result)
    print(f"\nwrote {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
