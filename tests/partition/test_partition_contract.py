"""Contract of every registered partitioner (parametrised over ``list_partitioners()``), checked by
:func:`vprkit.testing.check_partitioner` on a synthetic 400 m city: Partition shapes and dtypes,
counts that add up, ``assign`` consistent with ``train_labels``, determinism, classes independent of
the points' order, save/load round trip."""

from __future__ import annotations

from vprkit import testing

#: cell sizes and thresholds for 3,000 points over 400 m × 400 m (the defaults are for cities)
SMALL_CITY = {
    "dnc": {"min_images_per_class": 2},
    "cosplace": {"M": 50, "alpha": 90, "N": 2, "L": 2, "min_images_per_class": 2, "groups_num": None},
    "s2": {"tau_min": 5, "tau_max": 100},
    "hge": {"tau_min": 5, "tau_max_fine": 100, "tau_max_medium": 300, "tau_max_coarse": 800},
    "cplanet": {"num_geoclasses": [6, 6, 8, 7, 7]},
}


@testing.parametrize_registered("partitioner")
def test_partitioner_contract(name, tmp_path):
    part = testing.check_partitioner(name, tmp_path, overrides=SMALL_CITY.get(name))
    assert part.method == name
