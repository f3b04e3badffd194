"""``vprkit datasets`` commands and the make/prepare protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_testdata import make_standard_dataset, write_image
from pydantic import Field

from vprkit.cli import main
from vprkit.config import VprkitConfig
from vprkit.data import dataset_protocol
from vprkit.data.dataset_protocol import LocalDataset, LocalDatasetConfig, make_dataset
from vprkit.errors import DataError
from vprkit.specs import DatasetSpec


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def test_list_json_has_every_dataset(capsys):
    code, out, _ = _run(["datasets", "list", "--json"], capsys)
    assert code == 0
    names = {d["name"]: d for d in json.loads(out)["datasets"]}
    assert {"sfxl", "pitts30k", "tokyo247", "msls"} <= set(names)
    assert names["tokyo247"]["expected_counts"] == {"test/database": 75_984, "test/queries": 315}
    assert names["pitts30k"]["can_prepare"]


def test_check_json_and_exit_codes(tmp_path, capsys):
    root = make_standard_dataset(tmp_path / "ds", n_db=12, n_q=3)
    code, out, _ = _run(["datasets", "check", str(root), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["area_method"].startswith("convex hull")
    write_image(root / "images" / "test" / "queries" / "IMG_1.png")
    code, out, _ = _run(["datasets", "check", str(root)], capsys)
    assert code == 1 and "IMG_1.png" in out


def test_check_missing_path_is_a_clean_error(tmp_path, capsys):
    code, _, err = _run(["datasets", "check", str(tmp_path / "nope")], capsys)
    assert code == 1 and "does not exist" in " ".join(err.split()) and "Traceback" not in err


def test_show_writes_png(tmp_path, capsys):
    root = make_standard_dataset(tmp_path / "ds", n_db=5, n_q=2)
    code, _, _ = _run(["datasets", "show", str(root), "--png", str(tmp_path / "m.png")], capsys)
    assert code == 0 and (tmp_path / "m.png").stat().st_size > 1000


def test_prepare_unknown_source_is_named(tmp_path, capsys):
    code, _, err = _run(
        ["datasets", "prepare", "pitts30k", "--src", str(tmp_path / "raw"), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 1 and "raw" in err


def test_make_for_downloaded_dataset_explains_how_to_get_it(tmp_path, capsys):
    code, _, err = _run(["datasets", "make", "tokyo247", "--out", str(tmp_path / "t")], capsys)
    assert code == 1 and "prepare tokyo247" in " ".join(err.split())


class _FakeConfig(VprkitConfig):
    size: str = Field("tiny")
    seed: int = 0
    label: str = "x"


class FakeGenerator:
    def __init__(self, config: _FakeConfig):
        self.config = config

    def generate(self, out_dir: Path) -> dict[str, int]:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "made.txt").write_text(f"{self.config.size} {self.config.seed} {self.config.label}")
        return {"train": 1}


def test_make_builds_config_and_calls_generate(tmp_path, monkeypatch):
    spec = DatasetSpec(name="fake", factory="test_data_cli_datasets:FakeGenerator", config=_FakeConfig, description="d")
    monkeypatch.setattr("vprkit.registry.get_dataset_spec", lambda name: spec)
    counts = make_dataset("fake", tmp_path / "o", size="small", seed=3, overrides={"label": "y"})
    assert counts == {"train": 1} and (tmp_path / "o" / "made.txt").read_text() == "small 3 y"


def test_local_dataset_reads_splits(tmp_path):
    root = make_standard_dataset(tmp_path / "ds", n_db=3, n_q=1)
    ds = LocalDataset("x", LocalDatasetConfig(root=root))
    assert len(ds.load_split("test/queries")) == 1
    with pytest.raises(DataError, match="set its root"):
        LocalDataset("x", LocalDatasetConfig()).load_split("train")
    assert dataset_protocol.LINK_MODES == ("symlink", "hardlink", "copy")


def test_show_an_embedded_city_describes_its_generated_folder(synthcity_tiny, tmp_path, monkeypatch, capsys):
    # the cache's embedded city is synthcity tiny, linked in with the marker a finished generation leaves
    city = tmp_path / "cache" / "datasets" / "synthcity-small-seed0"
    city.mkdir(parents=True)
    for entry in synthcity_tiny.iterdir():
        (city / entry.name).symlink_to(entry)
    (city / ".complete").write_text("ok\n")
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, _ = _run(["datasets", "show", "synthcity", "--json"], capsys)
    info = json.loads(out)
    counts = {s["split"]: s["images"] for s in info["splits"]}
    assert code == 0 and Path(info["root"]) == city
    assert counts["test/queries"] == len(list((synthcity_tiny / "images" / "test" / "queries").iterdir()))
    code, _, _ = _run(["datasets", "show", "synthcity", "--png", str(tmp_path / "map.png")], capsys)
    assert code == 0 and (tmp_path / "map.png").stat().st_size > 1000
