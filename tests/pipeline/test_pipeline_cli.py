"""`vprkit run` and `vprkit index build` as a user calls them."""

from __future__ import annotations

import json

import pytest
from commands import run_args
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.errors import ConfigError


@pytest.fixture
def model_dirs(tiny_model_dirs):
    return tiny_model_dirs


def test_run_json_has_the_documented_keys(synthcity_tiny, model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    args = run_args(model_dirs / "dnc", model_dirs / "cosplace", synthcity_tiny, "--topn", "3", "--json")
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
    result = runner.invoke(
        build_app(),
        [
            "index",
            "build",
            "--out",
            str(bundle),
            "--dataset",
            str(synthcity_tiny),
            "--classifier",
            str(model_dirs / "dnc"),
            "--retriever",
            str(model_dirs / "cosplace"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["manifest"]["database"]["count"] > 0
    query = sorted((synthcity_tiny / "images" / "test" / "queries").glob("*.png"))[0]
    png = tmp_path / "map.png"
    result = runner.invoke(
        build_app(),
        ["localize", str(query), "--bundle", str(bundle), "--topn", "3", "--k", "4", "--png", str(png), "--json"],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["utm_zone"] and -90 <= record["lat"] <= 90 and -180 <= record["lon"] <= 180
    assert len(record["places"]) == 4 and record["places"][0]["rank"] == 1
    assert record["confidence_std_m"] is not None and record["candidates"] > 0
    assert png.stat().st_size > 10_000
    # synthcity names state the true position: the record gives it and the error in metres
    east, north = (float(v) for v in query.name.split("@")[1:3])
    assert (record["true_east"], record["true_north"]) == (east, north)
    assert abs(record["error_m"] - ((record["east"] - east) ** 2 + (record["north"] - north) ** 2) ** 0.5) < 1e-6
    assert f"map: {png}" in result.stderr
    # an inference setting of the classifier changes the scan, not the answer
    again = runner.invoke(
        build_app(),
        [
            "localize",
            str(query),
            "--bundle",
            str(bundle),
            "--topn",
            "3",
            "--k",
            "4",
            "--classifier-set",
            "score_precision=bf16",
            "--json",
        ],
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)[0]["places"] == record["places"]


def test_localize_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    image = tmp_path / "q.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    result = CliRunner().invoke(build_app(), ["localize", str(image), "--bundle", str(tmp_path)])
    assert result.exit_code != 0 and "not a map bundle" in str(result.exception)


def test_classifier_inference_settings_change_the_scan_not_the_result(
    synthcity_tiny, model_dirs, tmp_path, monkeypatch
):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    base = run_args(model_dirs / "dnc", "none", synthcity_tiny, "--json")
    runner = CliRunner()
    [exact] = json.loads(runner.invoke(build_app(), base).stdout)
    result = runner.invoke(build_app(), [*base, "--classifier-set", "score_precision=bf16"])
    assert result.exit_code == 0, result.output
    [fast] = json.loads(result.stdout)
    assert fast["config"]["classifier_settings"]["score_precision"] == "bf16"
    assert exact["config"]["classifier_settings"]["score_precision"] == "float32"
    assert fast["lr"] == exact["lr"] and fast["config"]["bundle"] == exact["config"]["bundle"]  # same bundle reused


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("score_mode=cosine", "not an inference setting"),
        ("score_precision=int3", "score_precision='int3'"),
        ("score_precision", "key=value"),
    ],
)
def test_classifier_set_refuses_what_is_not_an_inference_setting(
    synthcity_tiny, model_dirs, tmp_path, monkeypatch, setting, message
):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        build_app(), run_args(model_dirs / "dnc", "none", synthcity_tiny, "--classifier-set", setting)
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)


def test_run_pipeline_takes_a_run_config_and_returns_typed_reports(synthcity_tiny, model_dirs, tmp_path, monkeypatch):
    from vprkit.pipeline.models import CLASSIFIER_SETTINGS
    from vprkit.pipeline.run import RunConfig, run_pipeline

    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    config = RunConfig(classifier=str(model_dirs / "dnc"), retriever="none", dataset=synthcity_tiny, k=5)
    [report] = run_pipeline(config)
    loc = report.evaluation.localization
    assert loc.coords.shape == (report.evaluation.report["queries"], 5, 2)
    as_json = report.to_dict()
    assert next(iter(as_json)) == "query_set" and list(as_json)[-3:] == ["config", "protocol", "runtime"]
    json.dumps(as_json)  # JSON through and through: the localization is not in it
    # the library names its own field; the CLI names its flag
    no_classifier = RunConfig(
        classifier="none",
        retriever=str(model_dirs / "cosplace"),
        dataset=synthcity_tiny,
        classifier_settings={"score_precision": "bf16"},
    )
    with pytest.raises(ConfigError) as err:
        run_pipeline(no_classifier)
    assert err.value.field == CLASSIFIER_SETTINGS and str(err.value).startswith(CLASSIFIER_SETTINGS)
    args = run_args("none", model_dirs / "cosplace", synthcity_tiny, "--classifier-set", "score_precision=bf16")
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code != 0 and str(result.exception).startswith(
        "--classifier-set: the pipeline has no classifier"
    )


def test_pictures_leave_the_matplotlib_backend_alone(tmp_path):
    import subprocess
    import sys

    png = tmp_path / "new" / "p.png"
    code = (
        "import sys\nfrom vprkit.plotting import png_figure\n"
        f"with png_figure({str(png)!r}, figsize=(2, 2), dpi=50) as fig:\n    fig.subplots().plot([0, 1], [0, 1])\n"
        "print(sorted(m for m in sys.modules if m == 'matplotlib.pyplot'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"  # no pyplot, so no global backend chosen or switched
    assert png.stat().st_size > 100 and not list(png.parent.glob(".*"))  # written whole, no temporary left


def test_the_cli_progress_draws_a_bar_per_step_with_its_numbers_and_prints_notes():
    import io

    from rich.console import Console

    from vprkit.cli.progress import RichProgress
    from vprkit.contracts import Progress

    console = Console(file=io.StringIO(), width=140)
    with RichProgress(console) as progress:
        assert isinstance(progress, Progress)
        progress.update("epoch 0 (group 1)", 3, 10, loss=0.25, images_per_s=412.0)
        progress.note("epoch 0: loss 0.25")
        progress.update("queries", 5, None)
    text = console.file.getvalue()
    assert "epoch 0: loss 0.25" in text and "queries" in text
    assert "epoch 0 (group 1)" in text and "loss 0.2500" in text and "412 img/s" in text
    with RichProgress(console):
        pass  # nothing reported, nothing drawn
    assert console.file.getvalue() == text


def test_mmap_maps_an_existing_bundle_and_answers_the_same(
    synthcity_tiny, model_dirs, build_tiny_bundle, tmp_path, monkeypatch
):
    import numpy as np

    from vprkit.pipeline.bundle import MapBundle

    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    bundle = tmp_path / "bundle"
    build_tiny_bundle(bundle, synthcity_tiny)
    loads = []
    load = MapBundle.load.__func__

    def spy(cls, root, *, mmap=False):
        loaded = load(cls, root, mmap=mmap)
        loads.append((mmap, isinstance(loaded.store.descriptors, np.memmap)))
        return loaded

    monkeypatch.setattr(MapBundle, "load", classmethod(spy))
    runner = CliRunner()
    queries = sorted((synthcity_tiny / "images" / "test" / "queries").glob("*.png"))[:3]
    args = ["localize", *map(str, queries), "--bundle", str(bundle), "--topn", "3", "--k", "4", "--json"]
    read, mapped = runner.invoke(build_app(), args), runner.invoke(build_app(), [*args, "--mmap"])
    assert read.exit_code == 0 and mapped.exit_code == 0, read.output + mapped.output
    assert json.loads(mapped.stdout) == json.loads(read.stdout)
    assert loads == [(False, False), (True, True)]  # the store is a memory map only with --mmap
    loads.clear()
    run = run_args(model_dirs / "dnc", model_dirs / "cosplace", synthcity_tiny, "--bundle", str(bundle), "--topn", "3")
    [plain] = json.loads(runner.invoke(build_app(), [*run, "--json"]).stdout)
    [fast] = json.loads(runner.invoke(build_app(), [*run, "--mmap", "--json"]).stdout)
    assert fast["lr"] == plain["lr"] and fast["candidates"] == plain["candidates"]
    assert (plain["config"]["mmap"], fast["config"]["mmap"]) == (False, True)
    assert [m for m, _ in loads] == [False, True] and loads[1][1]
