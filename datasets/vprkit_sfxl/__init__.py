"""vprkit plugin: San Francisco eXtra Large (SF-XL), the city-scale dataset of CosPlace and D&C."""

from vprkit import EvalProtocol, SpecPlugin
from vprkit.data.dataset_protocol import DownloadedDatasetSpec, standard_splits

#: The split folders of SF-XL as distributed, which are already the standard layout's.
SPLITS = (
    "train",
    "val/database",
    "val/queries",
    "test/database",
    "test/queries_v1",
    "test/queries_v2",
    "test/queries_night",
    "test/queries_occlusion",
)

plugin = SpecPlugin(
    DownloadedDatasetSpec(
        name="sfxl",
        description="San Francisco eXtra Large: 41.2M training crops, 2.8M test database, 4 query sets; UTM 10S, standard names",
        how_to_get=(
            "request SF-XL through the form linked from https://github.com/gmberton/CosPlace (sf_xl/small or sf_xl/processed)"
        ),
        prepare="vprkit_sfxl.prepare:prepare",
        splits=standard_splits(*SPLITS),
        expected_counts={
            "test/queries_v1": 1_000,
            "test/queries_v2": 598,
            "test/queries_night": 466,
            "test/queries_occlusion": 76,
        },
        protocol=EvalProtocol(
            paper_query_sets=("test/queries_v1", "test/queries_v2"),
            notes="D&C reports LR@N on test v1 (1,000 queries) and v2 (598); CosPlace reports R@N on v1, v2, night "
            "(466) and occlusion (76); all against the 2.8M-image test database. Queries are scored at batch 1 "
            "with each model's own test transform (CosPlace: no resize; D&C: shorter side 256).",
        ),
        homepage="https://github.com/gmberton/CosPlace",
        licence="research use, on request from the CosPlace authors (see the CosPlace repository)",
    ),
)
