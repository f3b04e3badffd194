"""Issue 19: the rerank stage from `vprkit run`: clear one-line refusals, its own latency entry,
and a local-feature cache that is reused and resumes after a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.errors import ConfigError, UnknownNameError


def _run(*args):
    return CliRunner().invoke(build_app(), ["run", *args])


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--reranker", "sfit"], UnknownNameError, "unknown reranker 'sfit'. Did you mean 'sift'?"),
        (["--reranker", "sift", "--rerank-k", "0"], ConfigError, "--rerank-k must be at least 1, got 0"),
        (["--reranker", "sift", "--rerank-k", "-3"], ConfigError, "--rerank-k must be at least 1, got -3"),
        (["--reranker", "sift", "--retriever", "none"], ConfigError, "it needs a retriever"),
        (["--reranker", "sift", "--reranker-set", "ratio=3"], ConfigError, "ratio"),
    ],
)
def test_bad_reranker_options_are_refused_in_one_line(args, error, message, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    result = _run("--dataset", str(tmp_path / "nowhere"), *args)
    assert result.exit_code != 0 and isinstance(result.exception, error), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_the_cli_prints_the_refusal_without_a_traceback(tmp_path):
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "vprkit", "run", "--reranker", "sift", "--rerank-k", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--rerank-k must be at least 1, got 0" in proc.stderr


def test_a_run_with_a_reranker_reports_its_stage(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    base = ["--classifier", str(tiny_model_dirs / "dnc"), "--retriever", str(tiny_model_dirs / "cosplace")]
    base += ["--dataset", str(synthcity_tiny), "--threads", "1", "--json"]
    plain = json.loads(_run(*base).stdout)[0]
    assert "rerank" not in plain["latency_ms"] and "rerank" not in plain and "reranker" not in plain["config"]
    result = _run(*base, "--reranker", "sift", "--rerank-k", "30")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert set(report["latency_ms"]) == {"extract", "classify", "gather", "knn", "rerank", "total"}
    assert report["config"]["reranker"] == "sift" and report["config"]["rerank_k"] == 30
    assert report["rerank"]["queries_verified"] == 40 and report["memory_bytes"]["local_features"] > 0
    assert report["config"]["reranker_config"]["ratio"] == 0.8
    stores = [p for p in (tmp_path / "cache" / "local_features").iterdir() if p.is_dir()]
    assert len(stores) == 1 and (stores[0] / "features.json").is_file()
    again = json.loads(_run(*base, "--reranker", "sift", "--rerank-k", "30").stdout)[0]
    assert again["lr"] == report["lr"]  # deterministic, from the reused store
    assert [p for p in (tmp_path / "cache" / "local_features").iterdir() if p.is_dir()] == stores


# Extraction slowed per image so the kill lands between shards (a tiny database takes milliseconds).
_SLOW_EXTRACT = """
import sys, time
from pathlib import Path
from vprkit import create_reranker
from vprkit.data.standard import load_split
from vprkit.rerank import database_features
reranker = create_reranker("sift")
extract = reranker.extract
def slow(image):
    time.sleep(0.05)
    return extract(image)
reranker.extract = slow
db = load_split(Path(sys.argv[1]), "test/database")
database_features(reranker, db, cache=Path(sys.argv[2]), shard_images=8)
"""


class _Notes:
    def __init__(self):
        self.notes = []

    def update(self, step, done, total, **fields):
        pass

    def note(self, text):
        self.notes.append(text)


def test_the_feature_store_resumes_after_kill_9(synthcity_tiny, tmp_path):
    from vprkit import create_reranker
    from vprkit.data.standard import load_split
    from vprkit.rerank import database_features

    cache = tmp_path / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_EXTRACT, str(synthcity_tiny), str(cache)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(cache.glob("local_features/*/shards/[0-9]*.npz"))) < 2:  # finished shards only
            assert proc.poll() is None, "the extraction ended before it was killed"
            assert time.monotonic() < deadline, "the extraction never wrote a shard"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    [folder] = [p for p in (cache / "local_features").iterdir() if p.is_dir()]
    assert not (folder / "features.json").exists()  # no half store is ever read as one
    db = load_split(synthcity_tiny, "test/database")
    sift = create_reranker("sift")
    progress = _Notes()
    store = database_features(sift, db, cache=cache, progress=progress, shard_images=8)
    assert any(n.startswith("resuming the extraction") for n in progress.notes), progress.notes
    fresh = database_features(sift, db, cache=tmp_path / "fresh")
    assert np.array_equal(store.offsets, fresh.offsets)
    assert np.array_equal(store.descriptors, fresh.descriptors) and np.array_equal(store.keypoints, fresh.keypoints)
    assert np.array_equal(store.image_sizes, fresh.image_sizes)
    assert not (folder / "shards").exists() and store.count == len(db)


def test_stored_features_keep_each_image_size(synthcity_tiny, tmp_path):
    from vprkit import create_reranker
    from vprkit.data.images import open_image
    from vprkit.data.standard import load_split
    from vprkit.rerank import database_features

    db = load_split(synthcity_tiny, "test/database")
    store = database_features(create_reranker("sift"), db, cache=tmp_path / "cache", shard_images=8)
    assert store.image_sizes.shape == (len(db), 2) and (tmp_path / "cache").is_dir()
    for row in (0, len(db) // 2, len(db) - 1):
        width, height = open_image(db.root / db.path_at(row)).size
        assert store[row].image_size == (width, height)


def test_index_build_precomputes_the_features_into_the_bundle(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    models = ["--classifier", str(tiny_model_dirs / "dnc"), "--retriever", str(tiny_model_dirs / "cosplace")]
    bundle = tmp_path / "bundle"
    options = ["--dataset", str(synthcity_tiny), "--threads", "1", "--reranker", "sift", "--json"]
    built = CliRunner().invoke(build_app(), ["index", "build", "--out", str(bundle), *models, *options])
    assert built.exit_code == 0, built.output
    (store,) = json.loads(built.stdout)["local_features"]
    assert Path(store).parent == bundle / "local_features" and (Path(store) / "features.json").is_file()
    result = _run("--bundle", str(bundle), "--reranker", "sift", "--threads", "1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert report["config"]["local_features"] == store  # the bundle's, not extracted again
    assert not (tmp_path / "cache" / "local_features").exists()
    # another re-ranker config is other features: refused nowhere, extracted into the cache
    other = _run("--bundle", str(bundle), "--reranker", "sift", "--reranker-set", "upscale=2", "--json")
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)[0]["config"]["local_features"].startswith(str(tmp_path / "cache"))


def test_cache_list_and_clean_see_the_local_features(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    base = ["--classifier", "none", "--retriever", str(tiny_model_dirs / "cosplace")]
    assert _run(*base, "--dataset", str(synthcity_tiny), "--reranker", "sift", "--json").exit_code == 0
    listed = CliRunner().invoke(build_app(), ["cache", "list", "--kind", "local_features", "--json"])
    (entry,) = json.loads(listed.stdout)
    assert entry["what"].startswith("sift: ") and entry["size_bytes"] > 0
    cleaned = CliRunner().invoke(build_app(), ["cache", "clean", "--all", "--kind", "local_features", "--json"])
    assert [e["path"] for e in json.loads(cleaned.stdout)["removed"]] == [entry["path"]]
    assert not any(p.is_dir() for p in (tmp_path / "cache" / "local_features").iterdir())
