"""BoQ releases through ``vprkit models import boq``: state dicts built here in the authors' layout
(amaralibey/Bag-of-Queries: ``VPRModel`` = ``backbone`` + ``aggregator``) with random values must
import with every key consumed and give the descriptors of an independent reference BoQ written
below from the paper's description (max-abs ≤ 1e-5).

The reference: torchvision ResNet ``Sequential(conv1, bn1, relu, maxpool, layer1, layer2, layer3)``
as ``backbone.net``, or a DINOv2 ViT in the facebookresearch/dinov2 hub layout as
``backbone.dino`` (patch tokens of the last block, no final norm, class token dropped; positions
resized by DINOv2's rule off the 518-pixel grid); the
aggregator as ``proj_c`` (3×3 conv) → tokens → ``norm_input`` → blocks ``boqs.<i>`` (a post-norm
transformer encoder layer ``encoder`` with ReLU, learnable ``queries`` with residual
self-attention + ``norm_q``, cross-attention to the tokens + ``norm_out``) → concatenation →
``fc`` over the queries of every channel → channel-major flatten → L2. Attention is written out by
hand (``in_proj_weight`` rows: query, key, value), so nothing of torch's attention modules or of
vprkit's BoQ is shared with the implementation under test.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torchvision
from release_formats import randomise_batch_norm
from torch import nn

from vprkit.errors import DataError
from vprkit.models.release import import_model
from vprkit.pipeline.models import load_model


# ------------------------------------------------------------------------------ the reference
class RefAttention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameter names, computed by hand."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.randn(3 * dim, dim) / math.sqrt(dim))
        self.in_proj_bias = nn.Parameter(torch.randn(3 * dim) * 0.1)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        b, nq, c = q.shape
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        h, d = self.heads, c // self.heads

        def split(x: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, h, N, d)
            return x.reshape(b, -1, h, d).permute(0, 2, 1, 3)

        queries, keys, values = split(q @ wq.T + bq), split(kv @ wk.T + bk), split(kv @ wv.T + bv)
        weights = torch.softmax(queries @ keys.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return self.out_proj((weights @ values).permute(0, 2, 1, 3).reshape(b, nq, c))


class RefEncoderLayer(nn.Module):
    """Post-norm transformer encoder layer (``nn.TransformerEncoderLayer``'s names), ReLU, FFN 4C."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.self_attn = RefAttention(dim, heads)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, x))
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))


class RefBoQBlock(nn.Module):
    def __init__(self, dim: int, queries: int, heads: int):
        super().__init__()
        self.encoder = RefEncoderLayer(dim, heads)
        self.queries = nn.Parameter(torch.randn(1, queries, dim))
        self.self_attn = RefAttention(dim, heads)
        self.norm_q = nn.LayerNorm(dim)
        self.cross_attn = RefAttention(dim, heads)
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.encoder(x)
        q = self.queries.repeat(len(x), 1, 1)
        q = self.norm_q(q + self.self_attn(q, q))
        return x, self.norm_out(self.cross_attn(q, x))


