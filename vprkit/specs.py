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
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from pydantic import BaseModel

from vprkit.errors import PluginError

__all__ = [
    "MethodSpec",
    "PartitionerSpec",
    "ClassifierSpec",
    "RetrieverSpec",
    "IndexSpec",
    "DatasetSpec",
    "SPEC_TYPES",
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
class ClassifierSpec(MethodSpec):
    """A classifier: backbone + heads over a partition; predicts ranked classes.

    ``partitioner`` names the partitioner plugin whose partition the classifier trains on.
    """

    kind: ClassVar[str] = "classifier"
    partitioner: str = ""


@dataclass(frozen=True)
class RetrieverSpec(MethodSpec):
    """A retriever: backbone + aggregator that produces L2-normalised place descriptors."""

    kind: ClassVar[str] = "retriever"


@dataclass(frozen=True)
class IndexSpec(MethodSpec):
    """A nearest-neighbour index over database descriptors (exact or approximate)."""

    kind: ClassVar[str] = "index"


@dataclass(frozen=True)
class DatasetSpec(MethodSpec):
    """A dataset: its layout, split folders, expected counts and how to prepare it.

    ``factory`` builds a dataset object from ``config`` (e.g. a generator for synthcity, a reader
    for an existing folder); ``prepare`` is an optional ``"module:callable"`` that converts the
    files as distributed by the authors into the standard layout (METHODS.md §10).
    ``splits`` maps a split name (``"train"``, ``"database"``, ``"queries"``...) to its folder
    relative to the dataset root; ``expected_counts`` maps split name to the published count.
    """

    kind: ClassVar[str] = "dataset"
    prepare: str | None = None
    splits: Mapping[str, str] = field(default_factory=dict)
    expected_counts: Mapping[str, int] = field(default_factory=dict)
    homepage: str = ""
    licence: str = ""

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
    "dataset": DatasetSpec,
}
