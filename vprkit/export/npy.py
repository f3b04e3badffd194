"""Descriptor dumps in the layout of VPR-methods-evaluation (``vprkit export npy``).

VPR-methods-evaluation, asked to save its descriptors (``--save_descriptors``), writes two NumPy
files: ``database_descriptors.npy`` ``(N, D)`` and ``queries_descriptors.npy`` ``(Q, D)``, float32,
one row per image in the order it reads the images (its folder's ``<folder>_images_paths.txt``,
else the sorted file names — the order vprkit reads them in too). This module writes the same two
files from a bundle, and beside them the image paths of their rows::

    OUT/
      database_descriptors.npy     (N, D) float32, L2-normalised: the bundle's store, database row order
      queries_descriptors.npy      (Q, D) float32, L2-normalised: one query set, extracted with the retriever
      database_images_paths.txt    row i's image, relative to the database folder
      queries_images_paths.txt     row i's image, relative to the query folder
      export.json                  the folders, counts, models (written last)

The layout holds one query set: a split with several is exported one set at a time (``queries``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vprkit.errors import ConfigError
from vprkit.export import EXPORT_MANIFEST
from vprkit.export.common import (
    Exported,
    database_rows,
    database_set,
    export_manifest,
    load_export_bundle,
    localize_queries,
    query_sets,
)
from vprkit.fileio import atomic_path, atomic_write_json, atomic_write_text, make_folder

if TYPE_CHECKING:
    from vprkit.contracts import Progress
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.runtime import Runtime

__all__ = ["DATABASE_FILE", "DATABASE_PATHS_FILE", "QUERIES_FILE", "QUERIES_PATHS_FILE", "export_npy"]

DATABASE_FILE = "database_descriptors.npy"
QUERIES_FILE = "queries_descriptors.npy"
DATABASE_PATHS_FILE = "database_images_paths.txt"
QUERIES_PATHS_FILE = "queries_images_paths.txt"


def export_npy(
    bundle: str | Path | MapBundle,
    out: str | Path,
    *,
    queries: str | None = None,
    query_images: str | Path | None = None,
    batch_size: int = 32,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
) -> Exported:
    """Write the VPR-methods-evaluation files of ``bundle`` into the folder ``out`` (module doc).

    ``queries``: the query set of the bundle's split (default: its only one; a split with several
    needs the name); ``query_images``: a folder of images instead. ``runtime``: where the queries
    are extracted (default CPU, float32). The queries are extracted before any file is written;
    each file is written whole, ``export.json`` last.
    """
    from vprkit.runtime import Runtime

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder for the exported files")
    loaded = load_export_bundle(bundle)
    database = database_set(loaded)
    sets = query_sets(loaded, [queries] if queries else None, query_images)
    if len(sets) > 1:
        names = ", ".join(s.label for s in sets)
        raise ConfigError(
            f"the bundle's split has {len(sets)} query sets ({names}) and the npy layout holds one: "
            "pass --queries NAME (one export per set)"
        )
    store = loaded.store
    assert store is not None  # load_export_bundle checked it
    runtime = runtime or Runtime.resolve("cpu", "float32", threads=1)
    with runtime.active():
        [result] = localize_queries(
            loaded, sets, k=1, use_classifier=False, batch_size=batch_size, runtime=runtime, progress=progress
        )
    make_folder(out, "; choose a writable --out folder")
    n, dim = store.ntotal, int(store.descriptors.shape[1])
    with atomic_path(out / DATABASE_FILE, suffix=".npy") as tmp:
        rows = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        for start, block in database_rows(store):
            rows[start : start + len(block)] = block
        rows.flush()
        del rows
    with atomic_path(out / QUERIES_FILE, suffix=".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(result.descriptors, dtype=np.float32))
    files = [
        out / DATABASE_FILE,
        out / QUERIES_FILE,
        atomic_write_text(out / DATABASE_PATHS_FILE, "".join(p + "\n" for p in database.paths)),
        atomic_write_text(out / QUERIES_PATHS_FILE, "".join(p + "\n" for p in result.images.paths)),
    ]
    manifest = export_manifest(
        "vpr-methods-evaluation",
        loaded,
        runtime,
        database,
        dim=dim,
        dtype="float32",
        layout={
            "database_descriptors": DATABASE_FILE,
            "queries_descriptors": QUERIES_FILE,
            "database_paths": DATABASE_PATHS_FILE,
            "queries_paths": QUERIES_PATHS_FILE,
        },
        queries={
            "name": result.images.label,
            "folder": str(result.images.folder),
            "count": len(result.images.paths),
        },
    )
    files.append(atomic_write_json(out / EXPORT_MANIFEST, manifest))
    return Exported(files, manifest)
