"""Training and descriptor-extraction throughput (images/s) on CPU, and on CUDA when present.

Training: ``--iterations`` steps of the D&C recipe (tinycnn, 64×64, RandomResizedCrop, AAMC) on a
real dataset (synthcity small) for each combination of torch threads and DataLoader workers.
Extraction: the descriptor network's forward pass in inference mode (what ``vprkit index build``
and every query pay), batch ``--batch``, for the shipped models' tinycnn at 64×64 and the papers'
backbones (ResNet-18 + GeM, EfficientNet-B0 + average pooling; ``pretrained=False``: same cost) at
224×224 and at SF-XL's 512×512. Decoding images is not included. Writes
``benchmarks/results/training_throughput.json``.

    python3 benchmarks/bench_training_throughput.py /work/runs/synthcity_small --iterations 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from machine import machine_block
from torch import nn

from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.heads import ArcFaceHead
from vprkit.registry import create_partitioner
from vprkit.training.augment import train_transform
from vprkit.training.config import TrainingConfig
from vprkit.training.data import ImageDataset
from vprkit.training.engine import GroupTrainer
from vprkit.training.recipe import load_train_split, partition_groups


def measure(images, groups, run: dict) -> dict:
    """One epoch of D&C training; ``run``: backbone, image_size, batch, iterations, threads, workers,
    device, amp. Returns ``run`` with the images/s of the epoch and of the wall clock."""
    torch.manual_seed(0)
    net = build_descriptor_net(run["backbone"], "avg_whiten")
    heads = nn.ModuleList([ArcFaceHead(net.dim, g.n_classes) for g in groups])
    cfg = TrainingConfig(
        epochs=1,
        iterations_per_epoch=run["iterations"],
        batch_size=run["batch"],
        image_size=run["image_size"],
        augmentation="dnc",
        num_workers=run["workers"],
        num_threads=run["threads"],
        device=run["device"],
        amp=run["amp"],
        validate_every=0,
    )
    dataset = ImageDataset(images, train_transform("dnc", run["image_size"]))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = GroupTrainer(net, heads, groups, dataset, cfg, tmp)
        t0 = time.perf_counter()
        state = trainer.fit()
        wall = time.perf_counter() - t0
    return {
        **run,
        "images_per_s_epoch": round(state["history"][0]["images_per_s"], 1),
        "images_per_s_wall": round(run["iterations"] * run["batch"] / wall, 1),
    }


EXTRACTION = [
    ("tinycnn", "avg_whiten", 64),
    ("resnet18", "gem_fc", 224),
    ("efficientnet_b0", "avg_whiten", 224),
    ("resnet18", "gem_fc", 512),
    ("efficientnet_b0", "avg_whiten", 512),
]


@torch.inference_mode()
def measure_extraction(
    backbone: str,
    aggregation: str,
    image_size: int,
    batch: int,
    threads: int,
    device: str,
    amp: bool = False,
    seconds: float = 5.0,
) -> dict:
    """Images/s of the descriptor forward pass over random images for about ``seconds``."""
    torch.set_num_threads(threads)
    net = build_descriptor_net(backbone, aggregation).to(device).eval()
    x = torch.rand(batch, 3, image_size, image_size, device=device)
    with torch.autocast(device_type=device, enabled=amp):
        net(x)  # warm-up (and cuDNN autotuning)
        if device == "cuda":
            torch.cuda.synchronize()
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            net(x)
            done += batch
        if device == "cuda":
            torch.cuda.synchronize()
    return {
        "backbone": backbone,
        "aggregation": aggregation,
        "image_size": image_size,
        "batch": batch,
        "threads": threads,
        "device": device,
        "amp": amp,
        "images_per_s": round(done / (time.perf_counter() - t0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training_throughput.json")
    args = parser.parse_args()
    images = load_train_split(args.dataset)
    partition = create_partitioner("dnc").fit(images.east, images.north)
    groups, _ = partition_groups(partition)
    settings = [
        ("tinycnn", 64, threads, workers, "cpu", False) for threads, workers in [(1, 0), (2, 0), (1, 1), (2, 1)]
    ]
    if torch.cuda.is_available():
        settings += [
            (backbone, size, 4, 8, "cuda", True)
            for backbone, size in [("tinycnn", 64), ("efficientnet_b0", 224), ("resnet18", 224)]
        ]
    runs = []
    for backbone, size, threads, workers, device, amp in settings:
        run = dict(
            backbone=backbone,
            image_size=size,
            batch=args.batch,
            iterations=args.iterations,
            threads=threads,
            workers=workers,
            device=device,
            amp=amp,
        )
        runs.append(measure(images, groups, run))
        print(runs[-1], flush=True)
    extraction = [measure_extraction(b, a, size, args.batch, threads=2, device="cpu") for b, a, size in EXTRACTION]
    if torch.cuda.is_available():
        extraction += [
            measure_extraction(b, a, size, 128, threads=4, device="cuda", amp=True) for b, a, size in EXTRACTION
        ]
    for row in extraction:
        print(row, flush=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    result = {
        "dataset": str(args.dataset),
        "train_images": len(images),
        "machine": machine_block(gpu=gpu),
        "runs": runs,
        "extraction": extraction,
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python benchmarks/bench_training_throughput.py {args.dataset} --iterations {args.iterations}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
