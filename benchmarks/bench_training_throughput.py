"""Training throughput (images/s) of the group trainer on a real dataset (synthcity small by default).

Runs ``--iterations`` steps of the D&C recipe (tinycnn, 64×64, RandomResizedCrop, AAMC) for each
combination of torch threads and DataLoader workers, on CPU (and CUDA when present), and writes
``benchmarks/results/training_throughput.json``.

    python3 benchmarks/bench_training_throughput.py /work/runs/synthcity_small --iterations 40
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.heads import ArcFaceHead
from vprkit.registry import create_partitioner
from vprkit.training.augment import train_transform
from vprkit.training.config import TrainingConfig
from vprkit.training.data import ImageDataset
from vprkit.training.engine import GroupTrainer
from vprkit.training.recipe import load_train_split, partition_groups


def measure(images, groups, *, backbone: str, image_size: int, batch: int, iterations: int, threads: int,
            workers: int, device: str, amp: bool) -> dict:
    torch.manual_seed(0)
    net = build_descriptor_net(backbone, "avg_whiten")
    heads = nn.ModuleList([ArcFaceHead(net.dim, g.n_classes) for g in groups])
    cfg = TrainingConfig(epochs=1, iterations_per_epoch=iterations, batch_size=batch, image_size=image_size,
                         augmentation="dnc", num_workers=workers, num_threads=threads, device=device, amp=amp,
                         validate_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = GroupTrainer(net, heads, groups, ImageDataset(images, train_transform("dnc", image_size)), cfg, tmp)
        t0 = time.perf_counter()
        state = trainer.fit()
        wall = time.perf_counter() - t0
    return {"backbone": backbone, "image_size": image_size, "batch": batch, "iterations": iterations,
            "threads": threads, "workers": workers, "device": device, "amp": amp,
            "images_per_s_epoch": round(state["history"][0]["images_per_s"], 1),
            "images_per_s_wall": round(iterations * batch / wall, 1)}


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
    runs = []
    for threads, workers in [(1, 0), (2, 0), (1, 1), (2, 1)]:
        runs.append(measure(images, groups, backbone="tinycnn", image_size=64, batch=args.batch,
                            iterations=args.iterations, threads=threads, workers=workers, device="cpu", amp=False))
        print(runs[-1], flush=True)
    if torch.cuda.is_available():
        for backbone, size in [("tinycnn", 64), ("efficientnet_b0", 224), ("resnet18", 224)]:
            runs.append(measure(images, groups, backbone=backbone, image_size=size, batch=args.batch,
                                iterations=args.iterations, threads=4, workers=8, device="cuda", amp=True))
            print(runs[-1], flush=True)
    result = {"dataset": str(args.dataset), "train_images": len(images), "machine": platform.machine(),
              "cpu_count": __import__("os").cpu_count(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
