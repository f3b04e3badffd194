"""``vprkit train``: a few iterations on the tiny dataset through the real CLI, then --resume."""

from __future__ import annotations

import json

from quick_training import GROUP_TRAINING, set_options
from typer.testing import CliRunner

from vprkit.cli import build_app

FAST = set_options(GROUP_TRAINING)


def test_train_classifier_cli_writes_a_model_folder_and_resumes(tiny_vpr_dataset, tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text("training:\n  epochs: 2\n  val_max_queries: 8\n")
    runner = CliRunner()
    out = tmp_path / "model"
    train = ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(out)]
    result = runner.invoke(build_app(), [*train, "--config", str(config), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["name"] == "dnc" and summary["last"]["epoch"] == 1
    assert (out / "manifest.json").is_file() and (out / "training" / "config.yaml").is_file()
    assert "val_max_queries: 8" in (out / "training" / "config.yaml").read_text()

    # extend the finished run by one epoch: --resume reads the saved config, --set may change epochs
    result = runner.invoke(build_app(), [*train, "--resume", "--set", "training.epochs=3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["last"]["epoch"] == 2


def test_train_cli_reports_bad_input_without_traceback(tmp_path):
    import pytest

    from vprkit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "retriever", "cosplace", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 1
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["train", "classifier", "dnc", "--dataset", str(tmp_path), "--out", str(tmp_path / "o"), "--set", "nope=1"]
        )
    assert exit_info.value.code == 1
