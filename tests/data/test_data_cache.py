"""The content-keyed cache of parsed lists: reuse only for identical content."""

from __future__ import annotations

import numpy as np
import utm

from vprkit.data import cache as cache_mod
from vprkit.data.filenames import format_filename
from vprkit.data.standard import read_folder


def _name(lat, lon):
    e, n, zn, zl = utm.from_latlon(lat, lon)
    return format_filename(e, n, zn, zl, lat, lon, heading=30, pano_id="p")


def test_cache_hit_and_changed_folder_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "db"
    folder.mkdir()
    for lat in (37.770, 37.771):
        (folder / _name(lat, -122.42)).write_bytes(b"")
    first = read_folder(folder, cache=True)
    files = list((tmp_path / "cache" / "image_lists").glob("*.npz"))
    assert len(files) == 1
    again = read_folder(folder, cache=True)
    np.testing.assert_array_equal(again.east, first.east)
    assert again.paths.tolist() == first.paths.tolist() and again.extra["pano_id"].tolist() == ["p", "p"]
    assert again.zone_letter == "S" and again.root == folder

    # Same folder name, different content: must be a new key, not the stale list.
    (folder / _name(37.772, -122.42)).write_bytes(b"")
    changed = read_folder(folder, cache=True)
    assert len(changed) == 3
    assert len(list((tmp_path / "cache" / "image_lists").glob("*.npz"))) == 2


def test_key_depends_on_params_and_order():
    k = cache_mod.image_list_key(["a", "b"], target_zone=None)
    assert k != cache_mod.image_list_key(["b", "a"], target_zone=None)
    assert k != cache_mod.image_list_key(["a", "b"], target_zone="10S")


def test_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / _name(37.77, -122.42)).write_bytes(b"")
    read_folder(folder, cache=True)
    (f,) = (tmp_path / "cache" / "image_lists").glob("*.npz")
    f.write_bytes(b"garbage")
    assert len(read_folder(folder, cache=True)) == 1
