"""DDP on CPU: two gloo processes train with different samples and keep identical parameters.

The processes are spawned: forking is refused once autograd has started threads in the parent
(e.g. after the ONNX export tests in the same session).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from torch import nn
from training_testdata import alternating_groups, images_on_a_line

from vprkit.models.descriptor import build_descriptor_net
from vprkit.models.heads import CosFaceHead
from vprkit.training.config import TrainingConfig
from vprkit.training.data import ImageDataset
from vprkit.training.engine import GroupTrainer


def _to_tensor(img) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _worker(rank: int, root: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        n = 16
        images = images_on_a_line(root, [f"{i}.png" for i in range(n)], np.arange(n) * 1.0)
        groups = alternating_groups(n, 4)
        torch.manual_seed(rank)  # different inits on purpose: DDP must broadcast rank 0's weights
        net = build_descriptor_net("tinycnn", "gem_fc", out_dim=16)
        heads = nn.ModuleList([CosFaceHead(16, 4) for _ in groups])
        cfg = TrainingConfig(
            epochs=2, iterations_per_epoch=3, batch_size=4, image_size=16, num_workers=0, device="cpu", validate_every=0
        )
        trainer = GroupTrainer(net, heads, groups, ImageDataset(images, _to_tensor), cfg, f"{out}/run")
        trainer.fit()
        params = {k: v.detach().clone() for k, v in net.named_parameters()}
        params.update({f"head.{k}": v.detach().clone() for k, v in heads.named_parameters()})
        torch.save(params, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_replicas_stay_identical(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    mp.start_processes(_worker, args=(str(tmp_path), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (tmp_path / "run" / "last.pt").is_file()  # written by rank 0
