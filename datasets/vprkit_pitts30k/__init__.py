"""vprkit plugin: Pittsburgh 30k.

Registered through the `vprkit` entry-point group like any third-party plugin.
This module stays import-light; heavy code lives in the modules its specs' factories name.
"""

from vprkit import DatasetSpec, EvalProtocol, hookimpl
from vprkit.data.dataset_protocol import LocalDataset, LocalDatasetConfig

HOW_TO_GET = (
    "request Pittsburgh 250k from the NetVLAD authors (https://www.di.ens.fr/willow/research/netvlad/); "
    "you need the image folders 000-006, queries_real/ and datasets/pitts30k_{train,val,test}.mat"
)


def make(config: LocalDatasetConfig) -> LocalDataset:
    """Factory: a reader of a prepared copy (Pitts30k is downloaded, not generated)."""
    return LocalDataset("pitts30k", config, HOW_TO_GET)


@hookimpl
def vprkit_datasets():
    return [
        DatasetSpec(
            name="pitts30k",
            factory="vprkit_pitts30k:make",
            config=LocalDatasetConfig,
            description="Pittsburgh 30k (NetVLAD): Google Street View tiles, UTM 17T; train/val/test of 10k database images each",
            prepare="vprkit_pitts30k.prepare:prepare",
            splits={
                "train/database": "images/train/database",
                "train/queries": "images/train/queries",
                "val/database": "images/val/database",
                "val/queries": "images/val/queries",
                "test/database": "images/test/database",
                "test/queries": "images/test/queries",
            },
            expected_counts={
                "train/database": 10_000,
                "train/queries": 7_416,
                "val/database": 10_000,
                "val/queries": 7_608,
                "test/database": 10_000,
                "test/queries": 6_816,
            },
            protocol=EvalProtocol(
                radius_m=25.0, paper_query_sets=("test/queries",),
                notes="6,816 test queries against 10,000 database images (640×480 Street View tiles), "
                      "each model's own test transform.",
            ),
            homepage="https://www.di.ens.fr/willow/research/netvlad/",
            licence="research use only, on request from the NetVLAD authors (images from Google Street View)",
        )
    ]
