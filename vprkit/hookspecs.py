"""The hook specifications: the whole plugin contract of vprkit.

A plugin is a module, or an object in one, listed under the ``vprkit`` entry-point group, that
implements any of these hooks with the ``vprkit.hookimpl`` marker::

    [project.entry-points.vprkit]
    foo = "foo_pkg"

    from vprkit import hookimpl, PartitionerSpec

    @hookimpl
    def vprkit_partitioners():
        return [PartitionerSpec(name="foo", factory="foo_pkg.impl:FooPartitioner",
                                config=FooConfig, description="...")]

A plugin that only registers specs is a :class:`vprkit.SpecPlugin`, which implements the six
``vprkit_<kind>s`` hooks for it (entry point ``foo = "foo_pkg:plugin"``)::

    plugin = SpecPlugin(PartitionerSpec(name="foo", factory="foo_pkg.impl:FooPartitioner",
                                        config=FooConfig, description="..."))

The six ``vprkit_<kind>s`` hooks each return an iterable of spec objects (may be empty). They
are called once, when the registry is first used; they must be cheap and import-light: put heavy
imports (torch, faiss, timm) in the module the spec's ``factory`` names. ``vprkit_commands`` adds
sub-commands to the Typer application of the ``vprkit`` CLI.

The reference page ``docs/reference/hooks.md`` documents each hook below; a test keeps the two
in sync. The bodies here are never run: pluggy calls the plugins' implementations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # only for annotations: keep this module import-light
    import typer

    from vprkit.specs import ClassifierSpec, DatasetSpec, IndexSpec, PartitionerSpec, RerankerSpec, RetrieverSpec

PROJECT_NAME = "vprkit"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def vprkit_partitioners() -> Iterable[PartitionerSpec]:
    """Return the partitioners this plugin provides.

    A partitioner turns training coordinates (UTM metres, headings in degrees, optional per-image
    features) into classes and groups, and maps any point to its class with ``assign()``.
    """
    raise NotImplementedError


@hookspec
def vprkit_classifiers() -> Iterable[ClassifierSpec]:
    """Return the classifiers this plugin provides.

    A classifier is a backbone plus heads trained over a partition; it predicts ranked classes with
    scores, class coordinates and a confidence, and can be the first stage of a pipeline.
    """
    raise NotImplementedError


@hookspec
def vprkit_retrievers() -> Iterable[RetrieverSpec]:
    """Return the retrievers this plugin provides.

    A retriever is a backbone plus aggregator producing L2-normalised place descriptors that an
    index searches.
    """
    raise NotImplementedError


@hookspec
def vprkit_indexes() -> Iterable[IndexSpec]:
    """Return the nearest-neighbour indexes this plugin provides.

    An index stores database descriptors and answers k-NN queries over all rows or only given rows.
    """
    raise NotImplementedError


@hookspec
def vprkit_rerankers() -> Iterable[RerankerSpec]:
    """Return the re-rankers this plugin provides.

    A re-ranker re-orders a query's retrieved shortlist (database rows, their images and scores)
    by verifying local features, returning new scores and the evidence (inlier counts).
    """
    raise NotImplementedError


@hookspec
def vprkit_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin provides.

    A dataset spec states the layout, split folders and expected counts of a dataset, how to build
    or read it, and optionally how to prepare the files as distributed by their authors.
    """
    raise NotImplementedError


@hookspec
def vprkit_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``vprkit`` command-line application.

    Use Typer's API only: ``app.command()(func)`` or ``app.add_typer(sub_app, name="...")``. Keep
    the command module import-light; import heavy libraries inside the command function.
    """
