"""DINOv2 backbone: the torch.hub key layout, timm equivalence, the authors' position resize, freezing."""

from __future__ import annotations

import pytest
import timm
import torch
from dinov2_reference import hub_state, reference_dinov2
from timm.models.vision_transformer import checkpoint_filter_fn

from vprkit.errors import ConfigError, DataError
from vprkit.models.dinov2 import DINOv2Backbone, create_dinov2_backbone, dinov2_hub_to_timm, timm_dinov2_name

TINY = {"depth": 2, "embed_dim": 48, "num_heads": 2}


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
