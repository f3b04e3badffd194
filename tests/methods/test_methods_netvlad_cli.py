"""`vprkit train retriever netvlad|gem` then `vprkit run --classifier none --retriever DIR`, as a user calls them."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from vprkit.cli import build_app

FAST = [
    "backbone=tinycnn",
    "fc_output_dim=16",
    "training.queries_per_epoch=4",
    "training.cache_refresh_rate=4",
    "training.neg_samples_num=24",
    "training.negs_num_per_query=2",
    "training.image_size=32",
    "training.num_workers=0",
    "training.device=cpu",
    "training.epochs=1",
    "training.num_threads=1",
    "training.val_max_queries=5",
]


def test_train_gem_cli_then_run_retrieval_only(synthcity_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    before = torch.get_num_threads()
    runner = CliRunner()
    out = tmp_path / "gem"
    args = ["train", "retriever", "gem", "--dataset", str(synthcity_tiny), "--out", str(out), "--json"]
    for item in FAST:
        args += ["--set", item]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["name"] == "gem" and summary["best_epoch"] == 0 and "LR@1" in summary["last"]
    assert torch.get_num_threads() == before  # the trainer restores the thread count it changed

    result = runner.invoke(
        build_app(),
        [
            "run",
            "--classifier",
            "none",
            "--retriever",
            str(out),
            "--dataset",
            str(synthcity_tiny),
            "--split",
            "val",
            "--batch-size",
            "8",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["config"]["retriever"] == "gem" and report["config"]["classifier"] == "none"
    assert 0.0 <= report["lr"]["20"] <= 100.0 and report["queries"] == 20
