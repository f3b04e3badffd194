"""`vprkit run` and `vprkit index build` as a user calls them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.errors import ConfigError


@pytest.fixture
def model_dirs(tiny_model_dirs):
    return tiny_model_dirs


def test_run_json_has_the_documented_keys(synthcity_tiny, model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    args = ["run", "--classifier", str(model_dirs / "dnc"), "--retriever", str(model_dirs / "cosplace"),
            "--topn", "3", "--dataset", str(synthcity_tiny), "--json"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)  # one report per query set; synthcity has one
    assert report["query_set"] == "queries"
    assert set(report["lr"]) == {"1", "5", "10", "20"}
    assert set(report["latency_ms"]) == {"extract", "classify", "gather", "knn", "total"}
    for key in ("candidates", "database_size", "queries", "config"):
        assert key in report
    assert report["config"]["classifier"] == "dnc" and report["config"]["topn"] == 3
    # The second run reuses the cached bundle and gives the same accuracy.
    [again] = json.loads(CliRunner().invoke(build_app(), args).stdout)
    assert again["lr"] == report["lr"] and again["config"]["bundle"] == report["config"]["bundle"]


def test_shipped_checkpoints_refuse_another_dataset(synthcity_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(build_app(), ["run", "--dataset", str(synthcity_tiny), "--retriever", "none"])
    assert result.exit_code != 0
    assert "trained on synthcity" in str(result.exception)


def test_index_build_then_localize_with_a_map(synthcity_tiny, model_dirs, tmp_path):
    runner = CliRunner()
    bundle = tmp_path / "bundle"
    result = runner.invoke(build_app(), ["index", "build", "--out", str(bundle), "--dataset", str(synthcity_tiny),
                                         "--classifier", str(model_dirs / "dnc"), "--retriever", str(model_dirs / "cosplace"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["manifest"]["database"]["count"] > 0
    query = sorted((synthcity_tiny / "images" / "test" / "queries").glob("*.png"))[0]
    png = tmp_path / "map.png"
    result = runner.invoke(build_app(), ["localize", str(query), "--bundle", str(bundle), "--topn", "3", "--k", "4",
                                         "--png", str(png), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["utm_zone"] and -90 <= record["lat"] <= 90 and -180 <= record["lon"] <= 180
    assert len(record["places"]) == 4 and record["places"][0]["rank"] == 1
    assert record["confidence_std_m"] is not None and record["candidates"] > 0
    assert png.stat().st_size > 10_000
    # an inference setting of the classifier changes the scan, not the answer
    again = runner.invoke(build_app(), ["localize", str(query), "--bundle", str(bundle), "--topn", "3", "--k", "4",
                                        "--classifier-set", "score_precision=bf16", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)[0]["places"] == record["places"]


def test_localize_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    image = tmp_path / "q.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    result = CliRunner().invoke(build_app(), ["localize", str(image), "--bundle", str(tmp_path)])
    assert result.exit_code != 0 and "not a map bundle" in str(result.exception)


def test_classifier_inference_settings_change_the_scan_not_the_result(synthcity_tiny, model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    base = ["run", "--classifier", str(model_dirs / "dnc"), "--retriever", "none", "--dataset", str(synthcity_tiny),
            "--json"]
    runner = CliRunner()
    [exact] = json.loads(runner.invoke(build_app(), base).stdout)
    result = runner.invoke(build_app(), [*base, "--classifier-set", "score_precision=bf16"])
    assert result.exit_code == 0, result.output
    [fast] = json.loads(result.stdout)
    assert fast["config"]["classifier_settings"]["score_precision"] == "bf16"
    assert exact["config"]["classifier_settings"]["score_precision"] == "float32"
    assert fast["lr"] == exact["lr"] and fast["config"]["bundle"] == exact["config"]["bundle"]  # same bundle reused


@pytest.mark.parametrize(("setting", "message"), [("score_mode=cosine", "not an inference setting"),
                                                   ("score_precision=int3", "score_precision='int3'"),
                                                   ("score_precision", "key=value")])
def test_classifier_set_refuses_what_is_not_an_inference_setting(synthcity_tiny, model_dirs, tmp_path, monkeypatch,
                                                                 setting, message):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(build_app(), ["run", "--classifier", str(model_dirs / "dnc"), "--retriever", "none",
                                              "--dataset", str(synthcity_tiny), "--classifier-set", setting])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)
