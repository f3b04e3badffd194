"""vprkit plugin: Mapillary Street-Level Sequences (MSLS)."""

from vprkit import DatasetSpec, EvalProtocol, hookimpl
from vprkit.data.dataset_protocol import LocalDatasetConfig, downloaded_dataset, standard_splits

HOW_TO_GET = "download images_vol_*.zip and metadata.zip from https://www.mapillary.com/dataset/places and unzip them in one folder"

make = downloaded_dataset("msls", HOW_TO_GET)


@hookimpl
def vprkit_datasets():
    return [
        DatasetSpec(
            name="msls",
            factory="vprkit_msls:make",
            config=LocalDatasetConfig,
            description="Mapillary Street-Level Sequences: 30 cities, dashcam sequences; val = Copenhagen + San Francisco (mixed UTM zones)",
            prepare="vprkit_msls.prepare:prepare",
            splits=standard_splits("train/database", "train/queries", "val/database", "val/queries"),
            expected_counts={"val/database": 18_871, "val/queries": 740},
            protocol=EvalProtocol(
                radius_m=25.0, paper_query_sets=("val/queries",),
                notes="740 val queries (Copenhagen, San Francisco) against 18,871 database images, 25 m without a "
                      "heading condition, as the VPR benchmark and CosPlace evaluate MSLS val.",
            ),
            homepage="https://www.mapillary.com/dataset/places",
            licence="CC BY-NC-SA 4.0 (Mapillary)",
        )
    ]
