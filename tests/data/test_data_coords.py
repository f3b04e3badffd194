"""UTM ↔ lat/lon on arrays and the one-zone rule."""

from __future__ import annotations

import numpy as np
import pytest
import utm

from vprkit.errors import DataError
from vprkit.geometry.utm import latlon_to_utm, parse_zone, unify_zone, utm_to_latlon, zone_letters, zone_numbers


def test_zone_numbers_and_letters_match_utm_package():
    lat = np.array([37.77, 59.9, 78.2, -33.9, 45.0])
    lon = np.array([-122.42, 10.75, 15.6, 151.2, 7.7])
    for la, lo, zn, zl in zip(lat, lon, zone_numbers(lat, lon), zone_letters(lat)):
        assert (zn, zl) == utm.from_latlon(la, lo)[2:]


def test_round_trip_arrays():
    lat = np.linspace(37.70, 37.80, 50)
    lon = np.linspace(-122.50, -122.40, 50)
    east, north, zone = latlon_to_utm(lat, lon)
    assert str(zone) == "10S"
    lat2, lon2 = utm_to_latlon(east, north, zone)
    np.testing.assert_allclose(lat2, lat, atol=1e-7)
    np.testing.assert_allclose(lon2, lon, atol=1e-7)


def test_mixed_zones_error_names_zones_and_counts():
    lat = np.array([45.0, 45.0, 45.0])
    lon = np.array([-122.5, -122.4, -116.0])  # zones 10 and 11
    with pytest.raises(DataError, match=r"zone 10 .*2 images.*zone 11 .*1 images"):
        unify_zone(
            np.full(3, np.nan), np.full(3, np.nan), np.full(3, np.nan), np.array(["", "", ""]), lat, lon, source="x"
        )


def test_target_zone_reprojects_every_row_through_latlon():
    lat = np.array([45.0, 45.0])
    lon = np.array([-122.5, -116.0])
    e10, n10, _, _ = utm.from_latlon(lat[:1], lon[:1])
    e11, n11, _, _ = utm.from_latlon(lat[1:], lon[1:])
    east = np.concatenate([e10, e11])
    north = np.concatenate([n10, n11])
    e, n, la, _lo, zone, _ = unify_zone(
        east,
        north,
        np.array([10.0, 11.0]),
        np.array(["T", "T"]),
        np.full(2, np.nan),
        np.full(2, np.nan),
        target_zone="10T",
    )
    assert str(zone) == "10T"
    expect_e, expect_n, _, _ = utm.from_latlon(lat, lon, force_zone_number=10)
    np.testing.assert_allclose(e, expect_e, atol=1e-3)
    np.testing.assert_allclose(n, expect_n, atol=1e-3)
    np.testing.assert_allclose(la, lat, atol=1e-7)


def test_fills_utm_from_latlon_and_latlon_from_utm():
    e, n, _zn, _zl = utm.from_latlon(37.77, -122.42)
    east = np.array([e, np.nan])
    north = np.array([n, np.nan])
    out_e, _out_n, lat, _lon, zone, _ = unify_zone(
        east,
        north,
        np.array([10.0, np.nan]),
        np.array(["S", ""]),
        np.array([np.nan, 37.771]),
        np.array([np.nan, -122.421]),
    )
    assert np.isfinite(out_e).all() and np.isfinite(lat).all()
    assert abs(lat[0] - 37.77) < 1e-7 and str(zone) == "10S"


def test_parse_zone_errors():
    assert str(parse_zone("10s")) == "10S"
    with pytest.raises(DataError):
        parse_zone("99Q")


def test_keep_mixed_zones_per_row():
    lat = np.array([55.68, 37.77])  # Copenhagen (33U), San Francisco (10S)
    lon = np.array([12.57, -122.42])
    e, n, _la, _lo, zone, row_zone = unify_zone(
        np.full(2, np.nan), np.full(2, np.nan), np.full(2, np.nan), np.array(["", ""]), lat, lon, mixed_zones="keep"
    )
    assert zone.number == 0 and row_zone.tolist() == ["33U", "10S"]
    for i in range(2):
        expect = utm.from_latlon(lat[i], lon[i])
        assert abs(e[i] - expect[0]) < 1e-3 and abs(n[i] - expect[1]) < 1e-3
