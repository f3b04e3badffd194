"""Adaptive S2 and HGE partitions: known cells from the procedure, hierarchy, order independence."""

import numpy as np
import pytest
import s2cell
import utm

from vprkit import create_partitioner
from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.partition import Partition

ZONE = "10S"


def _leaf(east, north):
    lat, lon = utm.to_latlon(east, north, 10, "S")
    return s2cell.lat_lon_to_cell_id(float(lat), float(lon))


def _first_differing_level(a: int, b: int) -> int:
    return next(
        level
        for level in range(31)
        if s2cell.cell_id_to_parent_cell_id(a, level) != s2cell.cell_id_to_parent_cell_id(b, level)
    )


def test_known_points_split_until_they_separate():
    # 3 images at p1, 2 at p2 (60 m apart), 2 far away at p3 (another level-10 cell).
    p1, p2, p3 = (550000.0, 4180000.0), (550060.0, 4180000.0), (600000.0, 4230000.0)
    east = np.array([p1[0]] * 3 + [p2[0]] * 2 + [p3[0]] * 2)
    north = np.array([p1[1]] * 3 + [p2[1]] * 2 + [p3[1]] * 2)
    l1, l2 = _leaf(*p1), _leaf(*p2)
    split_level = _first_differing_level(l1, l2)
    assert (
        s2cell.cell_id_to_parent_cell_id(l1, 10)
        == s2cell.cell_id_to_parent_cell_id(l2, 10)
        != s2cell.cell_id_to_parent_cell_id(_leaf(*p3), 10)
    )
    # τmin=2 drops p3's level-10 cell (2 ≤ 2) at the start; τmax=4 splits the 5-image cell until
    # p1 and p2 separate; then p2's cell (2 images) is dropped by the final τmin pass.
    part = create_partitioner("s2", tau_min=2, tau_max=4, lvl_min=10, utm_zone=ZONE).fit(east, north)
    expected = s2cell.cell_id_to_parent_cell_id(l1, split_level)
    assert part.extras["cell_ids"].tolist() == [expected]
    assert part.class_keys.tolist() == [s2cell.cell_id_to_token(expected)]
    assert part.train_labels.tolist() == [0, 0, 0, -1, -1, -1, -1]
    assert part.dropped_by_reason == {"tau_min_start": 2, "tau_min_end": 2}
    np.testing.assert_allclose(part.class_coords, [p1])
    # τmin=1 keeps both halves and p3's level-10 cell, sorted by id.
    both = create_partitioner("s2", tau_min=1, tau_max=4, lvl_min=10, utm_zone=ZONE).fit(east, north)
    p3_cell = s2cell.cell_id_to_parent_cell_id(_leaf(*p3), 10)
    ids = sorted([expected, s2cell.cell_id_to_parent_cell_id(l2, split_level), p3_cell])
    assert both.extras["cell_ids"].tolist() == ids
    assert sorted(both.extras["cell_levels"].tolist()) == [10, split_level, split_level]
    labels, _ = both.assign(east, north)
    np.testing.assert_array_equal(labels, both.train_labels)


def _city(n=30000, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3000, (40, 2))
    pick = rng.integers(0, 40, n)
    east = 550000 + centres[pick, 0] + rng.normal(0, 80, n)
    north = 4180000 + centres[pick, 1] + rng.normal(0, 80, n)
    return east, north


def test_every_kept_cell_obeys_the_thresholds_and_order_does_not_matter():
    east, north = _city()
    part = create_partitioner("s2", tau_min=20, tau_max=600, utm_zone=ZONE).fit(east, north)
    levels = part.extras["cell_levels"]
    assert (part.class_counts > 20).all() and ((part.class_counts <= 600) | (levels == 30)).all()
    assert part.class_counts.sum() + part.dropped == len(east)
    assert np.all(part.extras["cell_ids"][1:] > part.extras["cell_ids"][:-1])
    perm = np.random.default_rng(3).permutation(len(east))
    again = create_partitioner("s2", tau_min=20, tau_max=600, utm_zone=ZONE).fit(east[perm], north[perm])
    assert again.fingerprint() == part.fingerprint()
    np.testing.assert_array_equal(part.train_labels[perm], again.train_labels)


@pytest.mark.parametrize("mode", ["center", "medoid"])
def test_coordinate_modes(mode):
    east, north = _city(5000)
    part = create_partitioner("s2", tau_min=10, tau_max=300, coord_mode=mode, utm_zone=ZONE).fit(east, north)
    labels, _ = part.assign(*part.class_coords.T)
    np.testing.assert_array_equal(labels, np.arange(part.num_classes))  # the coordinate lies in its own cell


def test_density_scaling_and_missing_zone():
    east, north = _city(5000)
    part = create_partitioner("s2", tau_scale="auto", utm_zone=ZONE).fit(east, north)
    assert part.info["tau_min"] == round(100 * part.info["tau_scale"])
    with pytest.raises(DataError, match="UTM zone"):
        create_partitioner("s2").fit(east, north)


def test_hge_hierarchy_follows_cell_ancestry(tmp_path):
    east, north = _city()
    part = create_partitioner(
        "hge", tau_min=20, tau_max_coarse=2400, tau_max_medium=1200, tau_max_fine=600, utm_zone=ZONE
    ).fit(east, north)
    coarse, medium = part.children["coarse"], part.children["medium"]
    assert coarse.num_classes < medium.num_classes < part.num_classes
    fine_ids = part.extras["cell_ids"]
    for col, child in enumerate((coarse, medium)):
        ancestor = child.extras["cell_ids"][part.hierarchy[:, col]]
        np.testing.assert_array_equal(s2.parent_ids(fine_ids, s2.id_levels(ancestor)), ancestor)
        kept = part.train_labels >= 0
        np.testing.assert_array_equal(child.train_labels[kept], part.hierarchy[part.train_labels[kept], col])
    loaded = Partition.load(part.save(tmp_path / "hge.npz"))
    assert loaded.fingerprint() == part.fingerprint()
    np.testing.assert_array_equal(loaded.hierarchy, part.hierarchy)
    np.testing.assert_array_equal(loaded.children["medium"].assign(east, north)[0], medium.train_labels)


def test_hge_is_order_independent():
    east, north = _city(8000, seed=4)
    cfg = dict(tau_min=10, tau_max_coarse=1600, tau_max_medium=800, tau_max_fine=400, utm_zone=ZONE)
    a = create_partitioner("hge", **cfg).fit(east, north)
    perm = np.random.default_rng(6).permutation(len(east))
    b = create_partitioner("hge", **cfg).fit(east[perm], north[perm])
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.children["coarse"].train_labels[perm], b.children["coarse"].train_labels)
