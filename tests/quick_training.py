"""Settings that make training a few CPU iterations on the tiny test datasets, shared by the
trainer, method, CLI and reliability tests (``import quick_training``: tests/ is on ``sys.path``
through tests/conftest.py)."""

from __future__ import annotations

#: What every quick run sets: 32-pixel images, no worker processes, the CPU.
ON_CPU = ["training.image_size=32", "training.num_workers=0", "training.device=cpu"]

#: A group-per-epoch run (D&C, CosPlace): the tinycnn backbone, two iterations of batch 8.
GROUP_TRAINING = ["backbone=tinycnn", "training.iterations_per_epoch=2", "training.batch_size=8", *ON_CPU]

#: A triplet run (NetVLAD, GeM) without validation: a tiny NetVLAD head, a few queries, two per batch.
TRIPLET_TRAINING = [
    "backbone=tinycnn",
    "clusters=8",
    "kmeans_images=16",
    "reduction=fc",
    "out_dim=8",
    "training.negs_num_per_query=2",
    "training.batch_size=2",
    *ON_CPU,
    "training.validate_every=0",
]


def set_options(overrides: list[str]) -> list[str]:
    """The ``vprkit train`` options of ``key=value`` overrides: ``["--set", "a=1", "--set", "b=2"]``."""
    return [word for override in overrides for word in ("--set", override)]