class RefBoQ(nn.Module):
    def __init__(self, in_channels: int, proj: int, queries: int, layers: int, rows: int):
        super().__init__()
        self.proj_c = nn.Conv2d(in_channels, proj, kernel_size=3, padding=1)
        self.norm_input = nn.LayerNorm(proj)
        self.boqs = nn.ModuleList(RefBoQBlock(proj, queries, proj // 64) for _ in range(layers))
        self.fc = nn.Linear(layers * queries, rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_input(self.proj_c(x).flatten(2).permute(0, 2, 1))
        outs = []
        for block in self.boqs:
            x, out = block(x)
            outs.append(out)
        out = self.fc(torch.cat(outs, dim=1).permute(0, 2, 1))
        return F.normalize(out.flatten(1), dim=-1)


class RefResNet(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        tv = getattr(torchvision.models, name)(weights=None)
        self.net = nn.Sequential(tv.conv1, tv.bn1, tv.relu, tv.maxpool, tv.layer1, tv.layer2, tv.layer3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Attn(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)


class _Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(dim) + 0.5)


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=14, stride=14)


class RefViTBlock(nn.Module):
    """A DINOv2 hub block: pre-norm attention and MLP (GELU), each scaled by LayerScale."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attn(dim)
        self.ls1 = _LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim)
        self.ls2 = _LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h, d = self.heads, c // self.heads
        qkv = self.attn.qkv(self.norm1(x)).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(d), dim=-1)
        x = x + self.ls1.gamma * self.attn.proj((weights @ qkv[2]).transpose(1, 2).reshape(b, n, c))
        return x + self.ls2.gamma * self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class _DinoHub(nn.Module):
    """The facebookresearch/dinov2 ViT/14 parameter layout."""

    def __init__(self, dim: int, depth: int, heads: int, grid: int):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + grid**2, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.patch_embed = _PatchEmbed(dim)
        self.blocks = nn.ModuleList(RefViTBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # in the release, unused by the authors' forward


class RefDINOv2(nn.Module):
    """The DINOv2 hub ViT as the authors' ``DinoV2`` backbone runs it (blocks, no final norm, patch
    tokens as a map); positions stored for the hub's 37 × 37 grid (518 pixels)."""

    grid = 37

    def __init__(self, dim: int, depth: int, heads: int):
        super().__init__()
        self.dino = _DinoHub(dim, depth, heads, self.grid)

    def position(self, h: int, w: int) -> torch.Tensor:
        """``(1, 1 + h·w, C)``: DINOv2's rule, bicubic with scale ``(n + 0.1) / 37``, no antialias."""
        pos = self.dino.pos_embed
        if (h, w) == (self.grid, self.grid):
            return pos
        grid = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        scale = ((h + 0.1) / self.grid, (w + 0.1) / self.grid)
        grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=False)
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, hh, ww = x.shape
        tokens = self.dino.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.dino.cls_token.expand(b, -1, -1), tokens], dim=1) + self.position(hh // 14, ww // 14)
        for block in self.dino.blocks:
            tokens = block(tokens)
        patches = tokens[:, 1:]
        return patches.permute(0, 2, 1).reshape(b, -1, hh // 14, ww // 14)


class RefVPRModel(nn.Module):
    def __init__(self, backbone: nn.Module, aggregator: RefBoQ):
        super().__init__()
        self.backbone, self.aggregator = backbone, aggregator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aggregator(self.backbone(x))


def _randomise_norms(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


# ------------------------------------------------------------------------------ tests
def test_reference_has_the_authors_torch_key_layout():
    """The reference's aggregator keys and shapes are those of the authors' torch modules
    (``nn.TransformerEncoderLayer`` + ``nn.MultiheadAttention`` under their attribute names)."""
    torch.manual_seed(0)
    authors: Any = nn.Module()
    authors.proj_c = nn.Conv2d(32, 128, 3, padding=1)
    authors.norm_input = nn.LayerNorm(128)
    authors.boqs = nn.ModuleList()
    for _ in range(2):
        block: Any = nn.Module()
        block.encoder = nn.TransformerEncoderLayer(128, 2, dim_feedforward=512, dropout=0.0, batch_first=True)
        block.queries = nn.Parameter(torch.randn(1, 4, 128))
        block.self_attn = nn.MultiheadAttention(128, 2, batch_first=True)
        block.norm_q = nn.LayerNorm(128)
        block.cross_attn = nn.MultiheadAttention(128, 2, batch_first=True)
        block.norm_out = nn.LayerNorm(128)
        authors.boqs.append(block)
    authors.fc = nn.Linear(8, 4)
    ours = RefBoQ(32, 128, 4, 2, 4)
    assert {k: v.shape for k, v in authors.state_dict().items()} == {k: v.shape for k, v in ours.state_dict().items()}


@pytest.mark.parametrize("backbone", ["resnet50", "resnet18"])
def test_resnet_release_gives_the_reference_descriptors(tmp_path, backbone):
    torch.manual_seed(0)
    channels = 1024 if backbone == "resnet50" else 256
    reference = RefVPRModel(RefResNet(backbone), RefBoQ(channels, 128, 4, 2, 4)).eval()
    randomise_batch_norm(reference)
    _randomise_norms(reference, 1)
    weights = tmp_path / f"{backbone}_512.pth"
    torch.save(reference.state_dict(), weights)  # the hub release: a plain state dict

    model, card = import_model("boq", weights, tmp_path / "model")
    cfg = model.config
    assert (cfg.backbone, cfg.proj_channels, cfg.num_queries, cfg.num_layers, cfg.row_dim) == (backbone, 128, 4, 2, 4)
    assert cfg.heads == 2 and model.descriptor_dim == 512 and cfg.crop_layer4
    assert card["test_transform"]["resize"] == "square" and card["test_transform"]["size"] == 384
    # every weight of the model came from the file (and the file had nothing else)
    assert len(model.net.state_dict()) == len(reference.state_dict())
    loaded = load_model(tmp_path / "model", "retriever")
    images = torch.randn(2, 3, 80, 112, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = reference(images)
    got = loaded.encode(images)
    assert got.shape == (2, 512)
    assert float((got - expected).abs().max()) <= 1e-5


def test_dinov2_release_gives_the_reference_descriptors(tmp_path):
    torch.manual_seed(0)
    reference = RefVPRModel(RefDINOv2(dim=64, depth=2, heads=4), RefBoQ(64, 128, 4, 2, 3)).eval()
    _randomise_norms(reference, 3)
    checkpoint = {"state_dict": reference.state_dict(), "epoch": 3}  # the authors' trainer's checkpoint
    torch.save(checkpoint, tmp_path / "epoch[03].ckpt")

    model, card = import_model("boq", tmp_path / "epoch[03].ckpt", tmp_path / "model", overrides={"vit_num_heads": 4})
    cfg = model.config
    assert (cfg.vit_depth, cfg.vit_embed_dim, cfg.proj_channels, cfg.row_dim) == (2, 64, 128, 3)
    assert card["test_transform"]["size"] == 322 and cfg.training.image_size == 224
    loaded = load_model(tmp_path / "model", "retriever")
    for side in (518, 322):  # the stored 37 × 37 grid, and the authors' eval size (23 × 23, resized)
        images = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(side))
        with torch.no_grad():
            expected = reference(images)
        got = loaded.encode(images)
        assert got.shape == (2, 384)
        assert float((got - expected).abs().max()) <= 1e-5


def test_imported_release_fine_tunes_from_its_start_checkpoint(synthcity_tiny, tmp_path):
    from vprkit.training.api import train_model

    torch.manual_seed(0)
    reference = RefVPRModel(RefResNet("resnet18"), RefBoQ(256, 128, 4, 2, 4)).eval()
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    imported, _ = import_model("boq", tmp_path / "r18.pth", tmp_path / "model")
    options = [
        "backbone=resnet18",
        "proj_channels=128",
        "num_queries=4",
        "row_dim=4",
        "training.img_per_place=2",
        "training.place_cell_m=30",
        "training.place_spacing=2",
        "training.batch_size=2",
        "training.iterations_per_epoch=1",
        "training.epochs=1",
        "training.image_size=32",
        "training.num_workers=0",
        "training.device=cpu",
        "training.validate_every=0",
    ]
    tuned = train_model("retriever", "boq", synthcity_tiny, tmp_path / "model", overrides=options, resume=True)
    assert tuned.training_summary["initialised_from"] == "BoQ release r18.pth"
    assert tuned.fingerprint() != imported.fingerprint()  # one AdamW step moved the weights


def test_refusals(tmp_path):
    torch.manual_seed(0)
    reference = RefVPRModel(RefResNet("resnet18"), RefBoQ(256, 128, 2, 1, 2))
    state = reference.state_dict()
    torch.save(state, tmp_path / "ok.pth")
    with pytest.raises(DataError, match="proj_channels: 128 in the file, 64 asked"):
        import_model("boq", tmp_path / "ok.pth", tmp_path / "a", overrides={"proj_channels": 64})
    torch.save({**state, "aggregator.extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(DataError, match="unexpected aggregator key"):
        import_model("boq", tmp_path / "extra.pth", tmp_path / "b")
    torch.save({k: v for k, v in state.items() if k != "aggregator.norm_input.bias"}, tmp_path / "missing.pth")
    with pytest.raises(DataError, match="missing"):
        import_model("boq", tmp_path / "missing.pth", tmp_path / "c")
    torch.save({"backbone.net.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="not a BoQ state dict"):
        import_model("boq", tmp_path / "other.pth", tmp_path / "d")


def test_releases_are_declared_as_data():
    from vprkit.registry import get_spec

    spec = get_spec("retriever", "boq")
    names = {r.name: r for r in spec.releases}
    assert set(names) == {"resnet50_16384", "dinov2_12288"}
    assert all(r.license == "MIT" and r.url.endswith(f"/v1.0/{r.name}.pth") for r in names.values())
    from vprkit_boq.config import BoQRetrieverConfig

    for release, dim in (("resnet50_16384", 16384), ("dinov2_12288", 12288)):
        assert BoQRetrieverConfig(**names[release].config).descriptor_dim == dim
    assert spec.card.license == "MIT" and any(r.benchmark == "MSLS val" and r.value == 93.8 for r in spec.card.results)
