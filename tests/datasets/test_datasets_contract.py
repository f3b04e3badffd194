"""Contract of every registered dataset (parametrised over ``list_datasets()``), checked by
:func:`vprkit.testing.check_dataset`: the spec's splits, counts, protocol and query sets agree; a
dataset that generates writes the splits it reports; a downloaded one (MSLS, Pitts30k...) refuses
to generate with an error that says how to prepare it, leaving nothing behind."""

from __future__ import annotations

from vprkit import testing
from vprkit.registry import get_dataset_spec

#: a city smaller than synthcity's ``tiny`` preset: generates in well under a second
SMALL = {
    "synthcity": {
        "size": "tiny",
        "image_size": 16,
        "extent_m": 200,
        "train_spacing_m": 25,
        "db_spacing_m": 40,
        "val_db_spacing_m": 60,
        "n_test_queries": 4,
        "n_val_queries": 4,
        "workers": 1,
    },
}


@testing.parametrize_registered("dataset")
def test_dataset_contract(name, tmp_path):
    counts = testing.check_dataset(name, tmp_path, overrides=SMALL.get(name))
    if name == "synthcity":
        assert counts is not None and set(counts) == set(get_dataset_spec(name).splits)
    elif get_dataset_spec(name).prepare:
        assert counts is None  # downloaded, then prepared: never generated
