"""The small protocol between ``vprkit datasets make/prepare`` and a dataset plugin.

A :class:`~vprkit.specs.DatasetSpec` names

- ``factory``: ``factory(config) -> DatasetGenerator`` for datasets that can be *made* (synthcity):
  the returned object's ``generate(out_dir)`` writes the dataset in the standard layout under
  ``out_dir`` and may return a summary mapping (split → image count). For convenience the factory
  may instead return a plain callable ``fn(out_dir)``. Datasets that are downloaded, not made,
  have a :class:`DownloadedDatasetSpec`: their factory is a :class:`LocalDataset` whose
  ``generate`` explains how to get and prepare them.
- ``prepare`` (optional): ``prepare(src, out, *, link="symlink") -> Mapping[str, int]`` turns the
  files as distributed by the authors (``src``) into the standard layout under ``out`` and returns
  the image count per split.

``vprkit datasets make NAME --size S --seed N --set k=v --out DIR`` builds ``spec.config`` from
``size``/``seed``/``--set`` (only the options given), calls the factory, then ``generate(DIR)``.

Both ``make`` and ``prepare`` finish by writing ``DIR/vprkit-dataset.json`` (the dataset's name
and counts), so later commands know which benchmark a folder is (:func:`dataset_spec_of`) and
apply its protocol (query sets, published counts, radius).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from vprkit.config import VprkitConfig, build_config
from vprkit.errors import DataError, PluginError
from vprkit.specs import DatasetSpec

if TYPE_CHECKING:
    from vprkit.contracts import Progress
    from vprkit.data.image_list import ImageList

__all__ = [
    "DATASET_MARKER",
    "LINK_MODES",
    "DatasetGenerator",
    "DownloadedDatasetSpec",
    "LocalDataset",
    "LocalDatasetConfig",
    "PrepareStep",
    "dataset_spec_of",
    "describe_datasets",
    "make_dataset",
    "mark_dataset",
    "prepare_dataset",
    "standard_splits",
]

DATASET_MARKER = "vprkit-dataset.json"

LINK_MODES = ("symlink", "hardlink", "copy")


@runtime_checkable
class DatasetGenerator(Protocol):
    """What a dataset factory returns when the dataset can be generated."""

    def generate(self, out_dir: Path) -> Optional[Mapping[str, int]]:
        """Write the dataset in the standard layout under ``out_dir``; return counts per split."""
        ...


class PrepareStep(Protocol):
    """A spec's ``prepare`` callable."""

    def __call__(self, src: Path, out: Path, *, link: str = "symlink") -> Mapping[str, int]:
        """Convert the authors' distribution at ``src`` into the standard layout at ``out``."""
        ...


class LocalDatasetConfig(VprkitConfig):
    """Config of a dataset that exists on disk (downloaded, then prepared)."""

    root: Optional[Path] = Field(None, description="dataset root in the standard layout")


class LocalDataset:
    """Factory result of downloadable datasets: reads splits; ``generate`` says how to get it."""

    def __init__(self, name: str, config: LocalDatasetConfig, how_to_get: str = ""):
        self.name = name
        self.config = config
        self.how_to_get = how_to_get

    def generate(self, out_dir: Path) -> Mapping[str, int]:
        raise DataError(
            f"dataset {self.name!r} cannot be generated; {self.how_to_get or 'download it from its homepage'}, "
            f"then run: vprkit datasets prepare {self.name} --src <downloaded folder> --out {out_dir}"
        )

    def load_split(self, split: str, **kwargs: Any) -> ImageList:
        """:func:`vprkit.data.standard.load_split` on ``config.root``."""
        from vprkit.data.standard import load_split

        if self.config.root is None:
            raise DataError(f"dataset {self.name!r}: set its root (e.g. --set root=/data/{self.name})")
        return load_split(self.config.root, split, **kwargs)


@dataclass(frozen=True, kw_only=True)
class DownloadedDatasetSpec(DatasetSpec):
    """The spec of a dataset that is downloaded, not generated: ``how_to_get`` says where its files
    are (a user who tries to make it is told), ``prepare`` turns them into the standard layout, and
    the factory reads the prepared copy: ``factory`` (by default :class:`LocalDataset`, configured
    by :class:`LocalDatasetConfig`, whose ``root`` is the copy) is called as
    ``factory(name, config, how_to_get=how_to_get)``."""

    how_to_get: str
    factory: str = f"{__name__}:LocalDataset"
    config: type[BaseModel] = LocalDatasetConfig

    def load_factory(self) -> Callable[..., Any]:
        """``factory(config)``: the reader class bound to this dataset's name and ``how_to_get``."""
        return functools.partial(super().load_factory(), self.name, how_to_get=self.how_to_get)


