"""The standard '@' file name: formatting, parsing, malformed names."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit.data.filenames import format_filename, format_filenames, parse_filenames
from vprkit.errors import DataError


def test_format_filename_matches_standard_layout():
    name = format_filename(544388.512, 4180142.39, 10, "S", 37.7654321, -122.4987654, "pano", heading=90.0)
    assert name == "@0544388.51@4180142.39@10@S@37.7654321@-122.4987654@pano@@90@@@@@@.jpg"
    assert name.count("@") == 15


def test_format_filename_empty_fields_for_none_and_nan():
    name = format_filename(1.0, 2.0, 10, "S", float("nan"), None, heading=None)
    assert name == "@0000001.00@0000002.00@10@S@@@@@@@@@@@.jpg"


def test_format_filename_rejects_separator_in_text():
    with pytest.raises(DataError, match="must not contain"):
        format_filename(1.0, 2.0, 10, "S", 1.0, 2.0, note="a@b")


def test_format_filenames_agrees_with_scalar_version():
    rng = np.random.default_rng(0)
    east = rng.uniform(5e5, 6e5, 20)
    north = rng.uniform(4.1e6, 4.2e6, 20)
    lat = rng.uniform(37, 38, 20)
    lon = rng.uniform(-123, -122, 20)
    heading = rng.uniform(0, 360, 20)
    heading[3] = np.nan
    many = format_filenames(east, north, 10, "S", lat, lon, heading=heading, note="db")
    one = [
        format_filename(e, n, 10, "S", la, lo, heading=h, note="db")
        for e, n, la, lo, h in zip(east, north, lat, lon, heading)
    ]
    assert many.tolist() == one


def test_parse_round_trip_with_paths_containing_at():
    east = np.array([544388.51, 550000.0])
    names = format_filenames(
        east,
        np.array([4180142.39, 4181000.0]),
        10,
        "S",
        np.array([37.1, 37.2]),
        np.array([-122.1, -122.2]),
        heading=np.array([0.5, np.nan]),
        pano_id=np.array(["p1", ""]),
    )
    paths = ["a@b/c/" + names[0], names[1]]
    parsed = parse_filenames(paths)
    np.testing.assert_array_equal(parsed["east"], east)
    np.testing.assert_allclose(parsed["lat"], [37.1, 37.2])
    assert parsed["heading"][0] == 0.5 and np.isnan(parsed["heading"][1])
    assert parsed["zone_letter"].tolist() == ["S", "S"]
    assert parsed["pano_id"].tolist() == ["p1", ""]
    assert parsed["ext"].tolist() == [".jpg", ".jpg"]
    assert parsed.ok.all() and parsed.malformed == []


def test_malformed_names_are_reported_by_name():
    good = format_filename(1.0, 2.0, 10, "S", 1.0, 2.0)
    names = [good, "bad@x.jpg", "@x@1@10@S@1@2@@@@@@@@@.jpg", "x" + good, good]
    parsed = parse_filenames(names, errors="report")
    assert parsed.ok.tolist() == [True, False, False, False, True]
    assert [m[1] for m in parsed.malformed] == names[1:4]
    assert "east" in parsed.malformed[1][2]
    assert np.isnan(parsed["east"][2]) and parsed["zone_letter"][2] == ""
    with pytest.raises(DataError, match="bad@x.jpg"):
        parse_filenames(names)


def test_parse_empty_list():
    parsed = parse_filenames([])
    assert len(parsed) == 0 and parsed["east"].shape == (0,)


def test_short_numeric_columns_with_empty_fields():
    names = ["@1@2@10@S@@@@@5@@@@@@.jpg", "@1@2@10@S@@@@@@@@@@@.jpg"]
    parsed = parse_filenames(names)
    assert parsed["heading"][0] == 5 and np.isnan(parsed["heading"][1])


def test_fixed_layout_fast_path_matches_general_path(monkeypatch):
    import vprkit.data.filenames as fn

    n = 50
    names = format_filenames(
        np.linspace(544_000, 545_000, n),
        np.linspace(4_180_000, 4_181_000, n),
        10,
        "S",
        np.full(n, 37.75),
        np.full(n, -122.45),
        pano_id="abc",
        heading=90,
        note="n",
    ).tolist()
    assert len({len(s) for s in names}) == 1  # fixed layout: the fast path applies
    fast = parse_filenames(names)
    monkeypatch.setattr(fn, "_fixed_layout_spans", lambda *args: None)
    slow = parse_filenames(names)
    for key in fast.columns:
        np.testing.assert_array_equal(fast[key], slow[key])
    np.testing.assert_allclose(fast["east"], np.round(np.linspace(544_000, 545_000, n), 2))
