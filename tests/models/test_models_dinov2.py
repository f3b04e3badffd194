"""DINOv2 backbone: the torch.hub key layout, timm equivalence, the authors' position resize, freezing."""

from __future__ import annotations

import math

import pytest
import timm
import torch
from timm.models.vision_transformer import checkpoint_filter_fn
from torch.nn import functional as F

from vprkit.errors import ConfigError, DataError
from vprkit.models.dinov2 import DINOv2Backbone, create_dinov2_backbone, dinov2_hub_to_timm, timm_dinov2_name

TINY = {"depth": 2, "embed_dim": 48, "num_heads": 2}
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


def loaded_backbone(state, prefix="", **kwargs) -> DINOv2Backbone:
    backbone = DINOv2Backbone(**(TINY | kwargs)).eval()
    backbone.load_state_dict(dinov2_hub_to_timm(state, prefix=prefix), strict=True)
    return backbone


def test_every_hub_key_is_consumed_and_other_prefixes_are_ignored():
    hub = hub_state()
    release = {f"backbone.model.{k}": v for k, v in hub.items()} | {"aggregator.dust_bin": torch.tensor(1.0)}
    mapped = dinov2_hub_to_timm(release, prefix="backbone.model.")
    backbone = DINOv2Backbone(**TINY)
    own = backbone.state_dict()
    assert set(mapped) == set(own)  # every module key filled; only mask_token (unused) dropped
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert len(mapped) == len(hub) - 1


def test_unknown_and_missing_keys_are_data_errors_naming_them():
    with pytest.raises(DataError, match=r"backbone\.model\.blocks\.0\.attn\.qkv\.extra"):
        dinov2_hub_to_timm(
            {f"backbone.model.{k}": v for k, v in (hub_state() | {"blocks.0.attn.qkv.extra": torch.zeros(1)}).items()},
            prefix="backbone.model.",
        )
    with pytest.raises(DataError, match="pos_embed"):
        dinov2_hub_to_timm({k: v for k, v in hub_state().items() if k != "pos_embed"})
    with pytest.raises(DataError, match="no key"):
        dinov2_hub_to_timm({"aggregator.x": torch.zeros(1)}, prefix="backbone.model.")


def test_chunked_blocks_keep_their_global_index():
    hub = hub_state()
    chunked = {k.replace("blocks.1.", "blocks.0.1.", 1) if k.startswith("blocks.1.") else k: v for k, v in hub.items()}
    assert torch.equal(dinov2_hub_to_timm(chunked)["model.blocks.1.ls2.gamma"], hub["blocks.1.ls2.gamma"])


