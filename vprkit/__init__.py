"""vprkit: city-wide visual place recognition assembled from plugins.

The top-level namespace is import-light (no torch, faiss or timm): it holds the plugin contract
(:data:`hookimpl`, :class:`SpecPlugin` and the spec classes), the registry (``list_*`` / ``create_*``) and the
configuration helpers. Methods import their heavy dependencies when they are created.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from vprkit import errors as _errors
from vprkit.config import VprkitConfig, load_config
from vprkit.errors import *  # noqa: F403 (the exceptions: errors.__all__)
from vprkit.hookspecs import hookimpl
from vprkit.plugins import SpecPlugin
from vprkit.registry import (
    create_classifier,
    create_dataset,
    create_index,
    create_partitioner,
    create_reranker,
    create_retriever,
    get_classifier_spec,
    get_dataset_spec,
    get_index_spec,
    get_partitioner_spec,
    get_reranker_spec,
    get_retriever_spec,
    list_classifiers,
    list_datasets,
    list_indexes,
    list_partitioners,
    list_rerankers,
    list_retrievers,
)
from vprkit.specs import (
    ClassifierSpec,
    DatasetSpec,
    EvalProtocol,
    IndexSpec,
    JointClassifierSpec,
    ModelCard,
    PaperResult,
    PartitionerSpec,
    Release,
    RerankerSpec,
    RetrieverSpec,
)

try:
    __version__ = _metadata.version("vprkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "hookimpl",
    "SpecPlugin",
    "PartitionerSpec",
    "ClassifierSpec",
    "JointClassifierSpec",
    "RetrieverSpec",
    "IndexSpec",
    "RerankerSpec",
    "DatasetSpec",
    "EvalProtocol",
    "Release",
    "ModelCard",
    "PaperResult",
    "VprkitConfig",
    "load_config",
    *_errors.__all__,
    "list_partitioners",
    "list_classifiers",
    "list_retrievers",
    "list_indexes",
    "list_rerankers",
    "list_datasets",
    "create_partitioner",
    "create_classifier",
    "create_retriever",
    "create_index",
    "create_reranker",
    "create_dataset",
    "get_partitioner_spec",
    "get_classifier_spec",
    "get_retriever_spec",
    "get_index_spec",
    "get_reranker_spec",
    "get_dataset_spec",
]
