"""What the exports share: the bundle's retriever and store, the query images, their descriptors.

The query sets of a bundle are the ``queries*`` folders beside its database folder (the split of
the standard layout the bundle was built from), or any folder of images (``query_images``).
Images are named by their path relative to the split folder — ``database/<path>`` and
``<query set>/<path>`` — so a name is unique across the database and every query set, and one
image root (``<dataset>/images/<split>``) resolves all of them.
"""

from __future__ import annotations

import importlib
import posixpath
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.errors import ConfigError, DataError

if TYPE_CHECKING:
    from types import ModuleType

    from vprkit.contracts import Progress
    from vprkit.index.cell_sorted import CellSortedDescriptors
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.runtime import Runtime

__all__ = [
    "DATABASE_LABEL",
    "Exported",
    "ImageSet",
    "QueryResults",
    "check_names",
    "database_rows",
    "database_set",
    "export_manifest",
    "load_export_bundle",
    "localize_queries",
    "query_sets",
    "require",
]

DATABASE_LABEL = "database"
#: the extra that installs what the exports import: ``pip install "vprkit[export]"``
EXTRA_HINT = 'pip install "vprkit[export]"'


@dataclass(frozen=True)
class Exported:
    """What an export wrote: ``files`` (in the order written, ``export.json`` last) and
    ``manifest`` (its content; for an ONNX file, what was exported and checked)."""

    files: list[Path]
    manifest: dict[str, Any]


@dataclass(frozen=True)
class ImageSet:
    """Images of one set, in row order: ``paths`` relative to ``folder``; ``label`` names the
    set in exported image names (``label/path``)."""

    label: str
    folder: Path
    paths: list[str]

    def names(self) -> list[str]:
        """``label/path`` for every image (the path normalised: ``./a.jpg`` is ``a.jpg``): the names
        an hloc file and pairs list use."""
        return [f"{self.label}/{posixpath.normpath(p)}" for p in self.paths]


@dataclass(frozen=True)
class QueryResults:
    """One query set run through the pipeline: ``descriptors`` ``(Q, D)`` float32 and the
    database ``rows`` ``(Q, K)`` int64 of its top-K places (-1: no database image at that rank)."""

    images: ImageSet
    descriptors: np.ndarray
    rows: np.ndarray = field(repr=False)


def require(module: str, command: str) -> ModuleType:
    """Import an optional dependency of an export, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{command} needs the Python package {module!r} ({exc}); install it: {EXTRA_HINT}") from exc


def load_export_bundle(bundle: str | Path | MapBundle) -> MapBundle:
    """The bundle to export (loaded, fingerprints checked, store memory-mapped); refused when it
    has no retriever (no descriptors to export)."""
    from vprkit.pipeline.bundle import MapBundle

    loaded = bundle if isinstance(bundle, MapBundle) else MapBundle.load(Path(bundle), mmap=True)
    if loaded.retriever is None or loaded.store is None or loaded.database is None:
        raise ConfigError(
            f"--bundle {str(loaded.root)!r} has no retriever, hence no descriptors to export; build one with "
            "a retriever (`vprkit index build --retriever ...`)"
        )
    return loaded


def database_set(bundle: MapBundle) -> ImageSet:
    """The bundle's database images, in its row order (the order of its descriptors)."""
    assert bundle.database is not None  # load_export_bundle checked it
    return ImageSet(DATABASE_LABEL, Path(bundle.database.root), [str(p) for p in bundle.database.paths.tolist()])


