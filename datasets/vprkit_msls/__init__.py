"""vprkit plugin: Mapillary Street-Level Sequences (MSLS)."""

from vprkit import EvalProtocol, SpecPlugin
from vprkit.data.dataset_protocol import DownloadedDatasetSpec, standard_splits

plugin = SpecPlugin(
    DownloadedDatasetSpec(
        name="msls",
        description="Mapillary Street-Level Sequences: 30 cities, dashcam sequences; val = Copenhagen + San Francisco (mixed UTM zones)",
        how_to_get="download images_vol_*.zip and metadata.zip from https://www.mapillary.com/dataset/places and unzip them in one folder",
        prepare="vprkit_msls.prepare:prepare",
        splits=standard_splits("train/database", "train/queries", "val/database", "val/queries"),
        expected_counts={"val/database": 18_871, "val/queries": 740},
        protocol=EvalProtocol(
            paper_query_sets=("val/queries",),
            notes="740 val queries (Copenhagen, San Francisco) against 18,871 database images, 25 m without a "
            "heading condition, as the VPR benchmark and CosPlace evaluate MSLS val.",
        ),
        homepage="https://www.mapillary.com/dataset/places",
        licence="CC BY-NC-SA 4.0 (Mapillary)",
    ),
)
