"""Issue 18: the floors a trained pipeline must beat — chance (``chance_lr`` in every report) and
the untrained models (``vprkit run --untrained``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from commands import run_args
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.pipeline.evaluate import chance_recall
from vprkit.pipeline.models import load_model, shipped_checkpoint


def test_chance_recall_is_the_exact_hypergeometric_probability():
    # 5 database rows; query 0 has rows 0 and 1 within 25 m, query 1 none
    database = np.array([[0.0, 0.0], [10.0, 0.0], [500.0, 0.0], [600.0, 0.0], [700.0, 0.0]])
    queries = np.array([[5.0, 0.0], [2000.0, 0.0]])
    chance = chance_recall(queries, database, (1, 2, 4, 10), 25.0)
    # query 0: 1 − C(3, N) / C(5, N): N=1 → 2/5, N=2 → 1 − 3/10, N=4 → 1 (only 3 misses); query 1: 0
    assert chance["1"] == pytest.approx(100 * 0.4 / 2, abs=1e-3)
    assert chance["2"] == pytest.approx(100 * 0.7 / 2, abs=1e-3)
    assert chance["4"] == pytest.approx(50.0) and chance["10"] == pytest.approx(50.0)


@pytest.mark.parametrize(("kind", "name"), [("classifier", "dnc"), ("retriever", "cosplace")])
def test_reset_weights_is_seeded_and_leaves_the_global_rng_alone(kind, name):
    model = load_model(shipped_checkpoint(kind, name))  # trained weights
    trained = model.fingerprint()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model.reset_weights(0)
    assert torch.equal(torch.get_rng_state(), before)
    first = model.fingerprint()
    model.reset_weights(0)
    assert model.fingerprint() == first != trained


def test_run_untrained_reports_its_floor_next_to_chance(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    app = build_app()
    base = run_args(tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace", synthcity_tiny, "--json")
    trained = CliRunner().invoke(app, base)
    untrained = CliRunner().invoke(app, [*base, "--untrained"])
    assert trained.exit_code == 0 and untrained.exit_code == 0, untrained.output
    a, b = json.loads(trained.stdout)[0], json.loads(untrained.stdout)[0]
    assert (a["config"]["untrained"], b["config"]["untrained"]) == (False, True)
    assert a["config"]["bundle"] != b["config"]["bundle"]  # other weights, another map
    assert a["chance_lr"] == b["chance_lr"] and 0 < a["chance_lr"]["1"] <= a["chance_lr"]["20"] <= 100
    refused = CliRunner().invoke(app, ["run", "--bundle", a["config"]["bundle"], "--untrained"])
    assert refused.exit_code != 0 and "--untrained" in str(refused.exception)