def database_rows(store: CellSortedDescriptors, chunk_rows: int = 1 << 15) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, block)`` of the bundle store's float32 descriptors in database row order, a block
    of ``chunk_rows`` rows at a time (the store keeps them sorted by cell; a memory-mapped store is
    never read whole)."""
    n = store.ntotal
    position = np.empty(n, dtype=np.int64)
    position[store.row_ids] = np.arange(n, dtype=np.int64)
    for start in range(0, n, chunk_rows):
        block = np.asarray(store.descriptors[position[start : start + chunk_rows]], dtype=np.float32)
        yield start, block


def query_sets(
    bundle: MapBundle, queries: Sequence[str] | None = None, query_images: str | Path | None = None
) -> list[ImageSet]:
    """The query images to export: ``query_images`` (any folder of images, named after the folder),
    else the query sets ``queries`` (``None`` or ``["all"]``: every one) of the bundle's split —
    the ``queries*`` folders beside its database folder. Unknown names are refused, listing the
    sets there."""
    from vprkit.data.standard import list_image_paths, resolve_query_sets

    if query_images is not None:
        if queries:
            raise ConfigError("--queries and --query-images both given: name query sets of the split, or one folder")
        folder = Path(query_images)
        if not folder.is_dir():
            raise ConfigError(f"--query-images {str(folder)!r} is not a folder of images")
        label = folder.resolve().name
        if label == DATABASE_LABEL:
            raise ConfigError(
                f"--query-images {str(folder)!r}: a folder named {DATABASE_LABEL!r} would give its images the "
                "database's names; rename or link it under another name"
            )
        return [ImageSet(label, folder, list_image_paths(folder))]
    split_dir = database_set(bundle).folder.parent
    root = split_dir.parent.parent if split_dir.parent.name == "images" else split_dir.parent  # (the layout's)
    names = resolve_query_sets(root, split_dir.name, queries)
    return [ImageSet(name, split_dir / name, list_image_paths(split_dir / name, verify_listing=True)) for name in names]


def check_names(sets: Sequence[ImageSet], what: str) -> None:
    """Refuse image names another tool would misread: absolute, leaving their folder, or (for
    text formats that separate names by spaces) holding white space."""
    for images in sets:
        for path in images.paths:
            clean = posixpath.normpath(path)
            if clean.startswith(("/", "../")) or clean == "..":
                raise DataError(
                    f"image {path!r} of {str(images.folder)!r} is not inside its folder; {what} names images by "
                    "their path relative to it"
                )
            if any(c.isspace() for c in path):
                raise DataError(
                    f"image {path!r} of {str(images.folder)!r} has white space in its name, which {what} cannot "
                    "hold (names are separated by spaces); rename it"
                )


def localize_queries(
    bundle: MapBundle,
    sets: Sequence[ImageSet],
    *,
    topn: int = 100,
    k: int = 20,
    use_classifier: bool = True,
    batch_size: int = 32,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
) -> list[QueryResults]:
    """Every query set through the bundle's pipeline (:class:`~vprkit.pipeline.localizer.Localizer`:
    classify → top-``topn`` cells → retrieve when the bundle has a classifier and
    ``use_classifier``), ``batch_size`` images at a time: each query's retriever descriptor and
    top-``k`` database rows. ``progress``: step ``queries`` (``queries NAME`` for several sets)."""
    from vprkit.data.images import open_image
    from vprkit.pipeline.localizer import Localizer

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    localizer = Localizer(bundle, topn=topn, k=k, use_classifier=use_classifier, runtime=runtime)
    results = []
    for images in sets:
        step = "queries" if len(sets) == 1 else f"queries {images.label}"
        descriptors, rows = [], []
        for start in range(0, len(images.paths), batch_size):
            chunk = images.paths[start : start + batch_size]
            loc = localizer.localize([open_image(images.folder / p) for p in chunk])
            assert loc.descriptors is not None  # the bundle has a retriever
            descriptors.append(loc.descriptors)
            rows.append(loc.rows)
            if progress is not None:
                progress.update(step, start + len(chunk), len(images.paths))
        results.append(QueryResults(images, np.concatenate(descriptors), np.concatenate(rows)))
    return results


def export_manifest(
    kind: str, bundle: MapBundle, runtime: Runtime, database: ImageSet, **fields: Any
) -> dict[str, Any]:
    """The ``export.json`` of an export from ``bundle``: the format, vprkit's version, the
    bundle and its models, where the database images are, how the queries ran, and ``fields``."""
    from vprkit import __version__

    m = bundle.manifest
    return {
        "format": kind,
        "vprkit": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bundle": str(Path(bundle.root).resolve()),
        "retriever": m.get("retriever"),
        "classifier": m.get("classifier", {}).get("name") if m.get("classifier") else None,
        "database": {
            "label": database.label,
            "folder": str(database.folder),
            "count": len(database.paths),
            "descriptors": "the bundle's store",
            "precision": m.get("descriptors", {}).get("precision", "float32"),
        },
        "queries_runtime": runtime.describe(),
        **fields,
    }
