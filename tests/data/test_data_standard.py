"""Reading folders of standard-named images and the standard split layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import utm

from vprkit.data.filenames import format_filename
from vprkit.data.standard import list_splits, load_split, read_folder, scan_paths
from vprkit.errors import DataError


def _name(lat, lon, heading=None, zone=None):
    e, n, zn, zl = utm.from_latlon(lat, lon, force_zone_number=zone)
    return format_filename(e, n, zn, zl, lat, lon, heading=heading)


def _touch(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_read_folder_recursive_sorted(tmp_path):
    a, b, c = _name(37.77, -122.42, 0), _name(37.78, -122.43, 90), _name(37.79, -122.44)
    _touch(tmp_path / "db", [a, b])
    _touch(tmp_path / "db" / "sub@dir", [c])
    (tmp_path / "db" / "notes.txt").write_text("ignored: not an image")
    images = read_folder(tmp_path / "db")
    assert len(images) == 3 and images.zone_number == 10 and images.zone_letter == "S"
    assert "sub@dir/" + c in images.paths.tolist()
    assert np.isnan(images.heading[images.paths.tolist().index("sub@dir/" + c)])
    assert images.absolute_paths()[0].is_file()


def test_images_paths_file_is_used_instead_of_walking(tmp_path):
    a, b = _name(37.77, -122.42), _name(37.78, -122.43)
    _touch(tmp_path / "q", [a, b])
    (tmp_path / "q_images_paths.txt").write_text(b + "\n")
    images = read_folder(tmp_path / "q")
    assert images.paths.tolist() == [b]


def test_paths_file_naming_missing_image_is_an_error(tmp_path):
    _touch(tmp_path / "q", [_name(37.77, -122.42)])
    (tmp_path / "q_images_paths.txt").write_text("missing.jpg\n")
    with pytest.raises(DataError, match="missing.jpg"):
        read_folder(tmp_path / "q")


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="contains no"):
        read_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        read_folder(tmp_path / "nope")


def test_malformed_and_nan_coordinates_are_named(tmp_path):
    good = _name(37.77, -122.42)
    nan = "@@@@@@@@@@@@@@@.jpg"
    no_zone = "@0549306.57@4182663.15@@@@@@@@@@@@@.jpg"
    images, problems = scan_paths(tmp_path, [good, no_zone])
    assert [p.path for p in problems] == [no_zone] and "without a UTM zone" in problems[0].reason
    _touch(tmp_path / "db", [good, "IMG_0001.jpg", nan])
    with pytest.raises(DataError) as exc:
        read_folder(tmp_path / "db")
    assert "IMG_0001.jpg" in str(exc.value) and nan in str(exc.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = read_folder(tmp_path / "db", errors="warn")
    assert images.paths.tolist() == [good]
    assert "IMG_0001.jpg" in str(caught[0].message)
    images, problems = scan_paths(tmp_path / "db", [good, "IMG_0001.jpg", nan])
    assert [p.path for p in problems] == ["IMG_0001.jpg", nan]


def test_mixed_zones_raise_unless_target_zone(tmp_path):
    majority = [_name(45.0, -122.5 + 0.001 * i) for i in range(3)]
    stray = _name(45.0, -116.0)
    _touch(tmp_path / "db", [*majority, stray])
    with pytest.raises(DataError, match="several UTM zones") as exc:
        read_folder(tmp_path / "db")
    assert f"{stray} (zone 11)" in str(exc.value)  # the file outside the majority zone is named
    assert not any(name in str(exc.value) for name in majority)
    images = read_folder(tmp_path / "db", target_zone="10T")
    assert images.zone_number == 10 and np.isfinite(images.east).all()


def test_standard_layout_splits(tmp_path):
    root = tmp_path / "ds"
    _touch(root / "images" / "train", [_name(37.77, -122.42)])
    _touch(root / "images" / "val" / "database", [_name(37.771, -122.42)])
    _touch(root / "images" / "val" / "queries", [_name(37.772, -122.42)])
    _touch(root / "images" / "test" / "database", [_name(37.773, -122.42)])
    _touch(root / "images" / "test" / "queries_v1", [_name(37.774, -122.42)])
    assert list_splits(root) == ["test/database", "test/queries_v1", "train", "val/database", "val/queries"]
    assert len(load_split(root, "test/queries_v1")) == 1
    with pytest.raises(DataError, match="no split 'test/queries'.*queries_v1"):
        load_split(root, "test/queries")
