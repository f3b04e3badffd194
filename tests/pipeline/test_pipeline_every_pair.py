"""Issue 18: every registered classifier with every registered retriever runs out of the box —
``vprkit run --classifier C --retriever R --topn 100`` with the checkpoints the plugins ship and
nothing else — parametrised over the registry, as a new user types it.

The embedded city the command generates on first use is stood in for by synthcity ``tiny`` placed
where the cache keeps it (``synthcity-small-seed0`` with its completion marker), so each pair runs
the whole default path (name → shipped checkpoint, bundle, evaluation) on 40 queries."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.pipeline.models import load_model, shipped_checkpoint, shipped_methods

#: the pairs issue 18 names; every one must ship a checkpoint
REQUIRED_CLASSIFIERS = ("dnc", "planet", "hge", "cplanet", "mvmf")
REQUIRED_RETRIEVERS = ("cosplace", "netvlad", "gem")

CLASSIFIERS = shipped_methods("classifier")
RETRIEVERS = shipped_methods("retriever")


def test_every_method_the_issue_names_ships_a_checkpoint():
    assert set(REQUIRED_CLASSIFIERS) <= set(CLASSIFIERS)
    assert set(REQUIRED_RETRIEVERS) <= set(RETRIEVERS)


@pytest.mark.parametrize(
    ("kind", "name"), [*(("classifier", c) for c in CLASSIFIERS), *(("retriever", r) for r in RETRIEVERS)]
)
def test_a_shipped_checkpoint_is_its_method_small_and_portable(kind, name):
    folder = shipped_checkpoint(kind, name)
    assert not (folder / "training").exists(), "optimizer state must not be shipped"
    size = sum(p.stat().st_size for p in folder.iterdir())
    # NetVLAD's PCA projection (512 × 4096 float32) alone is 8 MiB; everything else is under 2 MiB
    assert size < 10 * 2**20, f"{folder} holds {size} bytes"
    model = load_model(folder, kind)  # recomputes and checks every fingerprint
    assert model.name == name
    text = (folder / "manifest.json").read_text(encoding="utf-8")
    assert "/root/" not in text and "/work/" not in text and "/home/" not in text  # no machine's paths


@pytest.fixture(scope="module")
def default_city_cache(synthcity_tiny, tmp_path_factory):
    """A cache whose embedded city is synthcity tiny (its entries linked, plus the marker a
    finished generation leaves)."""
    cache = tmp_path_factory.mktemp("every_pair_cache")
    city = cache / "datasets" / "synthcity-small-seed0"
    city.mkdir(parents=True)
    for entry in synthcity_tiny.iterdir():
        os.symlink(entry, city / entry.name)
    (city / ".complete").write_text("ok\n")
    return cache


@pytest.mark.parametrize("retriever", RETRIEVERS)
@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_every_pair_runs_with_the_shipped_checkpoints(classifier, retriever, default_city_cache, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(default_city_cache))
    args = ["run", "--classifier", classifier, "--retriever", retriever, "--topn", "100", "--json"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert (report["config"]["classifier"], report["config"]["retriever"]) == (classifier, retriever)
    assert report["queries"] == 40 and 0 <= report["lr"]["1"] <= report["lr"]["20"] <= 100


#: issue 19: the third stage, each re-ranker with small offline settings (lightglue: random weights)
RERANKER_ARGS = {
    "sift": ["--rerank-k", "5"],
    "lightglue": ["--rerank-k", "1", "--reranker-set", "max_keypoints=8"],
}


def test_every_registered_reranker_is_exercised():
    from vprkit import list_rerankers

    assert set(list_rerankers()) == set(RERANKER_ARGS)


#: every classifier (and none) × every retriever × every re-ranker; the database's local features are
#: extracted once per re-ranker (the module's cache), so a run costs its 40 queries
COMBINATIONS = [(c, r, name) for name in RERANKER_ARGS for c in [*CLASSIFIERS, "none"] for r in RETRIEVERS]


@pytest.mark.parametrize(("classifier", "retriever", "reranker"), COMBINATIONS)
def test_every_classifier_retriever_reranker_runs(classifier, retriever, reranker, default_city_cache, monkeypatch):
    """Classifier (or none) × retriever × re-ranker from ``vprkit run``; ``--reranker none`` is the
    pair test above, and a re-ranker without a retriever is refused (tests/rerank)."""
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(default_city_cache))
    args = ["run", "--classifier", classifier, "--retriever", retriever, "--reranker", reranker]
    result = CliRunner().invoke(build_app(), [*args, *RERANKER_ARGS[reranker], "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert (report["config"]["classifier"], report["config"]["retriever"]) == (classifier, retriever)
    assert report["config"]["reranker"] == reranker and report["rerank"]["reranker"] == reranker
    assert report["latency_ms"]["rerank"] > 0 and "rerank" not in report["lr"]
    assert report["queries"] == 40 and 0 <= report["lr"]["1"] <= report["lr"]["20"] <= 100
