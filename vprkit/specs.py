"""Spec objects: what a plugin hands vprkit to describe one method.

Every spec is a frozen dataclass with at least

- ``name``: the registry name (``"dnc"``, ``"flat"``, ``"synthcity"``), unique within its kind;
- ``factory``: a ``"module:callable"`` string; the module is imported only when the method is
  created, so registering a method costs no heavy import (torch, faiss, timm);
- ``config``: a pydantic model class (``extra="forbid"``) whose defaults are the paper's;
- ``description``: one line shown by ``vprkit plugins list``.

The factory is called as ``factory(config)`` with a validated instance of ``config``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from vprkit.errors import ConfigError, PluginError

__all__ = [
    "JOINT_TRAINER",
    "SPEC_TYPES",
    "ClassifierSpec",
    "DatasetSpec",
    "EvalProtocol",
    "IndexSpec",
    "JointClassifierSpec",
    "MethodSpec",
    "ModelCard",
    "ModelSpec",
    "PaperResult",
    "PartitionerSpec",
    "Release",
    "RerankerSpec",
    "RetrieverSpec",
    "resolve_callable",
]


def resolve_callable(target: str, *, owner: str = "") -> Callable[..., Any]:
    """Import ``"package.module:attr"`` and return the attribute.

    Errors name ``owner`` (the spec that declared the target) so a broken plugin names itself.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{owner or 'spec'}: factory {target!r} is not of the form 'module:callable'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, but also anything a module raises at import time
        raise PluginError(f"{owner or 'spec'}: cannot import {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"{owner or 'spec'}: {module_name!r} has no attribute {attr!r}") from exc
    if not callable(obj):
        raise PluginError(f"{owner or 'spec'}: {target!r} is not callable")
    return obj


@dataclass(frozen=True)
class MethodSpec:
    """Fields shared by every kind of spec."""

    kind: ClassVar[str] = "method"

    name: str
    factory: str
    config: type[BaseModel]
    description: str

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise PluginError(f"{type(self).__name__}: invalid name {self.name!r} (letters, digits, - and _)")
        if ":" not in self.factory:
            raise PluginError(f"{self.kind} {self.name!r}: factory {self.factory!r} must be 'module:callable'")
        if not (isinstance(self.config, type) and issubclass(self.config, BaseModel)):
            raise PluginError(f"{self.kind} {self.name!r}: config must be a pydantic BaseModel class")
        if "\n" in self.description:
            raise PluginError(f"{self.kind} {self.name!r}: description must be one line")

    def load_factory(self) -> Callable[..., Any]:
        """Import and return the factory (the heavy import happens here, not at registration)."""
        return resolve_callable(self.factory, owner=f"{self.kind} {self.name!r}")


@dataclass(frozen=True)
class PartitionerSpec(MethodSpec):
    """A partitioner: training coordinates (and headings, features) → classes and groups."""

    kind: ClassVar[str] = "partitioner"


@dataclass(frozen=True)
class Release:
    """Weights a method's authors published, described as data (timm's "pretrained config").

    ``vprkit models import METHOD NAME`` downloads ``url`` into the cache (once), checks it against
    ``sha256`` when the spec knows it (else records the checksum of the first download and checks
    later uses against it), and calls the method's importer with ``config`` as overrides.
    """

    name: str
    url: str
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    sha256: str = ""
    license: str = ""
    source: str = ""  # the repository (and commit) that documents the file
    file_name: str = ""  # default: the last component of ``url``

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise PluginError(f"Release: invalid name {self.name!r} (letters, digits, - and _)")

    @property
    def filename(self) -> str:
        return self.file_name or self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PaperResult:
    """One headline number a method's paper (or its authors' repository) reports, as data."""

    benchmark: str  # the dataset and split, e.g. "MSLS val", "Pitts30k test", "SF-XL test v1"
    metric: str  # e.g. "R@1"
    value: float  # in the paper's unit (percent for recalls)
    setting: str = ""  # what the number is for: backbone, dimension, resolution


@dataclass(frozen=True)
class ModelCard:
    """What a method is, as data (the Models page and ``vprkit plugins list --license`` read it).

    ``license`` is the licence of the authors' code and weights (an SPDX id such as ``MIT`` or
    ``GPL-3.0``; ``""`` when not stated); ``paper`` cites the method; ``input`` states the test-time
    input contract (size rule, multiple, normalisation); ``weights`` says where released weights come
    from; ``results`` are the paper's headline numbers with the benchmark named.
    """

    paper: str = ""
    license: str = ""
    input: str = ""
    weights: str = ""
    results: tuple[PaperResult, ...] = ()


@dataclass(frozen=True)
class ModelSpec(MethodSpec):
    """Fields shared by the trained kinds (classifiers, retrievers).

    ``factory`` names the model class itself: ``factory(config)`` builds an untrained model and
    ``factory.load(folder)`` reads a saved one (the pipeline loads model folders and bundles
    through it); deriving from :class:`~vprkit.models.interfaces.TrainedClassifier` /
    :class:`~vprkit.models.interfaces.TrainedRetriever` gives both.

    ``trainer`` is an optional ``"module:callable"``, ``trainer(model, request) -> model`` with a
    :class:`vprkit.contracts.TrainRequest`, that trains a fresh model and saves it to
    ``request.out_dir`` (``vprkit train``; the shared steps are in :mod:`vprkit.training.recipe`);
    a method without one is not trainable by vprkit. ``importer`` is an optional
    ``"module:callable"`` that turns a weights file in the authors' release format into a vprkit
    model (``vprkit models import``); ``releases`` names the files the authors published, so a user
    can import one by name.
    """

    trainer: str | None = None
    importer: str | None = None
    releases: tuple[Release, ...] = ()
    card: ModelCard = field(default_factory=ModelCard)

    def __post_init__(self) -> None:
        super().__post_init__()
        for what in ("trainer", "importer"):
            target = getattr(self, what)
            if target is not None and ":" not in target:
                raise PluginError(f"{self.kind} {self.name!r}: {what} {target!r} must be 'module:callable'")

    def load_trainer(self) -> Callable[..., Any]:
        """Import and return the trainer (a :class:`~vprkit.errors.ConfigError` if there is none)."""
        if not self.trainer:
            raise ConfigError(
                f"{self.kind} {self.name!r} cannot be trained by vprkit: its spec names no trainer (ModelSpec.trainer)"
            )
        return resolve_callable(self.trainer, owner=f"{self.kind} {self.name!r}")

    def load_importer(self) -> Callable[..., Any]:
        if not self.importer:
            raise PluginError(f"{self.kind} {self.name!r} has no importer of released weights")
        return resolve_callable(self.importer, owner=f"{self.kind} {self.name!r}")

    def release(self, name: str) -> Release | None:
        return next((r for r in self.releases if r.name == name), None)


@dataclass(frozen=True)
class ClassifierSpec(ModelSpec):
    """A classifier: backbone + heads over a partition; predicts ranked classes.

    ``partitioner`` names the partitioner whose partition the classifier trains on: its trainer
    fits that one (:func:`vprkit.training.recipe.spec_partitioner`), and creating the classifier
    fails clearly when no installed plugin provides it.
    """

    kind: ClassVar[str] = "classifier"
    partitioner: str = ""


#: The trainer vprkit provides for classifiers that derive from
#: :class:`~vprkit.models.joint_classifier.JointHeadClassifier` (every head on every step).
JOINT_TRAINER = "vprkit.training.joint_recipe:train_joint"


@dataclass(frozen=True)
class JointClassifierSpec(ClassifierSpec):
    """A :class:`ClassifierSpec` of a :class:`~vprkit.models.joint_classifier.JointHeadClassifier`
    (PlaNet, HGE, CPlaNet, MvMF): its ``trainer`` is vprkit's joint-head recipe
    (:data:`JOINT_TRAINER`, :func:`vprkit.training.joint_recipe.train_joint`) unless it names another."""

    trainer: str | None = JOINT_TRAINER


@dataclass(frozen=True)
class RetrieverSpec(ModelSpec):
    """A retriever: backbone + aggregator that produces L2-normalised place descriptors."""

    kind: ClassVar[str] = "retriever"


@dataclass(frozen=True)
class IndexSpec(MethodSpec):
    """A nearest-neighbour index over database descriptors (exact or approximate)."""

    kind: ClassVar[str] = "index"


@dataclass(frozen=True)
class RerankerSpec(MethodSpec):
    """A re-ranker: re-orders a query's retrieved shortlist by verifying local features
    (:class:`vprkit.contracts.Reranker`).

    ``factory(config)`` returns the re-ranker. A learned matcher states where its weights come from
    on its ``card`` and lists the files its authors published in ``releases`` (fetched only when
    the user asks for them, checked against ``sha256``); a method that needs no weights leaves both
    empty.
    """

    kind: ClassVar[str] = "reranker"
    releases: tuple[Release, ...] = ()
    card: ModelCard = field(default_factory=ModelCard)


@dataclass(frozen=True)
class EvalProtocol:
    """How a benchmark is scored, as its papers do it.

    ``radius_m``: a prediction is right within this distance (UTM metres) of the query (default
    25 m, the criterion of the VPR papers and of every built-in benchmark);
    ``paper_query_sets``: the query sets (``"test/queries_v1"``...) of the papers' tables;
    ``notes``: anything else a reproduction must know (test resize, query counts...).
    """

    radius_m: float = 25.0
    paper_query_sets: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class DatasetSpec(MethodSpec):
    """A dataset: its layout, split folders, expected counts and how to prepare it.

    ``factory`` builds a dataset object from ``config`` (e.g. a generator for synthcity, a reader
    for an existing folder); ``prepare`` is an optional ``"module:callable"`` that converts the
    files as distributed by the authors into the standard layout (docs/datasets/index.md).
    ``splits`` maps a split name (``"train"``, ``"test/database"``, ``"test/queries_v1"``...) to
    its folder relative to the dataset root; the ``<split>/queries*`` entries are the split's
    query sets (:meth:`query_sets`). ``expected_counts`` maps split name to the published count;
    ``protocol`` is how the benchmark is scored.
    """

    kind: ClassVar[str] = "dataset"
    prepare: str | None = None
    splits: Mapping[str, str] = field(default_factory=dict)
    expected_counts: Mapping[str, int] = field(default_factory=dict)
    homepage: str = ""
    licence: str = ""
    protocol: EvalProtocol = field(default_factory=EvalProtocol)

    def query_sets(self, split: str) -> list[str]:
        """Names of the query sets of ``split`` (``"test"`` → ``["queries_v1", ...]``)."""
        prefix = f"{split.strip('/')}/"
        return [
            s[len(prefix) :] for s in self.splits if s.startswith(prefix) and s[len(prefix) :].startswith("queries")
        ]

    def load_prepare(self) -> Callable[..., Any]:
        if not self.prepare:
            raise PluginError(f"dataset {self.name!r} has no prepare step")
        return resolve_callable(self.prepare, owner=f"dataset {self.name!r}")


#: hook name → spec class, in the order kinds are shown.
SPEC_TYPES: dict[str, type[MethodSpec]] = {
    "partitioner": PartitionerSpec,
    "classifier": ClassifierSpec,
    "retriever": RetrieverSpec,
    "index": IndexSpec,
    "reranker": RerankerSpec,
    "dataset": DatasetSpec,
}
