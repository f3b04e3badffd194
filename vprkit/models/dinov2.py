"""DINOv2 ViT backbones (Oquab et al., 2023) on timm, for the VPR methods built on them (SALAD, BoQ).

:class:`DINOv2Backbone` wraps timm's ``vit_*_patch14_dinov2`` (patch 14, 518×518 pre-training
grid, i.e. a 37×37 positional embedding) and returns the tokens of the last block:

- ``forward_tokens(images) -> (class_token (B, C), patch_map (B, C, H/14, W/14))``;
- ``forward_features(images) -> patch_map`` (timm's backbone convention in vprkit).

The class token is always taken after the final LayerNorm (DINOv2's ``x_norm_clstoken``). The
patch tokens are taken after it too when ``patch_norm=True`` (SALAD: its backbone applies
``norm`` to every token) and before it when ``patch_norm=False`` (BoQ feeds the raw output of the
last block to its aggregator).

Image sizes: height and width must be multiples of 14 (a :class:`~vprkit.errors.ConfigError`
otherwise; the methods resize in their test transform, e.g. 322×322 for SALAD and BoQ). The
positional embedding is resized as the facebookresearch/dinov2 code resizes it, not as timm does:
bicubic without anti-aliasing, with the scale factor ``(n + 0.1) / 37`` for a grid of ``n``
patches (the authors' offset, "to avoid floating point error"), and unchanged on the 37×37 grid.
timm's ``dynamic_img_size`` resampling uses anti-aliasing and an exact target size, which
changes the features of the released weights at 322×322 (a 23×23 grid); matching the authors'
rule keeps the released models' descriptors.

Fine-tuning (``trainable_blocks=N``): the patch embedding, class/register tokens, positional
embedding and all but the last ``N`` blocks are frozen (``requires_grad=False``, so autograd
builds no graph through them); the last ``N`` blocks and the final norm train, as in SALAD
(``num_trainable_blocks=4``) and BoQ (``unfreeze_n_blocks=2``). ``N=0`` freezes everything.

:func:`dinov2_hub_to_timm` maps the torch.hub checkpoints (the layout SALAD, BoQ and MegaLoc
releases store under their backbone prefix) to this module's keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from vprkit.errors import ConfigError, DataError

__all__ = [
    "DINOV2_HUB_NAMES",
    "DINOV2_PATCH_SIZE",
    "DINOv2Backbone",
    "create_dinov2_backbone",
    "dinov2_hub_to_timm",
    "is_dinov2_name",
    "timm_dinov2_name",
]

DINOV2_PATCH_SIZE = 14

#: facebookresearch/dinov2 torch.hub entry names → timm's names of the same networks
DINOV2_HUB_NAMES = {
    "dinov2_vits14": "vit_small_patch14_dinov2",
    "dinov2_vitb14": "vit_base_patch14_dinov2",
    "dinov2_vitl14": "vit_large_patch14_dinov2",
    "dinov2_vitg14": "vit_giant_patch14_dinov2",
    "dinov2_vits14_reg": "vit_small_patch14_reg4_dinov2",
    "dinov2_vitb14_reg": "vit_base_patch14_reg4_dinov2",
    "dinov2_vitl14_reg": "vit_large_patch14_reg4_dinov2",
    "dinov2_vitg14_reg": "vit_giant_patch14_reg4_dinov2",
}

# the facebookresearch/dinov2 positional-embedding resize offset (patches)
_INTERPOLATE_OFFSET = 0.1


def is_dinov2_name(name: str) -> bool:
    """Whether ``name`` is a DINOv2 ViT: a torch.hub name (``dinov2_vitb14``) or a timm one
    (``vit_base_patch14_dinov2``, ``vit_small_patch14_reg4_dinov2``)."""
    return name in DINOV2_HUB_NAMES or (name.startswith("vit_") and name.endswith("_dinov2"))


def timm_dinov2_name(name: str) -> str:
    """timm's name for DINOv2 ``name`` (torch.hub names are translated, timm names kept)."""
    timm_name = DINOV2_HUB_NAMES.get(name, name)
    if not is_dinov2_name(timm_name):
        raise ConfigError(
            f"backbone {name!r} is not a DINOv2 ViT; use one of {sorted(DINOV2_HUB_NAMES)} or a timm "
            "name ending in '_dinov2' (e.g. 'vit_base_patch14_dinov2')",
            field="backbone",
        )
    import timm

    if not timm.is_model(timm_name):
        raise ConfigError(f"backbone {name!r}: timm has no model {timm_name!r}", field="backbone")
    return timm_name


