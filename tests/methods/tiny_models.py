"""Tiny configurations of the methods whose networks cannot be ``tinycnn`` (they need a ViT),
shared by their own tests and the registry's contract tests."""

from __future__ import annotations

#: SALAD on a 1-block, 32-wide DINOv2: 3 clusters × 4 + an 8-D token = a 20-D descriptor
SALAD_TINY = {
    "backbone": "vit_base_patch14_dinov2",
    "vit_depth": 1,
    "vit_embed_dim": 32,
    "vit_num_heads": 2,
    "num_clusters": 3,
    "cluster_dim": 4,
    "token_dim": 8,
    "hidden_dim": 16,
}