def standard_splits(*names: str) -> dict[str, str]:
    """``DatasetSpec.splits`` of the standard layout: ``"test/database"`` → ``"images/test/database"``."""
    return {n: f"images/{n}" for n in names}


def make_dataset(
    name: str,
    out_dir: Path,
    *,
    size: str | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Mapping[str, int] | None:
    """Build ``name``'s config from the options given, call its factory, then ``generate(out_dir)``
    (with ``progress``, a :class:`vprkit.contracts.Progress`, when the generator takes a
    ``progress`` argument)."""
    from vprkit.registry import get_dataset_spec

    spec = get_dataset_spec(name)
    values: dict[str, Any] = {}
    if size is not None:
        values["size"] = size
    if seed is not None:
        values["seed"] = seed
    cfg = build_config(spec.config, values, dict(overrides or {}), owner=f"dataset {name!r}")
    made = spec.load_factory()(cfg)
    if isinstance(made, DatasetGenerator):
        generate: Callable[..., Mapping[str, int] | None] = made.generate  # (out_dir), or (out_dir, progress=...)
    elif callable(made):
        generate = made
    else:
        raise PluginError(
            f"dataset {name!r}: factory {spec.factory} returned {type(made).__name__}, "
            "which has no generate(out_dir) method"
        )
    import inspect

    takes_progress = progress is not None and "progress" in inspect.signature(generate).parameters
    counts = generate(Path(out_dir), progress=progress) if takes_progress else generate(Path(out_dir))
    mark_dataset(Path(out_dir), name, counts)
    return counts


def mark_dataset(root: Path, name: str, counts: Mapping[str, int] | None) -> Path:
    """Write ``root/vprkit-dataset.json``: which registered dataset this folder holds."""
    from vprkit import __version__
    from vprkit.fileio import atomic_write_json

    return atomic_write_json(
        root / DATASET_MARKER, {"dataset": name, "vprkit": __version__, "counts": dict(counts or {})}
    )


def dataset_spec_of(root: str | Path) -> DatasetSpec | None:
    """The registered :class:`~vprkit.specs.DatasetSpec` of a folder made or prepared by vprkit,
    else ``None`` (a folder assembled by hand, or a dataset whose plugin is not installed)."""
    from vprkit.fileio import read_json_object
    from vprkit.registry import get_dataset_spec, list_datasets

    try:
        name = read_json_object(Path(root) / DATASET_MARKER, DataError, "no marker").get("dataset")
    except (OSError, DataError):  # no marker, or not one vprkit wrote: a folder like any other
        return None
    return get_dataset_spec(name) if name in list_datasets() else None


def prepare_dataset(name: str, src: Path, out: Path, *, link: str = "symlink") -> Mapping[str, int]:
    """Run ``name``'s prepare step (authors' files at ``src`` → standard layout at ``out``)."""
    from vprkit.registry import get_dataset_spec

    if link not in LINK_MODES:
        raise DataError(f"link must be one of {', '.join(LINK_MODES)}, not {link!r}")
    spec = get_dataset_spec(name)
    if not Path(src).exists():
        raise DataError(f"source folder {src} does not exist")
    prepare: PrepareStep = spec.load_prepare()
    counts = prepare(Path(src), Path(out), link=link)
    mark_dataset(Path(out), name, counts)
    return counts


def describe_datasets() -> list[dict[str, Any]]:
    """Every registered dataset spec: name, plugin, splits, published counts, homepage, licence."""
    from vprkit.plugins import registered_specs
    from vprkit.specs import DatasetSpec

    rows = []
    for name, reg in registered_specs("dataset").items():
        spec = reg.spec
        assert isinstance(spec, DatasetSpec)  # registered_specs checked every spec's type
        rows.append(
            {
                "name": name,
                "plugin": reg.plugin.name,
                "distribution": reg.plugin.distribution,
                "description": spec.description,
                "splits": dict(getattr(spec, "splits", {}) or {}),
                "expected_counts": dict(getattr(spec, "expected_counts", {}) or {}),
                "homepage": getattr(spec, "homepage", ""),
                "licence": getattr(spec, "licence", ""),
                "can_prepare": bool(getattr(spec, "prepare", None)),
                "protocol": {
                    "radius_m": spec.protocol.radius_m,
                    "paper_query_sets": list(spec.protocol.paper_query_sets),
                    "notes": spec.protocol.notes,
                },
            }
        )
    return rows
