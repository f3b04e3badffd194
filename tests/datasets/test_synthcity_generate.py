"""synthcity generation: layout on disk, counts, determinism, names that parse back to the poses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from vprkit_synthcity.config import PRESETS, SynthCityConfig
from vprkit_synthcity.generate import SPLITS, SynthCity

from vprkit.data.standard import list_image_paths, load_split
from vprkit.errors import ConfigError, DataError


def _digests(root: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under ``root`` (images, paths files, metadata)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_counts_per_split_match_files_and_metadata(synthcity_tiny):
    meta = json.loads((synthcity_tiny / "synthcity.json").read_text())
    city = SynthCity(SynthCityConfig(size="tiny", seed=0))
    assert meta["counts"] == city.counts()
    for split in SPLITS:
        folder = synthcity_tiny / "images" / split
        on_disk = sorted(p.name for p in folder.iterdir())
        assert len(on_disk) == meta["counts"][split] > 0
        assert list_image_paths(folder) == on_disk  # the sorted <split>_images_paths.txt lists them all
    assert meta["counts"]["test/queries"] == PRESETS["tiny"]["n_test_queries"]
    assert meta["counts"]["val/queries"] == PRESETS["tiny"]["n_val_queries"]
    # train is the dense split: several street-aligned headings per position
    assert meta["counts"]["train"] > meta["counts"]["test/database"] > meta["counts"]["test/queries"]


def test_same_seed_is_byte_identical_whatever_the_worker_count(synthcity_tiny, tmp_path):
    SynthCity(SynthCityConfig(size="tiny", seed=0, workers=2, chunk_views=97)).generate(tmp_path)
    first, again = _digests(synthcity_tiny), _digests(tmp_path)
    again = {k: v for k, v in again.items()}
    # chunk_views/workers are recorded in synthcity.json, so compare it without them
    meta_a = json.loads((synthcity_tiny / "synthcity.json").read_text())
    meta_b = json.loads((tmp_path / "synthcity.json").read_text())
    for m in (meta_a, meta_b):
        m["config"].pop("workers")
        m["config"].pop("chunk_views")
    assert meta_a == meta_b
    first.pop("synthcity.json")
    again.pop("synthcity.json")
    assert first == again


def test_another_seed_gives_another_city():
    a, b = SynthCity(SynthCityConfig(size="tiny", seed=0)), SynthCity(SynthCityConfig(size="tiny", seed=1))
    rows = np.arange(8)
    assert not np.array_equal(a.plan.bid, b.plan.bid)
    assert set(a.file_names("train", rows)).isdisjoint(b.file_names("train", rows))
    assert not np.array_equal(a.render_rows("test/queries", rows), b.render_rows("test/queries", rows))


def test_a_view_does_not_depend_on_its_batch():
    city = SynthCity(SynthCityConfig(size="tiny", seed=3))
    for split in ("train", "test/queries"):
        batch = city.render_rows(split, np.arange(10, 30))
        alone = city.render_rows(split, np.array([17]))
        assert np.array_equal(batch[7], alone[0])


@pytest.mark.parametrize("split", SPLITS)
def test_file_names_parse_back_to_the_rendered_poses(synthcity_tiny, split):
    city = SynthCity(SynthCityConfig(size="tiny", seed=0))
    images = load_split(synthcity_tiny, split)
    assert (images.zone_number, images.zone_letter) == (10, "S")
    assert images.lat.min() > 37.7 and images.lat.max() < 37.8  # San Francisco
    assert images.lon.min() > -122.5 and images.lon.max() < -122.4
    poses = city.poses(split)
    east, north = city.utm(split)
    # rows of the reader are sorted by name; match them to the poses through the names
    names = city.file_names(split, np.arange(len(poses)))
    order = np.argsort(names)
    assert np.array_equal(images.paths, names[order])
    np.testing.assert_allclose(images.east, east[order], atol=0.006)
    np.testing.assert_allclose(images.north, north[order], atol=0.006)
    np.testing.assert_allclose(images.heading, poses.heading[order], atol=0.006)


def test_city_stays_on_the_streets_and_inside_the_map():
    city = SynthCity(SynthCityConfig(size="tiny", seed=0))
    street = city.plan.street_mask()
    for split in SPLITS:
        p = city.poses(split)
        assert street[np.floor(p.y).astype(int), np.floor(p.x).astype(int)].all()
        assert ((p.heading >= 0) & (p.heading < 360)).all()


def test_existing_output_is_refused_unless_overwrite(synthcity_tiny):
    with pytest.raises(DataError, match="already exists"):
        SynthCity(SynthCityConfig(size="tiny")).generate(synthcity_tiny)


def test_config_presets_and_errors():
    cfg = SynthCityConfig(size="small").resolved()
    assert cfg.extent_m == PRESETS["small"]["extent_m"] and cfg.image_size == 64
    assert SynthCityConfig(size="small", train_spacing_m=3.0).resolved().train_spacing_m == 3.0
    with pytest.raises(ConfigError, match="block_max_m"):
        SynthCityConfig(size="tiny", block_min_m=90, block_max_m=50).resolved()
    with pytest.raises(ConfigError, match="extent_m=120"):
        _ = SynthCity(SynthCityConfig(size="tiny", extent_m=120)).plan
    with pytest.raises(ValueError):
        SynthCityConfig(size="huge")
    with pytest.raises(ValueError):
        SynthCityConfig(colour="red")
