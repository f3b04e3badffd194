"""Option aliases shared by every command, so a flag means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from vprkit.errors import ConfigError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        "-s",
        help="Override a config value: key=value (repeatable; dotted keys for nested).",
        metavar="KEY=VALUE",
    ),
]
ConfigOpt = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="YAML file with config values (before --set).", exists=False)
]
DATASET_HELP = "Dataset root folder, or an embedded name: 'synthcity', or 'synthcity-lighting' (its test queries mostly at dusk, night or under a colour cast)."
CLASSIFIER_HELP = "Classifier: a registered name (its shipped synthcity checkpoint), a trained model folder, or 'none'."
RETRIEVER_HELP = "Retriever: a registered name (its shipped synthcity checkpoint), a trained model folder, or 'none'."
INDEX_HELP = "Index for the retriever's k-NN: flat, ivfpq, hnsw (see `vprkit plugins list`)."
RERANKER_HELP = "Re-ranker of the retrieved places: a registered name (sift, lightglue) or 'none'."
SPLIT_HELP = "Split holding database/ and its query sets (test or val)."
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help=DATASET_HELP)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic for a seed).")]
PngOpt = Annotated[Optional[Path], typer.Option("--png", help="Also write a picture to this PNG file.")]
ClassifierOpt = Annotated[str, typer.Option("--classifier", help=CLASSIFIER_HELP)]
RetrieverOpt = Annotated[str, typer.Option("--retriever", help=RETRIEVER_HELP)]
TopnOpt = Annotated[int, typer.Option("--topn", help="Classes whose cells are searched by the retriever (paper: 100).")]
IndexOpt = Annotated[str, typer.Option("--index", help=INDEX_HELP)]
SplitOpt = Annotated[str, typer.Option("--split", help=SPLIT_HELP)]
QueriesOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--queries",
        help="Query set of the split to evaluate (repeatable: queries_v1, v2...; 'all' = every set, the default).",
        metavar="NAME",
    ),
]
ClassifierSetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--classifier-set",
        help="Inference setting of the classifier: key=value (repeatable), "
        "e.g. score_precision=auto for D&C at city scale.",
        metavar="KEY=VALUE",
    ),
]
RerankerOpt = Annotated[
    Optional[str], typer.Option("--reranker", help=RERANKER_HELP + " Default: none.", metavar="NAME|none")
]
RerankKOpt = Annotated[
    int, typer.Option("--rerank-k", help="Retrieved places the re-ranker verifies per query (at least 1).")
]
RerankerSetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--reranker-set",
        help="Config value of the re-ranker: key=value (repeatable), e.g. ratio=0.75 or geometry=homography.",
        metavar="KEY=VALUE",
    ),
]
BundleOpt = Annotated[
    Optional[Path], typer.Option("--bundle", "-b", help="Map bundle folder (built by `vprkit index build`).")
]
MmapOpt = Annotated[
    bool,
    typer.Option(
        "--mmap",
        help="Memory-map an existing bundle's store and database list instead of reading them: "
        "about 1 s instead of 17-19 s at 2.8M rows; payload sizes and fingerprints are checked, "
        "payload checksums are not.",
    ),
]
VerifyContentOpt = Annotated[
    bool,
    typer.Option(
        "--verify-content",
        help="Key the cached bundle by the bytes of every database image "
        "(slow; by default their name, size and modification time).",
    ),
]

DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where models run: auto (CUDA when present), cpu, cuda or cuda:N.",
        metavar="auto|cpu|cuda[:N]",
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision",
        help="Network precision: auto (bfloat16 on CUDA and on CPUs with native bfloat16, else float32), "
        "float32, bfloat16, float16 (CUDA).",
    ),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        help="Compute threads (torch, faiss). Default: the free cores (cores - workers - the load average).",
        min=1,
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", help="Image-decoding worker processes (0: in the main one).", min=0)
]

ResolutionOpt = Annotated[
    Optional[float],
    typer.Option(
        "--resolution",
        help="Test-time resolution: a factor on the models' input size, for queries and database alike "
        "(0.8: 80 % of each side). Default: the models' own (an existing bundle's).",
    ),
]

#: library names of settings → the flags that set them, for the errors about them (``ConfigError.field``)
FIELD_FLAGS = {"classifier_settings": "--classifier-set"}


@contextmanager
def flags_for_fields() -> Iterator[None]:
    """Re-raise a :class:`ConfigError` about a library setting (``field``) as one about its flag."""
    try:
        yield
    except ConfigError as exc:
        field, text = exc.field or "", str(exc)
        if field not in FIELD_FLAGS or not text.startswith(field):
            raise
        raise ConfigError(FIELD_FLAGS[field] + text[len(field) :], field=field) from exc
