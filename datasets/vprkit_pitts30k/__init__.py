"""vprkit plugin: Pittsburgh 30k."""

from vprkit import EvalProtocol, SpecPlugin
from vprkit.data.dataset_protocol import DownloadedDatasetSpec, standard_splits

plugin = SpecPlugin(
    DownloadedDatasetSpec(
        name="pitts30k",
        description="Pittsburgh 30k (NetVLAD): Google Street View tiles, UTM 17T; train/val/test of 10k database images each",
        how_to_get=(
            "request Pittsburgh 250k from the NetVLAD authors (https://www.di.ens.fr/willow/research/netvlad/); "
            "you need the image folders 000-006, queries_real/ and datasets/pitts30k_{train,val,test}.mat"
        ),
        prepare="vprkit_pitts30k.prepare:prepare",
        splits=standard_splits(
            "train/database", "train/queries", "val/database", "val/queries", "test/database", "test/queries"
        ),
        expected_counts={
            "train/database": 10_000,
            "train/queries": 7_416,
            "val/database": 10_000,
            "val/queries": 7_608,
            "test/database": 10_000,
            "test/queries": 6_816,
        },
        protocol=EvalProtocol(
            paper_query_sets=("test/queries",),
            notes="6,816 test queries against 10,000 database images (640×480 Street View tiles), "
            "each model's own test transform.",
        ),
        homepage="https://www.di.ens.fr/willow/research/netvlad/",
        licence="research use only, on request from the NetVLAD authors (images from Google Street View)",
    ),
)
