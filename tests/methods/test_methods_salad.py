"""SALAD: the Sinkhorn plan's marginals, the descriptor layout, the sizes rule (multiples of 14),
the config's defaults, and a D&C top-N pipeline with a tiny SALAD retriever on synthcity tiny.
(Equality with SALAD written from the paper: tests/models/test_models_salad_release.py.)"""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from tiny_models import SALAD_TINY
from vprkit_salad.config import SALADRetrieverConfig
from vprkit_salad.retriever import SALADRetriever, nearest_patch_multiple
from vprkit_salad.salad import SALADAggregation, sinkhorn_log_plan
from vprkit_salad.train import salad_train_transform

from vprkit.config import build_config
from vprkit.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = SALAD_TINY


def test_sinkhorn_columns_carry_one_and_rows_converge_to_the_masses():
    torch.manual_seed(0)
    n, m = 12, 5
    scores = torch.randn(2, m, n, dtype=torch.float64)
    dustbin = torch.tensor(0.5, dtype=torch.float64)
    for iterations in (1, 3):  # the last step normalises the columns: each feature gives out 1
        plan = sinkhorn_log_plan(scores, dustbin, iterations).exp()
        torch.testing.assert_close(plan.sum(dim=1), torch.ones(2, n, dtype=torch.float64))
    converged = sinkhorn_log_plan(scores, dustbin, 500).exp()
    rows = torch.tensor([1.0] * m + [n - m], dtype=torch.float64)  # a cluster takes 1, the dustbin n − m
    torch.testing.assert_close(converged.sum(dim=2), rows.expand(2, -1), rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="at least as many patches as clusters"):
        sinkhorn_log_plan(torch.zeros(1, 5, 4), torch.tensor(1.0), 3)


def test_descriptor_is_the_token_then_unit_clusters_dimension_major():
    torch.manual_seed(0)
    agg = SALADAggregation(32, num_clusters=3, cluster_dim=4, token_dim=8, hidden_dim=16).eval()
    patch_map, class_token = torch.randn(2, 32, 4, 5), torch.randn(2, 32)
    with torch.no_grad():
        desc = agg(patch_map, class_token)
        token = torch.nn.functional.normalize(agg.token_features(class_token), dim=1)
        features = agg.cluster_features(patch_map).flatten(2)  # (B, l, n)
        plan = agg.assignment(patch_map)  # (B, m, n)
    assert desc.shape == (2, 20) == (2, agg.dim)
    torch.testing.assert_close(desc.norm(dim=1), torch.ones(2))
    # [g, V] / √2: the token and every cluster vector are unit vectors before the global L2
    scale = (1 + 3) ** 0.5
    torch.testing.assert_close(desc[:, :8] * scale, token)
    clusters = (desc[:, 8:] * scale).reshape(2, 4, 3)  # entry j·m + k is dimension j of cluster k
    expected = torch.nn.functional.normalize(torch.einsum("bln,bmn->blm", features, plan), dim=1)
    torch.testing.assert_close(clusters, expected)
    assert SALADAggregation(768).dim == 8448  # the authors' 64 × 128 + 256


def test_images_are_resized_to_the_nearest_multiple_of_14():
    assert [nearest_patch_multiple(s) for s in (64, 48, 50, 322, 5)] == [70, 42, 56, 322, 14]
    model = SALADRetriever(build_config(SALADRetrieverConfig, TINY, {"test_transform": {"resize": "none"}}))
    assert model.transform(Image.new("RGB", (64, 64))).shape == (3, 70, 70)
    assert model.transform(Image.new("RGB", (90, 48))).shape == (3, 42, 84)
    default = SALADRetriever(build_config(SALADRetrieverConfig, TINY))  # the authors' 322 × 322
    assert default.transform(Image.new("RGB", (640, 480))).shape == (3, 322, 322)
    assert salad_train_transform("salad", 42)(Image.new("RGB", (64, 64))).shape == (3, 42, 42)
    with pytest.raises(ConfigError, match="multiples of 14"):
        model.encode(torch.randn(1, 3, 64, 64))  # a tensor that skipped the transform


def test_defaults_are_the_authors_model_and_training_sizes_must_fit_the_patches():
    cfg = SALADRetrieverConfig()
    assert (cfg.backbone, cfg.trainable_blocks, cfg.descriptor_dim) == ("vit_base_patch14_dinov2", 4, 8448)
    assert (cfg.sinkhorn_iterations, cfg.dropout, cfg.dustbin_init, cfg.hidden_dim) == (3, 0.3, 1.0, 512)
    assert (cfg.test_transform.resize, cfg.test_transform.size, cfg.training.image_size) == ("square", 322, 224)
    assert cfg.pretrained is False
    with pytest.raises(ConfigError, match="multiple of DINOv2"):
        build_config(SALADRetrieverConfig, {}, {"training": {"image_size": 64}})
    model = SALADRetriever(build_config(SALADRetrieverConfig, {**TINY, "vit_depth": 2, "trainable_blocks": 1}))
    trainable = {n.split(".")[2] for n, p in model.net.backbone.named_parameters() if p.requires_grad}
    assert trainable == {"1", "weight", "bias"}  # model.blocks.1.* and model.norm.{weight, bias}
    assert all(p.requires_grad for p in model.net.aggregation.parameters())


def test_salad_is_the_second_stage_of_a_dnc_pipeline(synthcity_tiny, tmp_path_factory, tmp_path):
    """D&C's top cells restrict SALAD's retrieval to the database rows in them; the bundle reloads."""
    from retriever_pipeline import check_behind_dnc

    from vprkit import create_retriever

    torch.manual_seed(0)
    retriever = create_retriever("salad", **TINY, test_transform={"resize": "none"})  # 64 × 64 → 70 × 70
    check_behind_dnc(retriever, synthcity_tiny, tmp_path_factory, tmp_path)
