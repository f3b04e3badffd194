"""Issue 19: `vprkit localize --reranker` gives the top match's inlier count and, with --png, the
query beside its best database image with the matches drawn."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.data.standard import load_split


def test_localize_with_a_reranker_reports_inliers_and_draws_the_matches(
    build_tiny_bundle, synthcity_tiny, tmp_path, monkeypatch
):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    build_tiny_bundle(tmp_path / "bundle", synthcity_tiny)
    db = load_split(synthcity_tiny, "test/database")
    query = tmp_path / "copy.png"  # an exact copy of a database image: its matches are the point
    shutil.copy(db.root / db.paths[7], query)
    args = ["localize", str(query), "--bundle", str(tmp_path / "bundle"), "--threads", "1"]
    args += ["--reranker", "sift", "--rerank-k", "10", "--k", "3"]
    result = CliRunner().invoke(build_app(), [*args, "--json", "--png", str(tmp_path / "map.png")])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["inliers"] == record["places"][0]["inliers"] >= 0
    assert all("inliers" in p for p in record["places"])
    assert (tmp_path / "map.png").is_file() and (tmp_path / "map_matches.png").stat().st_size > 0
    plain = CliRunner().invoke(build_app(), ["localize", str(query), "--bundle", str(tmp_path / "bundle"), "--json"])
    assert "inliers" not in json.loads(plain.stdout)[0]


def test_localize_refuses_a_bad_rerank_k(build_tiny_bundle, synthcity_tiny, tmp_path):
    db = load_split(synthcity_tiny, "test/database")
    args = ["localize", str(db.root / db.paths[0]), "--bundle", str(tmp_path / "b"), "--reranker", "sift"]
    result = CliRunner().invoke(build_app(), [*args, "--rerank-k", "0"])
    assert result.exit_code != 0 and "--rerank-k must be at least 1, got 0" in str(result.exception)
