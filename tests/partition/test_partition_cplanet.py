"""CPlaNet partition: target counts reached, every atom covered, regions, NormalizedSum, order independence."""

import numpy as np
import pytest
from vprkit_cplanet.scoring import normalized_sum

from vprkit import create_partitioner
from vprkit.errors import DataError
from vprkit.geometry import s2
from vprkit.partition import Partition

ZONE = "10S"
TARGETS = [40, 40, 52, 48, 44]


@pytest.fixture(scope="module")
def city():
    rng = np.random.default_rng(0)
    n = 6000
    east = 550000 + rng.uniform(0, 600, n)
    north = 4180000 + rng.uniform(0, 600, n)
    # Features that change across the map, so visual and geographic sets differ.
    features = np.column_stack([np.sin(east / 90), np.cos(north / 70), rng.normal(0, 0.3, (n, 14))])
    return east, north, features


@pytest.fixture(scope="module")
def part(city):
    east, north, features = city
    return create_partitioner("cplanet", num_geoclasses=TARGETS, utm_zone=ZONE).fit(east, north, features=features)


def test_sets_reach_targets_and_cover_every_atom(part):
    assert part.info["achieved"] == TARGETS and part.info["visual"] is True
    atoms = part.extras["atom_ids"]
    assert (s2.id_levels(atoms) == 19).all() and len(atoms) > part.info["nonempty_atoms"]
    for k, child in enumerate(part.children.values()):
        assert child.num_classes == TARGETS[k]
        atom_class = child.locator.cell_to_class
        assert (atom_class >= 0).all()  # every atom (also the attached empty ones) has a geoclass
        assert (np.bincount(atom_class, minlength=child.num_classes) == child.extras["atoms_per_class"]).all()
        assert (child.extras["atoms_per_class"] > 0).all() and (child.class_counts > 0).all()
        assert child.class_counts.sum() == len(part.train_labels)
    assert len({tuple(c.locator.cell_to_class.tolist()) for c in part.children.values()}) == 5


def test_regions_are_atoms_with_identical_tuples(part, city):
    east, north, _ = city
    tuples = np.stack([c.locator.cell_to_class for c in part.children.values()], axis=1)
    np.testing.assert_array_equal(part.hierarchy[part.extras["atom_region"]], tuples)
    assert len(np.unique(part.hierarchy, axis=0)) == part.num_classes > max(TARGETS)
    labels, groups = part.assign(east, north)
    np.testing.assert_array_equal(labels, part.train_labels)
    assert (groups == 0).all()
    # Region coordinate = mean UTM of its training images (eq. 4).
    np.testing.assert_allclose(part.class_coords[0], [east[labels == 0].mean(), north[labels == 0].mean()])


def test_normalized_sum_matches_the_atom_level_definition(part):
    rng = np.random.default_rng(1)
    probs = [rng.dirichlet(np.ones(c.num_classes), size=4) for c in part.children.values()]
    regions = normalized_sum(probs, part)
    per_atom = sum(
        p[:, c.locator.cell_to_class] / c.extras["atoms_per_class"][c.locator.cell_to_class]
        for p, c in zip(probs, part.children.values())
    )
    np.testing.assert_allclose(regions[:, part.extras["atom_region"]], per_atom)
    np.testing.assert_allclose(per_atom.sum(axis=1), 5.0)  # each set contributes exactly one


def test_order_independent_round_trip_and_geo_fallback(part, city, tmp_path):
    east, north, features = city
    perm = np.random.default_rng(5).permutation(len(east))
    again = create_partitioner("cplanet", num_geoclasses=TARGETS, utm_zone=ZONE).fit(
        east[perm], north[perm], features=features[perm]
    )
    assert again.fingerprint() == part.fingerprint()
    np.testing.assert_array_equal(part.train_labels[perm], again.train_labels)
    loaded = Partition.load(part.save(tmp_path / "cplanet.npz"))
    assert loaded.fingerprint() == part.fingerprint() and list(loaded.children) == [f"set{k}" for k in range(1, 6)]
    geo = create_partitioner("cplanet", num_geoclasses=TARGETS, utm_zone=ZONE).fit(east, north)
    assert geo.info["visual"] is False and geo.info["achieved"] == TARGETS
    with pytest.raises(DataError, match="features"):
        create_partitioner("cplanet", utm_zone=ZONE).fit(east, north, features=features[:10])


def test_default_targets_keep_the_sfxl_mean_geoclass_size(city):
    from vprkit_cplanet.config import CPlaNetPartitionConfig
    from vprkit_cplanet.partition import target_counts

    east, north, _ = city
    # 600 m × 600 m fully covered = 900 squares of 20 m = 360,000 m²; SF-XL set 1: 45.2 km² / 20k.
    assert target_counts(CPlaNetPartitionConfig(), east, north) == [
        round(360000 / (45.2e6 / g)) for g in (20000, 20000, 26000, 24000, 22000)
    ]
