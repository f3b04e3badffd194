"""Vectorised S2 math equals the s2cell package bit for bit."""

import numpy as np
import pytest
import s2cell

from vprkit.geometry import s2


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(7)
    # Uniform on the sphere (all six faces) plus a dense city patch (San Francisco).
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 1500)))
    lon = rng.uniform(-180, 180, 1500)
    lat = np.concatenate([lat, 37.70 + rng.uniform(0, 0.1, 500), [0.0, 90.0, -90.0, 45.0]])
    lon = np.concatenate([lon, -122.52 + rng.uniform(0, 0.1, 500), [0.0, 0.0, 0.0, 180.0]])
    return lat, lon


def test_leaf_ids_match_s2cell(points):
    lat, lon = points
    ids = s2.latlon_to_leaf_ids(lat, lon)
    assert ids.dtype == np.uint64
    ref = np.array([s2cell.lat_lon_to_cell_id(a, b) for a, b in zip(lat, lon)], dtype=np.uint64)
    np.testing.assert_array_equal(ids, ref)
    assert (ids > np.uint64(2**63)).any()  # ids above 2**63 survive (faces 4 and 5)


@pytest.mark.parametrize("level", [0, 2, 13, 19, 29, 30])
def test_parents_and_levels_match_s2cell(points, level):
    ids = s2.latlon_to_leaf_ids(*points)
    parents = s2.parent_ids(ids, level)
    ref = np.array([s2cell.cell_id_to_parent_cell_id(int(c), level) for c in ids], dtype=np.uint64)
    np.testing.assert_array_equal(parents, ref)
    assert (s2.id_levels(parents) == level).all()
    assert ((s2.id_range_min(parents) <= ids) & (ids <= s2.id_range_max(parents))).all()


def test_face_ij_tokens_centres_neighbours(points):
    cells = s2.parent_ids(s2.latlon_to_leaf_ids(*points), 17)
    face, i, j = s2.ids_to_face_ij(cells)
    assert [s2cell.s2_cell_id_to_face_ij(int(c)) for c in cells] == list(zip(face.tolist(), i.tolist(), j.tolist()))
    tokens = s2.ids_to_tokens(cells)
    assert tokens.tolist() == [s2cell.cell_id_to_token(int(c)) for c in cells]
    np.testing.assert_array_equal(s2.tokens_to_ids(tokens), cells)
    lat, lon = s2.cell_centers_latlon(cells)
    ref = np.array([s2cell.cell_id_to_lat_lon(int(c)) for c in cells])
    np.testing.assert_allclose(lat, ref[:, 0], atol=1e-12)
    np.testing.assert_allclose(lon, ref[:, 1], atol=1e-12)
    neighbours = s2.edge_neighbor_ids(cells)
    for cell, row in zip(cells[:500], neighbours[:500]):
        assert set(row.tolist()) == set(s2cell.cell_id_to_neighbor_cell_ids(int(cell)))
