"""``vprkit partition`` over a dataset in the standard layout, read through vprkit.data."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.data import format_filenames
from vprkit.errors import DataError
from vprkit.geometry.utm import utm_to_latlon
from vprkit.partition import Partition, partition_dataset


def _write_dataset(root, with_heading=True, n=3000):
    rng = np.random.default_rng(0)
    east = 550000 + rng.uniform(0, 300, n)
    north = 4180000 + rng.uniform(0, 300, n)
    lat, lon = utm_to_latlon(east, north, "10S")
    heading = rng.uniform(0, 360, n) if with_heading else None
    names = format_filenames(east=east, north=north, zone_number=10, zone_letter="S", lat=lat, lon=lon, heading=heading)
    train = root / "images" / "train"
    train.mkdir(parents=True)
    for name in names:  # empty files: the reader only parses names
        (train / name).touch()
    return east, north


def test_library_function_reads_the_split_and_passes_the_zone(tmp_path):
    _east, _north = _write_dataset(tmp_path)
    part, images = partition_dataset("s2", tmp_path, overrides=["tau_min=5", "tau_max=200"])
    assert part.utm_zone == "10S" and len(images) == 3000
    np.testing.assert_array_equal(part.assign(images.east, images.north)[0], part.train_labels)


@pytest.mark.parametrize("name", ["dnc", "cosplace", "s2", "hge", "cplanet"])
def test_cli_prints_summary_and_draws_the_map(tmp_path, name):
    _write_dataset(tmp_path / "ds")
    png, saved = tmp_path / "map.png", tmp_path / "part.npz"
    sets = {
        "s2": ["tau_min=5", "tau_max=200"],
        "hge": ["tau_min=5", "tau_max_coarse=800", "tau_max_medium=400", "tau_max_fine=200"],
        "cplanet": ["num_geoclasses=[20,20,25,24,22]"],
        "cosplace": ["min_images_per_class=2"],
    }.get(name, [])
    args = [
        "partition",
        "--partitioner",
        name,
        "--dataset",
        str(tmp_path / "ds"),
        "--png",
        str(png),
        "--save",
        str(saved),
        "--json",
    ]
    for s in sets:
        args += ["--set", s]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == name and summary["num_classes"] > 0
    assert summary["kept_images"] + summary["dropped_images"] == 3000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Partition.load(saved).fingerprint() == summary["fingerprint"]


def test_cli_table_and_missing_headings(tmp_path):
    _write_dataset(tmp_path / "ds", with_heading=False)
    result = CliRunner().invoke(build_app(), ["partition", "-p", "dnc", "--dataset", str(tmp_path / "ds")])
    assert result.exit_code == 0 and "classes per group" in result.stdout
    with pytest.raises(DataError, match="headings"):
        partition_dataset("cosplace", tmp_path / "ds")


def test_config_file_then_overrides(tmp_path):
    _write_dataset(tmp_path / "ds")
    cfg = tmp_path / "dnc.yaml"
    cfg.write_text("M: 50\nN: 3\nmin_images_per_class: 1\n")
    part, _ = partition_dataset("dnc", tmp_path / "ds", config_file=cfg, overrides=["N=2"])
    assert part.config["M"] == 50 and part.config["N"] == 2 and part.num_groups == 4


def test_cli_on_synthcity_tiny(synthcity_tiny, tmp_path):
    png = tmp_path / "synthcity_dnc.png"
    result = CliRunner().invoke(
        build_app(),
        [
            "partition",
            "-p",
            "dnc",
            "--dataset",
            str(synthcity_tiny),
            "--set",
            "min_images_per_class=1",
            "--png",
            str(png),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["num_classes"] > 0 and summary["num_groups"] == 4 and summary["images"] > 0
    assert summary["kept_images"] == summary["images"]  # min 1 image per class keeps everything
    assert png.stat().st_size > 0
