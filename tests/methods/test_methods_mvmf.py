"""MvMF: Gaussian-in-UTM limit of the vMF mixture, float64 log-sum-exp, weight and density ranking."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from classifier_testdata import trained_classifier
from vprkit_mvmf.classifier import (
    EARTH_RADIUS_M,
    MixtureNLL,
    cell_edge_m,
    component_sigmas,
    log_gaussians,
)

from vprkit.training.api import resolve_training_config


def test_sigma_puts_the_configured_mass_within_one_cell_edge():
    levels = np.array([10, 19, 22])
    sigma = component_sigmas(levels, 0.5)
    edge = cell_edge_m(levels)
    assert 15 < edge[1] < 20  # S2 level 19 cells are ~16 m
    np.testing.assert_allclose(1 - np.exp(-(edge**2) / (2 * sigma**2)), 0.5)
    rng = np.random.default_rng(0)
    pts = rng.normal(0, sigma[1], (200_000, 2))
    assert abs((np.hypot(*pts.T) < edge[1]).mean() - 0.5) < 0.005


def test_gaussian_limit_matches_the_vmf_density_on_the_sphere():
    sigma = 12.0
    kappa = (EARTH_RADIUS_M / sigma) ** 2  # ~2.8e11: float32 1 − μᵀy would be 0 at these distances
    d = np.array([0.5, 5.0, 20.0, 40.0])
    # vMF on the unit sphere per steradian, κ(μᵀy − 1) with 1 − cos = 2 sin²(θ/2) (stable), → per m²
    log_vmf = np.log(kappa / (2 * np.pi)) - kappa * 2 * np.sin(d / EARTH_RADIUS_M / 2) ** 2 - 2 * np.log(EARTH_RADIUS_M)
    got = log_gaussians(
        torch.tensor([[0.0, 0.0]], dtype=torch.float64).expand(4, 2) + torch.tensor(np.stack([d, 0 * d], 1)),
        torch.zeros(1, 2, dtype=torch.float64),
        torch.tensor([sigma], dtype=torch.float64),
    )[:, 0]
    np.testing.assert_allclose(got.numpy(), log_vmf, rtol=1e-9, atol=1e-9)


def test_mixture_nll_is_float64_log_sum_exp():
    head = torch.nn.ModuleList([torch.nn.Linear(4, 3)])
    mu = torch.tensor(
        [[549_000.0, 4_178_000.0], [549_030.0, 4_178_000.0], [551_000.0, 4_178_000.0]], dtype=torch.float64
    )
    sigma = torch.tensor([5.0, 10.0, 0.001], dtype=torch.float64)  # the last one underflows any float32 density
    pos = np.array([[549_001.0, 4_178_000.5], [551_000.0001, 4_178_000.0]])
    nll = MixtureNLL(head, pos[:, 0], pos[:, 1], mu, sigma)
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    got = nll(x, torch.tensor([0, 1]))
    log_pi = F.log_softmax(head[0](x).double(), 1).detach().numpy()
    d2 = ((pos[:, None] - mu.numpy()[None]) ** 2).sum(-1)
    log_n = -d2 / (2 * sigma.numpy() ** 2) - np.log(2 * np.pi * sigma.numpy() ** 2)
    terms = log_pi + log_n
    peak = terms.max(1, keepdims=True)
    want = -(peak[:, 0] + np.log(np.exp(terms - peak).sum(1))).mean()
    assert got.dtype == torch.float64 and math.isfinite(float(got.detach()))
    np.testing.assert_allclose(float(got.detach()), want, rtol=1e-12)
    got.backward()
    assert torch.isfinite(head[0].weight.grad).all()


def test_mvmf_weight_and_density_rankings(synthcity_tiny, tmp_path_factory):
    model, _ = trained_classifier("mvmf", synthcity_tiny, tmp_path_factory)
    cfg = resolve_training_config("classifier", "mvmf")
    assert (cfg.mass_within_edge, cfg.prediction, cfg.partition.tau_min, cfg.partition.tau_max) == (
        0.5,
        "weight",
        100,
        2500,
    )
    x = F.normalize(torch.randn(3, model.descriptor_dim, generator=torch.Generator().manual_seed(4)), dim=1)
    log_pi = F.log_softmax(model.heads[0](x).double(), 1)
    by_weight = model.classify_descriptors(x, 3)
    assert np.array_equal(by_weight.classes, torch.argsort(log_pi, 1, descending=True)[:, :3].numpy())
    np.testing.assert_allclose(by_weight.coords, model.partition.class_coords[by_weight.classes])  # μ of the components

    model.config = model.config.model_copy(update={"prediction": "density", "density_cutoff_sigmas": 40.0})
    model._pairs = None
    try:
        sparse = model.class_scores(x)
        dense = torch.logsumexp(log_pi[:, None, :] + log_gaussians(model.mu, model.mu, model.sigma)[None], dim=2)
        torch.testing.assert_close(sparse, dense.detach(), rtol=1e-9, atol=1e-9)
    finally:
        model.config = model.config.model_copy(update={"prediction": "weight", "density_cutoff_sigmas": 5.0})
        model._pairs = None


def test_mvmf_starts_from_a_planet_model(synthcity_tiny, tmp_path_factory, tmp_path):
    from vprkit_mvmf.classifier import MvMFClassifier

    planet, planet_dir = trained_classifier("planet", synthcity_tiny, tmp_path_factory)
    cfg = resolve_training_config(
        "classifier",
        "mvmf",
        overrides=["backbone=tinycnn", "partition.tau_min=5", "partition.tau_max=60", f"init_from={planet_dir}"],
    )
    model = MvMFClassifier(cfg)
    model.build(planet.partition)
    model.initialise()
    for a, b in zip(model.net.state_dict().values(), planet.net.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(model.heads[0].weight, planet.heads[0].weight)
