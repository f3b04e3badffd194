"""timm-style registry over the plugins: ``list_*`` with wildcard filters, ``create_*``.

>>> from vprkit import list_partitioners, create_partitioner
>>> list_partitioners("*s2*")                       # doctest: +SKIP
['s2']
>>> part = create_partitioner("dnc", M=20, N=2)     # doctest: +SKIP

Unknown names raise :class:`~vprkit.errors.UnknownNameError` listing the closest names.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel

from vprkit.config import build_config
from vprkit.errors import PluginError, UnknownNameError
from vprkit.plugins import DISABLE_ENV, Registered, disabled_plugins, registered_specs

if TYPE_CHECKING:
    from vprkit.contracts import Classifier, DatasetProvider, NearestIndex, Partitioner, Reranker, Retriever

from vprkit.specs import (
    SPEC_TYPES,
    ClassifierSpec,
    DatasetSpec,
    IndexSpec,
    MethodSpec,
    PartitionerSpec,
    RerankerSpec,
    RetrieverSpec,
)

__all__ = [
    "KINDS",
    "create",
    "create_classifier",
    "create_dataset",
    "create_index",
    "create_partitioner",
    "create_reranker",
    "create_retriever",
    "get_classifier_spec",
    "get_dataset_spec",
    "get_index_spec",
    "get_partitioner_spec",
    "get_registered",
    "get_reranker_spec",
    "get_retriever_spec",
    "get_spec",
    "licensed",
    "list_classifiers",
    "list_datasets",
    "list_indexes",
    "list_methods",
    "list_partitioners",
    "list_rerankers",
    "list_retrievers",
    "missing_partitioner",
]

KINDS: tuple[str, ...] = tuple(SPEC_TYPES)


def list_methods(kind: str, filter: str | Iterable[str] = "*") -> list[str]:
    """Sorted names of ``kind`` matching a shell wildcard (or any of several)."""
    patterns = [filter] if isinstance(filter, str) else list(filter)
    names = registered_specs(kind)
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def get_registered(kind: str, name: str) -> Registered:
    """The spec and providing plugin for ``name``; unknown names suggest the closest ones."""
    specs = registered_specs(kind)
    if name in specs:
        return specs[name]
    close = difflib.get_close_matches(name, list(specs), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(specs) or "none installed"
    raise UnknownNameError(f"unknown {kind} {name!r}.{hint} Available: {known}.")


def get_spec(kind: str, name: str) -> MethodSpec:
    return get_registered(kind, name).spec


# what the objects a factory returns must offer, per kind (a broken plugin is named here, not
# deep in a pipeline as an AttributeError)
_REQUIRED = {
    "partitioner": ("fit",),
    "classifier": ("save", "load", "fingerprint"),
    "retriever": ("save", "load", "fingerprint", "encode"),
    "index": ("build", "search", "search_rows", "save"),
    "reranker": ("fingerprint", "extract", "verify", "rerank"),
}


def missing_partitioner(spec: MethodSpec) -> str | None:
    """The partitioner a classifier spec names when no installed plugin provides it, else None."""
    if (
        isinstance(spec, ClassifierSpec)
        and spec.partitioner
        and spec.partitioner not in registered_specs("partitioner")
    ):
        return spec.partitioner
    return None


def create(kind: str, name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> Any:
    """Build a method: validate ``config`` + ``overrides`` against the spec's config class and call
    the factory with the result. The factory's module is imported here, not before; a classifier
    whose partitioner is not installed, or an object that lacks what its kind needs, is refused,
    naming the plugin."""
    registered = get_registered(kind, name)
    spec = registered.spec
    needed = missing_partitioner(spec)
    if needed is not None:
        off = sorted(disabled_plugins())
        hint = f" ({DISABLE_ENV} disables {', '.join(off)})" if off else "; install the plugin that provides it"
        raise PluginError(f"{kind} {name!r} needs partitioner {needed!r}, which is not installed{hint}")
    cfg = build_config(spec.config, config, overrides, owner=f"{kind} {name!r}")
    made = spec.load_factory()(cfg)
    missing = [attr for attr in _REQUIRED.get(kind, ()) if not callable(getattr(made, attr, None))]
    if missing:
        plugin = registered.plugin
        raise PluginError(
            f"vprkit plugin {plugin.name!r} (from distribution {plugin.distribution!r}): {kind} {name!r} "
            f"factory {spec.factory} returned {type(made).__name__}, which has no {', '.join(missing)}"
        )
    return made


def list_partitioners(filter: str | Iterable[str] = "*") -> list[str]:
    """Names of registered partitioners matching ``filter`` (e.g. ``"*s2*"``)."""
    return list_methods("partitioner", filter)


def list_classifiers(filter: str | Iterable[str] = "*", *, license: str | Iterable[str] | None = None) -> list[str]:
    """Names of registered classifiers matching ``filter`` (and, given, one of the licences
    ``license``: :func:`licensed`)."""
    return licensed("classifier", list_methods("classifier", filter), license)


def list_retrievers(filter: str | Iterable[str] = "*", *, license: str | Iterable[str] | None = None) -> list[str]:
    """Names of registered retrievers matching ``filter`` (and, given, one of the licences
    ``license``, e.g. ``list_retrievers(license="MIT")``: :func:`licensed`)."""
    return licensed("retriever", list_methods("retriever", filter), license)


def licensed(kind: str, names: Iterable[str], license: str | Iterable[str] | None) -> list[str]:
    """The ``names`` of ``kind`` whose card licence (:class:`~vprkit.specs.ModelCard`) is one of
    ``license`` (compared case-insensitively; ``None``: every name). A method whose card states no
    licence matches only ``""``, so filtering never admits a method of unknown terms."""
    names = list(names)
    if license is None:
        return names
    wanted = {license.lower()} if isinstance(license, str) else {x.lower() for x in license}
    return [n for n in names if getattr(getattr(get_spec(kind, n), "card", None), "license", "").lower() in wanted]


def list_indexes(filter: str | Iterable[str] = "*") -> list[str]:
    """Names of registered indexes matching ``filter``."""
    return list_methods("index", filter)


def list_rerankers(filter: str | Iterable[str] = "*") -> list[str]:
    """Names of registered re-rankers matching ``filter``."""
    return list_methods("reranker", filter)


def list_datasets(filter: str | Iterable[str] = "*") -> list[str]:
    """Names of registered datasets matching ``filter``."""
    return list_methods("dataset", filter)


def get_partitioner_spec(name: str) -> PartitionerSpec:
    return get_spec("partitioner", name)  # type: ignore[return-value]


def get_classifier_spec(name: str) -> ClassifierSpec:
    return get_spec("classifier", name)  # type: ignore[return-value]


def get_retriever_spec(name: str) -> RetrieverSpec:
    return get_spec("retriever", name)  # type: ignore[return-value]


def get_index_spec(name: str) -> IndexSpec:
    return get_spec("index", name)  # type: ignore[return-value]


def get_reranker_spec(name: str) -> RerankerSpec:
    return get_spec("reranker", name)  # type: ignore[return-value]


def get_dataset_spec(name: str) -> DatasetSpec:
    return get_spec("dataset", name)  # type: ignore[return-value]


def create_partitioner(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> Partitioner:
    """Build partitioner ``name`` (overrides are config fields, e.g. ``M=20``)."""
    return cast("Partitioner", create("partitioner", name, config, **overrides))


def create_classifier(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> Classifier:
    """Build classifier ``name``."""
    return cast("Classifier", create("classifier", name, config, **overrides))


def create_retriever(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> Retriever:
    """Build retriever ``name``."""
    return cast("Retriever", create("retriever", name, config, **overrides))


def create_index(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> NearestIndex:
    """Build index ``name``."""
    return cast("NearestIndex", create("index", name, config, **overrides))


def create_reranker(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> Reranker:
    """Build re-ranker ``name`` (overrides are config fields, e.g. ``ratio=0.75``)."""
    return cast("Reranker", create("reranker", name, config, **overrides))


def create_dataset(name: str, config: BaseModel | dict[str, Any] | None = None, **overrides: Any) -> DatasetProvider:
    """Build dataset ``name`` (a generator or reader, depending on the plugin)."""
    return cast("DatasetProvider", create("dataset", name, config, **overrides))
