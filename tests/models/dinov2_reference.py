"""DINOv2 test helpers: random weights in the facebookresearch/dinov2 torch.hub layout, and a
DINOv2 forward written straight on those weights (independent of timm and of vprkit's backbone)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["GRID", "hub_state", "reference_dinov2"]

GRID = 37  # the 518×518 pre-training grid of every torch.hub DINOv2


def hub_state(dim: int = 48, depth: int = 2, *, registers: int = 0, hidden: int | None = None, seed: int = 0):
    """A random state dict in the facebookresearch/dinov2 torch.hub layout (block_chunks=0)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.2

    hidden = hidden or 4 * dim
    state = {
        "cls_token": rand(1, 1, dim),
        "pos_embed": rand(1, 1 + GRID * GRID, dim),
        "mask_token": rand(1, dim),
        "patch_embed.proj.weight": rand(dim, 3, 14, 14),
        "patch_embed.proj.bias": rand(dim),
        "norm.weight": 1 + rand(dim),
        "norm.bias": rand(dim),
    }
    if registers:
        state["register_tokens"] = rand(1, registers, dim)
    for i in range(depth):
        state |= {
            f"blocks.{i}.norm1.weight": 1 + rand(dim),
            f"blocks.{i}.norm1.bias": rand(dim),
            f"blocks.{i}.attn.qkv.weight": rand(3 * dim, dim),
            f"blocks.{i}.attn.qkv.bias": rand(3 * dim),
            f"blocks.{i}.attn.proj.weight": rand(dim, dim),
            f"blocks.{i}.attn.proj.bias": rand(dim),
            f"blocks.{i}.ls1.gamma": rand(dim),
            f"blocks.{i}.norm2.weight": 1 + rand(dim),
            f"blocks.{i}.norm2.bias": rand(dim),
            f"blocks.{i}.mlp.fc1.weight": rand(hidden, dim),
            f"blocks.{i}.mlp.fc1.bias": rand(hidden),
            f"blocks.{i}.mlp.fc2.weight": rand(dim, hidden),
            f"blocks.{i}.mlp.fc2.bias": rand(dim),
            f"blocks.{i}.ls2.gamma": rand(dim),
        }
    return state


def reference_dinov2(state, images, heads: int):
    """DINOv2's forward written from the paper/torch.hub definition, straight on the hub weights:
    returns the tokens after the final norm and before it, ``(B, 1 + N, C)`` each (no registers)."""
    dim = state["cls_token"].shape[-1]
    patches = F.conv2d(images, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=14)
    batch, _, grid_h, grid_w = patches.shape
    patches = patches.flatten(2).transpose(1, 2)
    pos = state["pos_embed"]
    if (grid_h, grid_w) != (GRID, GRID):  # bicubic, no anti-aliasing, scale (n + 0.1) / 37
        side = int(math.sqrt(pos.shape[1] - 1))
        grid = pos[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((grid_h + 0.1) / side, (grid_w + 0.1) / side), mode="bicubic")
        pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)
    x = torch.cat([state["cls_token"].expand(batch, -1, -1), patches], dim=1) + pos
    for i in range(sum(k.endswith("ls1.gamma") for k in state)):
        p = {k[len(f"blocks.{i}.") :]: v for k, v in state.items() if k.startswith(f"blocks.{i}.")}
        h = F.layer_norm(x, (dim,), p["norm1.weight"], p["norm1.bias"], eps=1e-6)
        q, k, v = (
            F.linear(h, p["attn.qkv.weight"], p["attn.qkv.bias"]).reshape(batch, -1, 3, heads, dim // heads).unbind(2)
        )
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, heads, N, head_dim)
        attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), dim=-1)
        mixed = (attention @ v).transpose(1, 2).reshape(batch, -1, dim)
        x = x + p["ls1.gamma"] * F.linear(mixed, p["attn.proj.weight"], p["attn.proj.bias"])
        h = F.layer_norm(x, (dim,), p["norm2.weight"], p["norm2.bias"], eps=1e-6)
        h = F.linear(
            F.gelu(F.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"], p["mlp.fc2.bias"]
        )
        x = x + p["ls2.gamma"] * h
    return F.layer_norm(x, (dim,), state["norm.weight"], state["norm.bias"], eps=1e-6), x
