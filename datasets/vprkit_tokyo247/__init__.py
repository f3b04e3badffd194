"""vprkit plugin: Tokyo 24/7."""

from vprkit import EvalProtocol, SpecPlugin
from vprkit.data.dataset_protocol import DownloadedDatasetSpec, standard_splits

plugin = SpecPlugin(
    DownloadedDatasetSpec(
        name="tokyo247",
        description="Tokyo 24/7: Street View database, phone queries by day, sunset and night; UTM 54S",
        how_to_get=(
            "download the Tokyo 24/7 database tars (03814-03829), 247query_subset_v2.zip and datasets/tokyo247.mat "
            "from the authors (http://www.ok.ctrl.titech.ac.jp/~torii/project/247/ and the NetVLAD page)"
        ),
        prepare="vprkit_tokyo247.prepare:prepare",
        splits=standard_splits("test/database", "test/queries"),
        expected_counts={"test/database": 75_984, "test/queries": 315},
        protocol=EvalProtocol(
            paper_query_sets=("test/queries",),
            notes="315 phone queries (day, sunset, night; sizes vary) against 75,984 database images; "
            "each model's own test transform.",
        ),
        homepage="http://www.ok.ctrl.titech.ac.jp/~torii/project/247/",
        licence="research use only (database images from Google Street View; queries by the authors)",
    ),
)
