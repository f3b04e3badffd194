"""Query sets (``vprkit run --queries``), the benchmark protocol of a prepared folder, and
per-query predictions, on an SF-XL-shaped folder with four query sets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from commands import run_args
from PIL import Image
from typer.testing import CliRunner

from vprkit import create_classifier, create_partitioner, create_retriever
from vprkit.cli import build_app
from vprkit.data.dataset_protocol import DATASET_MARKER
from vprkit.data.filenames import format_filename
from vprkit.data.standard import load_split

SETS = ("queries_v1", "queries_v2", "queries_night", "queries_occlusion")
runner = CliRunner()


def _write(folder, points, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for e, n in points:
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
            folder / format_filename(e, n, 10, "S", None, None, heading=float(rng.choice([0, 90, 180])), ext=".png")
        )


@pytest.fixture(scope="module")
def sfxl_like(tmp_path_factory):
    """``images/{train, test/database, test/queries_v1|v2|night|occlusion}`` and two tiny models."""
    root = tmp_path_factory.mktemp("sfxl_like")
    rng = np.random.default_rng(0)
    origin = np.array([550_000.0, 4_180_000.0])
    _write(root / "images" / "train", origin + rng.uniform(0, 120, (300, 2)).round(2), 0)
    _write(root / "images" / "test" / "database", origin + rng.uniform(0, 120, (60, 2)).round(2), 1)
    for i, name in enumerate(SETS):
        _write(root / "images" / "test" / name, origin + rng.uniform(0, 120, (4 + i, 2)).round(2), 2 + i)
    train = load_split(root, "train")
    partition = create_partitioner("dnc", min_images_per_class=2).fit(train.east, train.north)
    torch.manual_seed(0)
    models = tmp_path_factory.mktemp("models")
    create_classifier("dnc", backbone="tinycnn", test_transform={"resize": "none"}).build(partition).save(
        models / "dnc"
    )
    create_retriever("cosplace", backbone="tinycnn").save(models / "cosplace")
    return root, models


def _run(root, models, *extra):
    return runner.invoke(build_app(), run_args(models / "dnc", models / "cosplace", root, "--topn", "4", *extra))


def test_all_query_sets_give_one_row_each(sfxl_like, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    root, models = sfxl_like
    result = _run(root, models, "--queries", "all", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [r["query_set"] for r in reports] == sorted(SETS)  # a folder of no known dataset: by name
    assert [r["queries"] for r in reports] == [6, 7, 4, 5]  # night, occlusion, v1, v2
    assert len({r["config"]["bundle"] for r in reports}) == 1  # one bundle, built once
    table = _run(root, models)  # the default is every set
    assert table.exit_code == 0, table.output
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows[:4]] == ["night", "occlusion", "v1", "v2"]


def test_chosen_and_unknown_query_sets(sfxl_like, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    root, models = sfxl_like
    result = _run(root, models, "--queries", "v1", "--queries", "queries_occlusion", "--json")
    assert result.exit_code == 0, result.output
    assert [r["query_set"] for r in json.loads(result.stdout)] == ["queries_v1", "queries_occlusion"]
    missing = _run(root, models, "--queries", "v3")
    assert missing.exit_code != 0
    message = str(missing.exception)
    assert "no query set 'v3'" in message and "queries_night, queries_occlusion, queries_v1, queries_v2" in message
    # refused before anything was built: only the first run's bundle is in the cache
    assert len([p for p in (tmp_path / "cache" / "bundles").iterdir() if not p.name.startswith(".")]) == 1


def test_a_prepared_folder_applies_its_protocol(sfxl_like, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    root, models = sfxl_like
    (root / DATASET_MARKER).write_text(json.dumps({"dataset": "sfxl"}))
    try:
        result = _run(root, models, "--json")
        assert result.exit_code == 0, result.output
        reports = json.loads(result.stdout)
        assert [r["query_set"] for r in reports] == list(SETS)  # the dataset's own order
        assert reports[0]["protocol"] == {"dataset": "sfxl", "radius_m": 25.0, "published_queries": 1000}
        shown = runner.invoke(build_app(), ["datasets", "show", str(root), "--json"])
        info = json.loads(shown.stdout)
        assert info["dataset"] == "sfxl" and info["query_sets"]["test"] == sorted(SETS)
        assert {s["split"]: s["published"] for s in info["splits"]}["test/queries_night"] == 466
        text = _run(root, models)
        assert "the benchmark publishes 1000" in text.stderr
    finally:
        (root / DATASET_MARKER).unlink()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_predictions_file_agrees_with_the_report(sfxl_like, tmp_path, monkeypatch, suffix):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    root, models = sfxl_like
    out = tmp_path / f"predictions{suffix}"
    result = _run(root, models, "--predictions", str(out), "--json", "--k", "5")
    assert result.exit_code == 0, result.output
    reports = {r["query_set"]: r for r in json.loads(result.stdout)}
    if suffix == ".json":
        records = json.loads(out.read_text())
        assert len(records) == sum(r["queries"] for r in reports.values())
        for name, report in reports.items():
            mine = [r for r in records if r["query_set"] == name]
            for n in (1, 5):
                share = 100 * np.mean([any(p["hit"] for p in r["places"][:n]) for r in mine])
                assert share == pytest.approx(report["lr"][str(n)], abs=0.01)
            assert all(len(r["top_cells"]) == 4 and len(r["places"]) == 5 for r in mine)
    else:
        rows = list(csv.DictReader(out.open()))
        first = [r for r in rows if r["rank"] == "1"]
        assert len(first) == sum(r["queries"] for r in reports.values())
        for name, report in reports.items():
            hits = [int(r["hit"]) for r in first if r["query_set"] == name]
            assert 100 * np.mean(hits) == pytest.approx(report["lr"]["1"], abs=0.01)
        assert all(len(r["top_cells"].split(";")) == 4 for r in first)
        assert all(float(r["distance_m"]) >= 0 for r in rows)


def test_predictions_need_a_known_format(sfxl_like, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    root, models = sfxl_like
    result = _run(root, models, "--predictions", str(tmp_path / "p.txt"))
    assert result.exit_code != 0 and ".csv or .json" in str(result.exception)
    assert not (tmp_path / "cache" / "bundles").exists()