class DINOv2Backbone(nn.Module):
    """timm DINOv2 ViT (dynamic image size, patch 14) returning patch tokens as a map.

    Args:
        name: timm name (``"vit_base_patch14_dinov2"``) or torch.hub name (``"dinov2_vitb14"``).
        pretrained: load timm's copy of the DINOv2 LVD-142M weights (downloads; off by default).
        trainable_blocks: how many of the last blocks train (module docstring); ``≥ depth``
            trains them all.
        depth: override timm's number of blocks (tiny test models, e.g. ``depth=2``); ``None``
            keeps the named model's.
        embed_dim: override the width (e.g. ``48``); ``None`` keeps the named model's.
        num_heads: override the attention heads (e.g. ``2``); ``None`` keeps the named model's.
        patch_norm: apply the final LayerNorm to the patch tokens too (SALAD) or not (BoQ).

    Attributes:
        model: the timm ``VisionTransformer`` (its keys are ``model.<timm key>``).
        num_features: the embedding width ``C``.
        patch_size: 14.
        num_prefix_tokens: 1 (class token) plus the register tokens of ``*_reg4_*`` models.
    """

    def __init__(
        self,
        name: str = "vit_base_patch14_dinov2",
        *,
        pretrained: bool = False,
        trainable_blocks: int = 4,
        depth: int | None = None,
        embed_dim: int | None = None,
        num_heads: int | None = None,
        patch_norm: bool = True,
    ):
        super().__init__()
        import timm

        timm_name = timm_dinov2_name(name)
        overrides: dict[str, Any] = {
            key: value
            for key, value in (("depth", depth), ("embed_dim", embed_dim), ("num_heads", num_heads))
            if value is not None
        }
        if pretrained and overrides:
            raise ConfigError(
                f"backbone {name!r}: pretrained weights exist only for the unmodified model, not {overrides}"
            )
        if "embed_dim" in overrides and overrides["embed_dim"] % overrides.get("num_heads", 1):
            raise ConfigError(f"backbone {name!r}: embed_dim {embed_dim} is not a multiple of num_heads {num_heads}")
        from timm.models.vision_transformer import VisionTransformer

        model = timm.create_model(timm_name, pretrained=pretrained, num_classes=0, dynamic_img_size=True, **overrides)
        if not isinstance(model, VisionTransformer):
            raise ConfigError(f"backbone {name!r}: timm built a {type(model).__name__}, not a VisionTransformer")
        if model.pos_embed is None or model.cls_token is None:
            raise ConfigError(f"backbone {name!r}: a DINOv2 ViT has a class token and a positional embedding")
        self.model: VisionTransformer = model
        self.name = timm_name
        self.num_features = int(self.model.num_features)
        self.patch_size = DINOV2_PATCH_SIZE
        self.num_prefix_tokens = int(self.model.num_prefix_tokens)
        self.patch_norm = patch_norm
        # True when the positional embedding also covers the class token (no registers)
        self._pos_embed_has_class = not bool(self.model.no_embed_class)
        self.trainable_blocks = trainable_blocks
        self._freeze(trainable_blocks)

    @property
    def depth(self) -> int:
        return len(self.model.blocks)

    def _freeze(self, trainable_blocks: int) -> None:
        if trainable_blocks < 0:
            raise ConfigError(f"trainable_blocks must be 0 or more, got {trainable_blocks}", field="trainable_blocks")
        # more than the depth trains every block (a tiny test ViT keeps a config's default of 4)
        trainable_blocks = min(trainable_blocks, self.depth)
        for param in self.model.parameters():
            param.requires_grad = False
        if trainable_blocks == 0:
            return
        for module in [*self.model.blocks[self.depth - trainable_blocks :], self.model.norm]:
            for param in module.parameters():
                param.requires_grad = True

    def _stored_pos_embed(self) -> Tensor:
        """The positional embedding of the pre-training grid (timm's layout, with the class token's
        position first unless the model has registers)."""
        stored = self.model.pos_embed
        assert stored is not None  # checked in __init__
        return stored

    def position_embedding(self, grid_h: int, grid_w: int) -> Tensor:
        """Positional embedding of the patch tokens for a ``grid_h × grid_w`` grid, resized by the
        facebookresearch/dinov2 rule (module docstring): ``(1, grid_h * grid_w, C)``."""
        stored = self._stored_pos_embed()
        patch_pos = stored[:, 1:] if self._pos_embed_has_class else stored
        side = int(math.sqrt(patch_pos.shape[1]))
        if grid_h == grid_w == side:  # the authors skip the resize on the pre-training grid
            return patch_pos
        grid = patch_pos.float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        scale = ((grid_h + _INTERPOLATE_OFFSET) / side, (grid_w + _INTERPOLATE_OFFSET) / side)
        resized = nn.functional.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        if resized.shape[-2:] != (grid_h, grid_w):  # the offset makes floor(side * scale) the grid
            raise RuntimeError(f"positional embedding resized to {tuple(resized.shape[-2:])}, not {(grid_h, grid_w)}")
        return resized.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, -1).to(stored.dtype)

    def _prefix_tokens(self, batch: int) -> Tensor:
        """Class (+ register) tokens with their position added: ``(B, num_prefix_tokens, C)``."""
        cls_param = self.model.cls_token
        assert cls_param is not None  # checked in __init__
        cls: Tensor = cls_param
        if self._pos_embed_has_class:
            cls = cls + self._stored_pos_embed()[:, :1]
        tokens = [cls.expand(batch, -1, -1)]
        if self.model.reg_token is not None:  # registers carry no position (timm stores cls + pos)
            tokens.append(self.model.reg_token.expand(batch, -1, -1))
        return torch.cat(tokens, dim=1)

    def forward_tokens(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, 3, H, W)``, ``H`` and ``W`` multiples of 14 → ``(class_token (B, C)`` after
        the final norm, ``patch_map (B, C, H/14, W/14))`` (after the norm iff ``patch_norm``)."""
        batch, _, height, width = images.shape
        if height % self.patch_size or width % self.patch_size:
            raise ConfigError(
                f"DINOv2 images must have sides that are multiples of {self.patch_size} pixels, got "
                f"{height}×{width}; resize them in the transform (e.g. to "
                f"{max(1, round(height / self.patch_size)) * self.patch_size}×"
                f"{max(1, round(width / self.patch_size)) * self.patch_size})"
            )
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        patches = self.model.patch_embed(images)  # (B, h, w, C): dynamic_img_size gives NHWC
        patches = patches.reshape(batch, grid_h * grid_w, -1) + self.position_embedding(grid_h, grid_w)
        tokens = torch.cat([self._prefix_tokens(batch), patches], dim=1)
        tokens = self.model.blocks(self.model.norm_pre(tokens))
        normed = self.model.norm(tokens)
        class_token = normed[:, 0]
        patch_tokens = (normed if self.patch_norm else tokens)[:, self.num_prefix_tokens :]
        patch_map = patch_tokens.transpose(1, 2).reshape(batch, -1, grid_h, grid_w)
        return class_token, patch_map

    def forward_features(self, images: Tensor) -> Tensor:
        """The patch-token map only: ``(B, C, H/14, W/14)``."""
        return self.forward_tokens(images)[1]

    def forward(self, images: Tensor) -> Tensor:
        return self.forward_features(images)


def create_dinov2_backbone(
    name: str = "vit_base_patch14_dinov2",
    *,
    pretrained: bool = False,
    trainable_blocks: int = 4,
    depth: int | None = None,
    embed_dim: int | None = None,
    num_heads: int | None = None,
    patch_norm: bool = True,
) -> tuple[DINOv2Backbone, int]:
    """:class:`DINOv2Backbone` and its width ``C``."""
    backbone = DINOv2Backbone(
        name,
        pretrained=pretrained,
        trainable_blocks=trainable_blocks,
        depth=depth,
        embed_dim=embed_dim,
        num_heads=num_heads,
        patch_norm=patch_norm,
    )
    return backbone, backbone.num_features


# one transformer block's parameters in the torch.hub layout → timm's names (the same but the SwiGLU
# MLP of ViT-g, w12/w3 there, fc1/fc2 in timm's SwiGLUPacked)
_BLOCK_PARAMS = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "attn.qkv.weight",
    "attn.qkv.bias": "attn.qkv.bias",
    "attn.proj.weight": "attn.proj.weight",
    "attn.proj.bias": "attn.proj.bias",
    "ls1.gamma": "ls1.gamma",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.fc1.weight",
    "mlp.fc1.bias": "mlp.fc1.bias",
    "mlp.fc2.weight": "mlp.fc2.weight",
    "mlp.fc2.bias": "mlp.fc2.bias",
    "mlp.w12.weight": "mlp.fc1.weight",
    "mlp.w12.bias": "mlp.fc1.bias",
    "mlp.w3.weight": "mlp.fc2.weight",
    "mlp.w3.bias": "mlp.fc2.bias",
    "ls2.gamma": "ls2.gamma",
}
_TOP_PARAMS = {
    "patch_embed.proj.weight": "patch_embed.proj.weight",
    "patch_embed.proj.bias": "patch_embed.proj.bias",
    "norm.weight": "norm.weight",
    "norm.bias": "norm.bias",
}
# blocks.<i>.<param> (hub, block_chunks=0) or blocks.<chunk>.<i>.<param> (training checkpoints
# with chunked blocks, where <i> is the global index)
_BLOCK_KEY = re.compile(r"blocks\.(?:\d+\.)?(\d+)\.(.+)")
_TIMM_PREFIX = "model."


def dinov2_hub_to_timm(state: Mapping[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """Map a facebookresearch/dinov2 torch.hub state dict to :class:`DINOv2Backbone`'s keys.

    Args:
        state: a state dict; only the keys starting with ``prefix`` are read (the others belong to
            the rest of a method's checkpoint, e.g. ``aggregator.*``).
        prefix: where the ViT's keys live in ``state`` (``"backbone.model."`` for SALAD).

    Returns:
        ``model.<timm key> → tensor``. The hub layout is ``cls_token``, ``pos_embed``
        (``(1, 1 + 37², C)``), ``mask_token`` (dropped: it only serves DINOv2's masked
        pre-training), ``register_tokens`` (``*_reg`` models; timm then stores the class token
        with its position added and the position of the patches only), ``patch_embed.proj.*``,
        ``blocks.<i>.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1|w12, mlp.fc2|w3,
        ls2.gamma}`` and ``norm.*``.

    Raises:
        DataError: a key under ``prefix`` that is not part of that layout (named), or no key at all.
    """
    own = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not own:
        raise DataError(f"DINOv2 state dict: no key starts with {prefix!r}")
    out: dict[str, Tensor] = {}
    for key, value in own.items():
        if key in _TOP_PARAMS:
            out[_TIMM_PREFIX + _TOP_PARAMS[key]] = value
        elif key in ("cls_token", "pos_embed", "mask_token", "register_tokens"):
            continue  # handled together below: their timm form depends on the registers
        elif (match := _BLOCK_KEY.fullmatch(key)) and match.group(2) in _BLOCK_PARAMS:
            out[f"{_TIMM_PREFIX}blocks.{match.group(1)}.{_BLOCK_PARAMS[match.group(2)]}"] = value
        else:
            raise DataError(f"DINOv2 state dict: unexpected key {prefix + key!r} (not a torch.hub DINOv2 parameter)")
    for needed in ("cls_token", "pos_embed"):
        if needed not in own:
            raise DataError(f"DINOv2 state dict: missing {prefix + needed!r}")
    cls_token, pos_embed = own["cls_token"], own["pos_embed"]
    if "register_tokens" in own:
        # timm's register models keep no position for the class token: fold it into the token
        out[_TIMM_PREFIX + "reg_token"] = own["register_tokens"]
        out[_TIMM_PREFIX + "cls_token"] = cls_token + pos_embed[:, :1]
        out[_TIMM_PREFIX + "pos_embed"] = pos_embed[:, 1:]
    else:
        out[_TIMM_PREFIX + "cls_token"] = cls_token
        out[_TIMM_PREFIX + "pos_embed"] = pos_embed
    return out
