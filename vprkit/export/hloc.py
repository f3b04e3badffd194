"""Global descriptors and retrieval pairs for hloc (``vprkit export hloc``).

hloc keeps global descriptors in an HDF5 file with one group per image, named by the image's
path relative to the image folder (a ``/`` in a name makes nested groups), each holding a dataset
``global_descriptor`` of shape ``(D,)``; its ``pairs_from_retrieval`` reads them back by name and
writes a pairs file: one line ``QUERY_NAME DB_NAME`` per retrieved database image, a query's lines
together, best first. This module writes both, in that layout::

    OUT/
      global-feats.h5        database/<path>/global_descriptor and <query set>/<path>/global_descriptor,
                             float32 (D,), L2-normalised
      pairs-<query set>.txt  each query's top-K database images, as ranked by the bundle's pipeline
      export.json            what was exported from which bundle (written last)

The database descriptors are the bundle's store rows (nothing is extracted again); the queries'
are extracted with the bundle's retriever. The pairs come from vprkit's own pipeline — the
classifier's top-N cells, then the retriever among their images, when the bundle has a
classifier — so hloc's matching and localization run on the candidates of a D&C pipeline. A
query whose top-N cells hold fewer than K database images has fewer lines.

With the standard layout every name is relative to the split folder (``<dataset>/images/<split>``):
give hloc that folder as its image directory, ``global-feats.h5`` as its descriptors (query and
database at once: ``--query_prefix queries --db_prefix database``), or a pairs file as the
retrieval of its localization.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vprkit.errors import ConfigError
from vprkit.export import EXPORT_MANIFEST
from vprkit.export.common import (
    Exported,
    check_names,
    database_rows,
    database_set,
    export_manifest,
    load_export_bundle,
    localize_queries,
    query_sets,
    require,
)
from vprkit.fileio import atomic_path, atomic_write_json, atomic_write_text, make_folder

if TYPE_CHECKING:
    from vprkit.contracts import Progress
    from vprkit.pipeline.bundle import MapBundle
    from vprkit.runtime import Runtime

__all__ = ["DESCRIPTOR_KEY", "FEATURES_FILE", "export_hloc", "pairs_file_name"]

FEATURES_FILE = "global-feats.h5"
#: the dataset hloc reads in each image's group
DESCRIPTOR_KEY = "global_descriptor"


def pairs_file_name(query_set: str) -> str:
    """``pairs-<query set>.txt``."""
    return f"pairs-{query_set}.txt"


def export_hloc(
    bundle: str | Path | MapBundle,
    out: str | Path,
    *,
    queries: Sequence[str] | None = None,
    query_images: str | Path | None = None,
    k: int = 20,
    topn: int = 100,
    use_classifier: bool = True,
    batch_size: int = 32,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
) -> Exported:
    """Write the hloc files of ``bundle`` into the folder ``out`` (see the module doc).

    ``queries``: query sets of the bundle's split (``None`` or ``["all"]``: every one);
    ``query_images``: a folder of images instead (named ``<folder name>/<path>``). ``k``: pairs
    per query; ``topn``: classes whose cells are searched (bundles with a classifier;
    ``use_classifier=False`` searches the whole database). ``runtime``: where the queries run
    (default CPU, float32). ``progress``: steps ``queries NAME`` and ``hloc descriptors``.
    Everything is checked and every query run before a file is written; each file is written
    whole, ``export.json`` last.
    """
    from vprkit.runtime import Runtime

    h5py = require("h5py", "vprkit export hloc")
    if k < 1 or topn < 1:
        raise ConfigError(f"--k and --topn must be positive, got --k {k}, --topn {topn}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder for the exported files")
    loaded = load_export_bundle(bundle)
    database = database_set(loaded)
    sets = query_sets(loaded, queries, query_images)
    check_names([database, *sets], "hloc's pairs file")
    store = loaded.store
    assert store is not None  # load_export_bundle checked it
    runtime = runtime or Runtime.resolve("cpu", "float32", threads=1)
    with runtime.active():
        results = localize_queries(
            loaded,
            sets,
            topn=topn,
            k=k,
            use_classifier=use_classifier,
            batch_size=batch_size,
            runtime=runtime,
            progress=progress,
        )
    make_folder(out, "; choose a writable --out folder")
    db_names = database.names()
    total, done = len(db_names) + sum(len(r.images.paths) for r in results), 0
    files = [out / FEATURES_FILE]
    with atomic_path(files[0], suffix=".h5") as tmp, h5py.File(tmp, "w", libver="latest") as h5:
        for start, block in database_rows(store):
            for name, row in zip(db_names[start : start + len(block)], block):
                h5.create_dataset(f"{name}/{DESCRIPTOR_KEY}", data=row)
            done += len(block)
            if progress is not None:
                progress.update("hloc descriptors", done, total)
        for result in results:
            for name, row in zip(result.images.names(), result.descriptors):
                h5.create_dataset(f"{name}/{DESCRIPTOR_KEY}", data=row)
            done += len(result.images.paths)
            if progress is not None:
                progress.update("hloc descriptors", done, total)
    summaries = []
    for result in results:
        lines = [
            f"{query} {db_names[row]}"
            for query, rows in zip(result.images.names(), result.rows.tolist())
            for row in rows
            if row >= 0
        ]
        path = atomic_write_text(out / pairs_file_name(result.images.label), "".join(line + "\n" for line in lines))
        files.append(path)
        summaries.append(
            {
                "name": result.images.label,
                "folder": str(result.images.folder),
                "count": len(result.images.paths),
                "pairs_file": path.name,
                "pairs": len(lines),
                "queries_with_fewer_than_k": int(((result.rows >= 0).sum(axis=1) < k).sum()),
            }
        )
    classified = use_classifier and loaded.classifier is not None
    manifest = export_manifest(
        "hloc",
        loaded,
        runtime,
        database,
        features_file=FEATURES_FILE,
        descriptor_key=DESCRIPTOR_KEY,
        dim=int(store.descriptors.shape[1]),
        dtype="float32",
        pipeline="classify → retrieve" if classified else "retrieve",
        topn=min(topn, loaded.classifier.partition.num_classes) if classified and loaded.classifier else None,
        k=k,
        query_sets=summaries,
    )
    files.append(atomic_write_json(out / EXPORT_MANIFEST, manifest))
    return Exported(files, manifest)