def test_outputs_equal_timm_loaded_with_its_own_filter_on_the_pretraining_grid():
    """On 518×518 (no position resize) the backbone is timm's DINOv2, loaded by timm's own filter."""
    hub = hub_state()
    backbone = loaded_backbone(hub)
    direct = timm.create_model("vit_base_patch14_dinov2", num_classes=0, dynamic_img_size=True, **TINY).eval()
    direct.load_state_dict(checkpoint_filter_fn(dict(hub), direct), strict=True)
    images = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        class_token, patch_map = backbone.forward_tokens(images)
        tokens = direct.forward_features(images)
    torch.testing.assert_close(class_token, tokens[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(patch_map.flatten(2).transpose(1, 2), tokens[:, 1:], rtol=0, atol=1e-6)


@pytest.mark.parametrize("height,width", [(322, 322), (70, 42), (28, 56)])
def test_outputs_equal_a_reference_dinov2_with_the_authors_position_resize(height, width):
    hub = hub_state(seed=1)
    images = torch.randn(2, 3, height, width)
    normed, raw = reference_dinov2(hub, images, heads=TINY["num_heads"])
    grid = (2, TINY["embed_dim"], height // 14, width // 14)
    with torch.no_grad():
        class_token, patch_map = loaded_backbone(hub).forward_tokens(images)
        _, raw_map = loaded_backbone(hub, patch_norm=False).forward_tokens(images)
    assert patch_map.shape == grid
    torch.testing.assert_close(class_token, normed[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(patch_map, normed[:, 1:].transpose(1, 2).reshape(grid), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(raw_map, raw[:, 1:].transpose(1, 2).reshape(grid), rtol=1e-5, atol=1e-5)


def test_register_models_match_timm_on_the_pretraining_grid():
    hub = hub_state(registers=4)
    name = "vit_small_patch14_reg4_dinov2"
    backbone = loaded_backbone(hub, name=name)
    direct = timm.create_model(name, num_classes=0, dynamic_img_size=True, **TINY).eval()
    direct.load_state_dict(checkpoint_filter_fn(dict(hub), direct), strict=True)
    images = torch.randn(1, 3, 518, 518)
    with torch.no_grad():
        class_token, patch_map = backbone.forward_tokens(images)
        tokens = direct.forward_features(images)
    assert backbone.num_prefix_tokens == 5
    torch.testing.assert_close(class_token, tokens[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(patch_map.flatten(2).transpose(1, 2), tokens[:, 5:], rtol=0, atol=1e-6)


def test_swiglu_keys_of_vit_giant_are_renamed():
    backbone = DINOv2Backbone("dinov2_vitg14", depth=1, embed_dim=48, num_heads=2)
    own = backbone.state_dict()
    hub = {k: v for k, v in hub_state(depth=1).items() if ".mlp." not in k}
    hub |= {
        "blocks.0.mlp.w12.weight": torch.randn(own["model.blocks.0.mlp.fc1.weight"].shape),
        "blocks.0.mlp.w12.bias": torch.randn(own["model.blocks.0.mlp.fc1.bias"].shape),
        "blocks.0.mlp.w3.weight": torch.randn(own["model.blocks.0.mlp.fc2.weight"].shape),
        "blocks.0.mlp.w3.bias": torch.randn(own["model.blocks.0.mlp.fc2.bias"].shape),
    }
    backbone.load_state_dict(dinov2_hub_to_timm(hub), strict=True)
    assert torch.equal(backbone.model.blocks[0].mlp.fc2.weight, hub["blocks.0.mlp.w3.weight"])


def test_last_blocks_and_final_norm_train_the_rest_is_frozen():
    backbone, channels = create_dinov2_backbone(trainable_blocks=1, **TINY)
    assert channels == 48 and backbone.patch_size == 14
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in backbone.named_parameters() if n.startswith(("model.blocks.1.", "model.norm."))}
    class_token, patch_map = backbone.forward_tokens(torch.randn(1, 3, 28, 28))
    (class_token.sum() + patch_map.sum()).backward()
    assert backbone.model.blocks[1].attn.qkv.weight.grad is not None
    assert backbone.model.blocks[0].attn.qkv.weight.grad is None
    assert not any(p.requires_grad for p in DINOv2Backbone(trainable_blocks=0, **TINY).parameters())
    assert all(
        p.requires_grad for n, p in DINOv2Backbone(trainable_blocks=5, **TINY).named_parameters() if ".blocks." in n
    )
    with pytest.raises(ConfigError, match="trainable_blocks"):
        DINOv2Backbone(trainable_blocks=-1, **TINY)


def test_sizes_not_multiple_of_14_and_unknown_names_are_config_errors():
    backbone = DINOv2Backbone(**TINY)
    with pytest.raises(ConfigError, match=r"multiples of 14.*64×64.*70×70"):
        backbone.forward_tokens(torch.randn(1, 3, 64, 64))
    with pytest.raises(ConfigError, match="not a DINOv2"):
        DINOv2Backbone("resnet18")
    with pytest.raises(ConfigError, match="pretrained"):
        DINOv2Backbone(pretrained=True, **TINY)
    assert timm_dinov2_name("dinov2_vitb14") == "vit_base_patch14_dinov2"
