"""Issue 18: what an index derived from the data (ivfpq's nlist on a small database) is in the run
report and the bundle's manifest, not only on stderr; a partition without classes is refused."""

from __future__ import annotations

import json

from commands import run_args
from typer.testing import CliRunner

from vprkit.cli import build_app


def test_the_run_report_records_the_settings_the_index_ran_with(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    args = run_args("none", tiny_model_dirs / "cosplace", synthcity_tiny, "--index", "ivfpq", "--set", "m=8", "--json")
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)[0]["config"]
    assert config["index_config"] == {"m": 8}  # what was asked
    settings = config["index_settings"]  # what ran: the paper's 1000 lists do not fit a tiny database
    assert settings["nlist"] == 1000 and 1 <= settings["nlist_effective"] < 1000
    assert settings["nprobe_effective"] <= settings["nlist_effective"] and settings["m"] == 8
    manifest = json.loads(next((tmp_path / "cache" / "bundles").glob("[!.]*/manifest.json")).read_text())
    assert manifest["index"]["settings"] == settings


def test_a_partition_without_classes_is_refused(synthcity_tiny):
    result = CliRunner().invoke(
        build_app(),
        ["partition", "-p", "dnc", "--dataset", str(synthcity_tiny), "--set", "min_images_per_class=100000"],
    )
    assert result.exit_code != 0
    assert "made no classes" in str(result.exception) and "min" in str(result.exception)
