"""BoQ: the multi-similarity loss and miner by hand, places and their batches, the lr schedule, the
aggregator's shapes and row-wise layout, the backbones (ResNet cut after layer3, a tiny DINOv2),
an interrupted run resumed exactly, and a D&C top-N pipeline with a BoQ retriever."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from vprkit_boq.boq import BoQAggregator
from vprkit_boq.config import BoQRetrieverConfig, BoQTrainingConfig
from vprkit_boq.losses import mine_multi_similarity, multi_similarity_loss
from vprkit_boq.places import find_places, sample_place_batches
from vprkit_boq.retriever import BoQRetriever

from vprkit.errors import ConfigError, DataError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: a tiny BoQ on tinycnn, a few CPU steps over 30 m places of 2 images, no validation
FAST = [
    "backbone=tinycnn",
    "proj_channels=16",
    "num_queries=4",
    "row_dim=2",
    "num_heads=2",
    "training.img_per_place=2",
    "training.place_cell_m=30",
    "training.place_spacing=2",
    "training.batch_size=4",
    "training.iterations_per_epoch=2",
    "training.image_size=32",
    "training.num_workers=0",
    "training.device=cpu",
    "training.validate_every=0",
]


# ----------------------------------------------------------------------------- loss and miner
def test_miner_and_loss_match_the_formulas_written_as_loops():
    torch.manual_seed(0)
    desc = torch.nn.functional.normalize(torch.randn(8, 5, dtype=torch.float64), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])  # place 3 has a single image: no positive
    sim = desc @ desc.T
    eps, alpha, beta, base = 0.1, 2.0, 10.0, 0.3
    pos, neg = mine_multi_similarity(sim, labels, eps)
    total = 0.0
    for i in range(8):
        p_all = [j for j in range(8) if labels[j] == labels[i] and j != i]
        n_all = [j for j in range(8) if labels[j] != labels[i]]
        max_neg = max(float(sim[i, j]) for j in n_all)
        min_pos = min((float(sim[i, j]) for j in p_all), default=math.inf)
        p_kept = [j for j in p_all if float(sim[i, j]) - eps < max_neg]
        n_kept = [j for j in n_all if float(sim[i, j]) + eps > min_pos]
        assert sorted(torch.nonzero(pos[i]).flatten().tolist()) == p_kept
        assert sorted(torch.nonzero(neg[i]).flatten().tolist()) == n_kept
        total += math.log(1 + sum(math.exp(-alpha * (float(sim[i, j]) - base)) for j in p_kept)) / alpha
        total += math.log(1 + sum(math.exp(beta * (float(sim[i, j]) - base)) for j in n_kept)) / beta
    assert not neg[7].any()  # an anchor without positive keeps no negative
    loss = multi_similarity_loss(sim, pos, neg, alpha, beta, base)
    assert math.isclose(float(loss), total / 8, rel_tol=1e-12)


def test_loss_pulls_places_together():
    torch.manual_seed(0)
    desc = torch.randn(8, 6, requires_grad=True)
    labels = torch.arange(4).repeat_interleave(2)
    opt = torch.optim.SGD([desc], lr=0.5)
    losses = []
    for _ in range(30):
        unit = torch.nn.functional.normalize(desc, dim=1)
        sim = unit @ unit.T
        pos, neg = mine_multi_similarity(sim, labels, 0.1)
        loss = multi_similarity_loss(sim, pos, neg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


# ----------------------------------------------------------------------------------- places
def test_places_are_cells_times_heading_bins_with_enough_images():
    east = np.array([1.0, 2.0, 3.0, 4.0, 11.0, 12.0, 13.0, 25.0, 26.0, 1.0])
    north = np.zeros(10)
    heading = np.array([10, 20, 200, 210, 5, 6, np.nan, 0, 0, 15], dtype=np.float64)
    places = find_places(east, north, heading, cell_m=10, heading_deg=90, min_images=2, spacing=2)
    members = [sorted(places.members.rows[a:b].tolist()) for a, b in itertools_pairs(places.members.offsets)]
    # cell 0: headings 10, 20, 15 (bin 0) and 200, 210 (bin 2); cell 1: 5, 6 (bin 0), NaN alone;
    # cell 2: 0, 0
    assert sorted(members) == [[0, 1, 9], [2, 3], [4, 5], [7, 8]]
    assert places.dropped == 1
    cell_x = {0: 0, 1: 0, 9: 0, 2: 0, 3: 0, 4: 1, 5: 1, 7: 2, 8: 2}
    for place, rows in enumerate(members):
        assert places.subgrid[place] == (cell_x[rows[0]] % 2) * 2  # north 0: cell y 0
    with pytest.raises(DataError, match="no place"):
        find_places(east, north, heading, cell_m=1, heading_deg=90, min_images=3, spacing=1)


def itertools_pairs(offsets):
    return itertools.pairwise(offsets)


def test_batches_draw_distinct_places_of_one_subgrid_and_distinct_images():
    rng = np.random.default_rng(0)
    east, north = rng.uniform(0, 200, 3000), rng.uniform(0, 200, 3000)
    places = find_places(east, north, None, cell_m=10, heading_deg=None, min_images=4, spacing=3)
    batches = sample_place_batches(places, 20, 8, 4, np.random.default_rng(1))
    place_of_row = np.full(3000, -1)
    for p, (a, b) in enumerate(itertools_pairs(places.members.offsets)):
        place_of_row[places.members.rows[a:b]] = p
    for rows, labels in batches:
        assert len(rows) == len(labels) == 32
        assert len(set(rows.tolist())) == 32  # no image twice
        assert (place_of_row[rows] == labels).all()
        assert len(set(labels.tolist())) == 8 and (np.bincount(labels)[labels] == 4).all()
        assert len(set(places.subgrid[labels].tolist())) == 1
        # two places of one sub-grid are at least (spacing - 1) cells apart
        cx, cy = np.floor(east[rows] / 10), np.floor(north[rows] / 10)
        far = (labels[:, None] != labels[None, :]) & (
            (np.abs(cx[:, None] - cx[None, :]) < 3) & (np.abs(cy[:, None] - cy[None, :]) < 3)
        )
        assert not far.any()
    again = sample_place_batches(places, 20, 8, 4, np.random.default_rng(1))
    assert all((a[0] == b[0]).all() for a, b in zip(batches, again, strict=True))


def test_learning_rate_warms_up_then_steps_down(tmp_path):
    from vprkit_boq.places import Places
    from vprkit_boq.trainer import PlaceBatchTrainer

    from vprkit.training.data import GroupData

    cfg = BoQTrainingConfig(warmup_epochs=2, milestones=[2, 4], iterations_per_epoch=5, device="cpu")
    places = Places(GroupData(np.arange(4), np.array([0, 2, 4])), np.zeros(2, dtype=np.int64), 0)
    trainer = PlaceBatchTrainer(torch.nn.Linear(2, 2), None, places, cfg, tmp_path)
    assert math.isclose(trainer.learning_rate(0, 0), 1e-4 / 10)
    assert math.isclose(trainer.learning_rate(1, 4), 1e-4)
    assert math.isclose(trainer.learning_rate(2, 0), 1e-5)
    assert math.isclose(trainer.learning_rate(5, 3), 1e-6)


# ------------------------------------------------------------------------------ the network
def test_aggregator_is_row_wise_and_channel_major():
    torch.manual_seed(0)
    agg = BoQAggregator(in_channels=8, proj_channels=16, num_queries=3, num_layers=2, row_dim=5, num_heads=2).eval()
    features = torch.randn(2, 8, 3, 4)
    out = agg(features)
    assert out.shape == (2, 80) and torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-6)
    # by hand: the blocks' outputs concatenated (B, 6, 16), the fc over the 6 for every channel
    tokens = agg.tokens(features)
    assert tokens.shape == (2, 12, 16)
    outs = []
    for block in agg.blocks:
        tokens, o = block(tokens)
        outs.append(o)
    bag = torch.cat(outs, dim=1)
    rows = torch.einsum("bqc,rq->bcr", bag, agg.row_proj.weight) + agg.row_proj.bias
    assert torch.allclose(out, torch.nn.functional.normalize(rows.reshape(2, 80), dim=1), atol=1e-6)
    # the queries' self-attention is shared by the batch: one image alone gives the same descriptor
    assert torch.allclose(agg(features[1:]), out[1:], atol=1e-6)
    maps = agg.attention_maps(features)
    assert [m.shape for m in maps] == [(2, 3, 12)] * 2
    assert torch.allclose(maps[0].sum(dim=2), torch.ones(2, 3), atol=1e-6)


def test_config_defaults_are_the_resnet50_release():
    cfg = BoQRetrieverConfig()
    shape = (cfg.backbone, cfg.proj_channels, cfg.num_queries, cfg.num_layers, cfg.row_dim)
    assert shape == ("resnet50", 512, 64, 2, 32)
    assert cfg.heads == 8 and cfg.descriptor_dim == 16384
    assert (cfg.test_transform.resize, cfg.test_transform.size) == ("square", 384)
    dino = BoQRetrieverConfig(backbone="dinov2_vitb14", proj_channels=384)
    assert (dino.test_transform.resize, dino.test_transform.size) == ("square", 322) and dino.heads == 6
    assert dino.training.image_size == 224  # the authors' DINOv2 training size
    with pytest.raises(ValueError, match="multiples of 14"):
        BoQRetrieverConfig(backbone="dinov2_vitb14", proj_channels=384, training={"image_size": 320})
    assert BoQRetrieverConfig(backbone="tinycnn").test_transform.resize == "none"
    given = BoQRetrieverConfig(backbone="resnet50", test_transform={"resize": "square", "size": 320})
    assert given.test_transform.size == 320
    with pytest.raises(ValueError, match="divisible"):
        BoQRetrieverConfig(proj_channels=96, num_heads=5)


@pytest.mark.parametrize(("name", "channels"), [("resnet18", 256), ("resnet50", 1024)])
def test_resnet_is_cut_after_layer3_and_trains_layer3(name, channels):
    torch.manual_seed(0)
    model = BoQRetriever(BoQRetrieverConfig(backbone=name, proj_channels=64, num_queries=2, row_dim=2))
    backbone = model.net.backbone
    assert not any(k.startswith("layer4.") for k in backbone.state_dict())
    assert backbone.forward_features(torch.randn(1, 3, 64, 96)).shape == (1, channels, 4, 6)
    trainable = {k.split(".")[0] for k, p in backbone.named_parameters() if p.requires_grad}
    assert trainable == {"layer3"}
    assert model.encode(torch.randn(2, 3, 64, 64)).shape == (2, 128)


def test_tiny_dinov2_boq_encodes_unit_descriptors():
    torch.manual_seed(0)
    cfg = BoQRetrieverConfig(
        backbone="vit_base_patch14_dinov2",
        vit_depth=2,
        vit_embed_dim=48,
        vit_num_heads=4,
        trainable_blocks=1,
        proj_channels=32,
        num_queries=4,
        row_dim=3,
        num_heads=2,
    )
    model = BoQRetriever(cfg)
    desc = model.encode(torch.randn(2, 3, 56, 56))
    assert desc.shape == (2, 96) == (2, model.descriptor_dim)
    assert torch.allclose(desc.norm(dim=1), torch.ones(2), atol=1e-5)
    assert model.net.backbone.forward_features(torch.randn(1, 3, 56, 56)).shape == (1, 48, 4, 4)
    trainable = [n for n, p in model.net.backbone.named_parameters() if p.requires_grad]
    # the last block (and the final norm, which BoQ's patch tokens skip)
    assert any(n.startswith("model.blocks.1.") for n in trainable)
    assert all(n.startswith(("model.blocks.1.", "model.norm.")) for n in trainable)


# ------------------------------------------------------------------------------ training
def test_interrupted_run_resumes_exactly(synthcity_tiny, tmp_path, monkeypatch):
    from vprkit.training.api import train_model

    options = [*FAST, "training.epochs=2", "training.warmup_epochs=1", "training.milestones=[1]"]
    full = train_model("retriever", "boq", synthcity_tiny, tmp_path / "full", overrides=options)
    assert full.training_summary["training_places"] > 8
    assert [h["epoch"] for h in full.training_summary["history"]] == [0, 1]

    import vprkit_boq.trainer as trainer_mod

    class Crash(RuntimeError):
        pass

    def crash(epoch, step):
        if (epoch, step) == (1, 0):
            raise Crash

    original = trainer_mod.PlaceBatchTrainer.__init__

    def patched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.on_iteration = crash

    monkeypatch.setattr(trainer_mod.PlaceBatchTrainer, "__init__", patched)
    with pytest.raises(Crash):
        train_model("retriever", "boq", synthcity_tiny, tmp_path / "cut", overrides=options)
    monkeypatch.setattr(trainer_mod.PlaceBatchTrainer, "__init__", original)
    resumed = train_model("retriever", "boq", synthcity_tiny, tmp_path / "cut", overrides=options, resume=True)
    assert resumed.fingerprint() == full.fingerprint()
    assert [h["loss"] for h in resumed.training_summary["history"]] == [
        h["loss"] for h in full.training_summary["history"]
    ]
    with pytest.raises(ConfigError, match="img_per_place"):
        train_model(
            "retriever",
            "boq",
            synthcity_tiny,
            tmp_path / "cut",
            resume=True,
            overrides=[*options, "training.epochs=3", "training.img_per_place=3"],
        )


# ------------------------------------------------------------------------------ pipeline
def test_boq_is_the_second_stage_of_a_dnc_pipeline(synthcity_tiny, tmp_path_factory, tmp_path):
    """D&C's top cells restrict BoQ's retrieval to the database rows in them; the bundle reloads."""
    from retriever_pipeline import check_behind_dnc

    from vprkit import create_retriever

    torch.manual_seed(0)
    retriever = create_retriever("boq", backbone="tinycnn", proj_channels=16, num_queries=4, row_dim=2, num_heads=2)
    check_behind_dnc(retriever, synthcity_tiny, tmp_path_factory, tmp_path)
