"""The map bundle: everything needed to localize queries in one map, in one folder.

Layout (the whole folder is built in a uniquely named sibling and renamed into place when
complete, under a lock: :func:`build_bundle`)::

    bundle/
      manifest.json        vprkit version, method names, fingerprints, counts, index config
      classifier/          TrainedClassifier.save()   (absent for retrieval-only bundles)
      retriever/           TrainedRetriever.save()    (absent for classification-only bundles)
      database.npz         database rows in their original order: east, north, lat, lon, heading, zone
      database_paths.txt   their relative image paths, UTF-8, one per line (memory-mapped by load(mmap=True))
      store/               the ``flat`` index: descriptors sorted by cell + CSR offsets (CellSortedDescriptors)
      index/               the index searched when it is not the store itself (ivfpq, hnsw, ...)

The index is always made by the registry (``create_index(name, config)``: unknown options are
refused alike); a ``flat`` index is the cell-sorted store, so it is built over the cells and saved
once, as ``store/``. Any other index is built beside a default store, which keeps the cells.

The manifest records the fingerprints of the classifier, the retriever, the partition and the
database image list (names, and coordinates with their zone). :meth:`MapBundle.load` recomputes
each of them once from the files and refuses a bundle whose parts do not match (a stale index, a
swapped model, a damaged file), and checks the manifest's plain fields (UTM zone, descriptor
dimension, class count, index name) against the parts they describe.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.data.packed_paths import PackedPaths
from vprkit.errors import DataError
from vprkit.fileio import atomic_path, atomic_write_json, fingerprint, make_folder, read_json_object

if TYPE_CHECKING:
    import torch

    from vprkit.contracts import Classifier, NearestIndex, Progress, Retriever
    from vprkit.index.cell_sorted import CellSortedDescriptors
    from vprkit.runtime import Runtime

__all__ = ["MANIFEST", "BundleError", "MapBundle", "build_bundle", "bundle_lock", "check_not_inside"]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class BundleError(DataError):
    """A bundle is missing, damaged, or does not match what it is used with."""


@dataclass
class MapBundle:
    """A loaded map bundle.

    Attributes:
        root: bundle folder.
        manifest: the parsed ``manifest.json``.
        classifier: a :class:`~vprkit.contracts.Classifier` or ``None``.
        retriever: a :class:`~vprkit.contracts.Retriever` or ``None``.
        database: the database ``ImageList`` (original row order) or ``None``.
        store: ``CellSortedDescriptors`` over the database descriptors, or ``None``.
        index: the index used for search (the store itself for ``flat``), or ``None``.
    """

    root: Path
    manifest: dict[str, Any]
    classifier: Classifier | None = None
    retriever: Retriever | None = None
    database: ImageList | None = None
    store: CellSortedDescriptors | None = None
    index: NearestIndex | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def index_name(self) -> str | None:
        return self.manifest.get("index", {}).get("name")

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held by the searchable structures (descriptor store, ANN index)."""
        out = {}
        if self.store is not None:
            out["store"] = int(self.store.memory_bytes())
        if self.index is not None and self.index is not self.store:
            out["index"] = int(self.index.memory_bytes())
        return out

    @classmethod
    def load(cls, root: str | Path, *, mmap: bool = False) -> MapBundle:
        """Read a bundle and check every fingerprint (each computed once); raises
        :class:`BundleError` on mismatch."""
        root = Path(root)
        manifest = _read_manifest(root)
        bundle = cls(root=root, manifest=manifest)
        classifier_cls, retriever_cls = _model_classes(manifest)
        if classifier_cls is not None:
            bundle.classifier = classifier_cls.load(root / "classifier")
            _expect(manifest["classifier"]["fingerprint"], bundle.classifier.fingerprint(), root, "classifier")
            _expect(manifest["classifier"]["partition"], bundle.classifier.partition.fingerprint(), root, "partition")
        if retriever_cls is not None:
            bundle.retriever = retriever_cls.load(root / "retriever")
            _expect(manifest["retriever"]["fingerprint"], bundle.retriever.fingerprint(), root, "retriever")
        if manifest.get("database"):
            bundle.database = _load_database(root / "database.npz", Path(manifest["database"]["root"]), mmap=mmap)
            _expect(manifest["database"]["fingerprint"], bundle.database.fingerprint(), root, "database list")
            _expect(
                manifest["database"].get("coordinates", ""),
                _coordinates_fingerprint(bundle.database),
                root,
                "database coordinates",
            )
        _check_plain_fields(bundle)
        if manifest.get("index"):
            bundle.store, bundle.index = _load_search(root, manifest, mmap=mmap)
        return bundle


def _load_search(root: Path, manifest: dict[str, Any], *, mmap: bool) -> tuple[CellSortedDescriptors, NearestIndex]:
    """The store and the index of a bundle; the index is the store unless ``index/`` holds another
    one. Both must carry the retriever and database fingerprints the manifest records (checked
    against the parts just above), and the index must be the one the manifest names."""
    from vprkit.index import CellSortedDescriptors, IndexFingerprint, load_index

    expected = IndexFingerprint(
        model=manifest["retriever"]["fingerprint"], database=manifest["database"]["fingerprint"]
    )
    name = manifest["index"]["name"]
    try:
        store = load_index(root / "store", expected, mmap=mmap)
        index = load_index(root / "index", expected, mmap=mmap) if (root / "index").is_dir() else store
    except DataError as exc:
        raise BundleError(f"bundle {str(root)!r}: {exc}") from exc
    if not isinstance(store, CellSortedDescriptors):
        raise BundleError(
            f"bundle {str(root)!r}: store/ holds a {store.name!r} index, not the cell-sorted store; "
            "rebuild it with `vprkit index build`"
        )
    if index.name != name:
        held = "no index/ folder" if index is store else f"index/ holds {index.name!r}"
        raise BundleError(
            f"bundle {str(root)!r}: the manifest names index {name!r} but {held}; rebuild it with `vprkit index build`"
        )
    return store, index


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    manifest = read_json_object(
        path, BundleError, f"{str(root)!r} is not a map bundle (no {MANIFEST}); build one with `vprkit index build`"
    )
    if manifest.get("format") != FORMAT_VERSION:
        raise BundleError(
            f"{str(path)!r}: bundle format {manifest.get('format')!r}, this vprkit reads {FORMAT_VERSION}"
        )
    return manifest


def _model_classes(manifest: dict[str, Any]) -> tuple[type[Classifier] | None, type[Retriever] | None]:
    from vprkit.registry import get_classifier_spec, get_retriever_spec

    def load_cls(entry: dict[str, Any] | None, getter: Callable) -> Any:
        if not entry:
            return None
        return getter(entry["name"]).load_factory()  # a model spec's factory is the model class (has .load)

    return load_cls(manifest.get("classifier"), get_classifier_spec), load_cls(
        manifest.get("retriever"), get_retriever_spec
    )


def _expect(recorded: str, actual: str, root: Path, what: str) -> None:
    if recorded != actual:
        raise BundleError(
            f"bundle {str(root)!r}: the {what} does not match the one the bundle was built with "
            f"(fingerprint {actual[:12]} vs recorded {recorded[:12]}); rebuild it with `vprkit index build`"
        )


def _coordinates_fingerprint(db: ImageList) -> str:
    """What the database rows mean on the map: coordinates and their UTM zone."""
    return fingerprint(db.east, db.north, db.lat, db.lon, db.zone_number, db.zone_letter)


def _check_plain_fields(bundle: MapBundle) -> None:
    """The manifest's informational fields must describe the parts (an edited ``utm_zone`` would
    move every lat/lon to another place)."""
    m, root = bundle.manifest, bundle.root
    checks: list[tuple[str, Any, Any]] = []
    if bundle.database is not None and bundle.database.zone_number:
        checks.append(("utm_zone", m.get("utm_zone"), f"{bundle.database.zone_number}{bundle.database.zone_letter}"))
    if bundle.retriever is not None:
        checks.append(("retriever.dim", m["retriever"].get("dim"), int(bundle.retriever.descriptor_dim)))
    if bundle.classifier is not None:
        checks.append(
            ("classifier.num_classes", m["classifier"].get("num_classes"), int(bundle.classifier.partition.num_classes))
        )
    if bundle.database is not None:
        checks.append(("database.count", m["database"].get("count"), len(bundle.database)))
    for name, recorded, actual in checks:
        if recorded != actual:
            raise BundleError(
                f"bundle {str(root)!r}: manifest field {name} says {recorded!r}, its parts say {actual!r} "
                "(the manifest was edited); rebuild it with `vprkit index build`"
            )


#: the database's relative paths in a bundle: UTF-8, one per line, in row order (PackedPaths)
DATABASE_PATHS = "database_paths.txt"


def _save_database(path: Path, db: ImageList) -> PackedPaths:
    """The rows' coordinates into ``path`` (``database.npz``) and their paths, packed, beside it
    (:data:`DATABASE_PATHS`); the packed paths written."""
    packed = db.packed_paths
    packed.write(path.parent / DATABASE_PATHS)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            east=db.east,
            north=db.north,
            lat=db.lat,
            lon=db.lon,
            heading=db.heading,
            zone=np.array([db.zone_number]),
            letter=np.array([db.zone_letter]),
        )
    return packed


def _as_saved(db: ImageList, packed: PackedPaths, root: Path) -> ImageList:
    """``db`` as :func:`_load_database` reads it back from what :func:`_save_database` wrote."""
    return ImageList.from_packed(
        root,
        packed,
        east=db.east,
        north=db.north,
        zone_number=int(db.zone_number),
        zone_letter=str(db.zone_letter),
        lat=db.lat,
        lon=db.lon,
        heading=db.heading,
    )


def _load_database(path: Path, root: Path, *, mmap: bool = False) -> ImageList:
    """The database rows saved by :func:`_save_database`, paths packed (memory-mapped when ``mmap``).
    Bundles written before the paths had their own file hold them in ``database.npz`` as a str
    array; those are read as they are."""
    try:
        with np.load(path, allow_pickle=False) as z:
            legacy = z["paths"] if "paths" in z.files else None
            east, north, lat, lon, heading = (z[name] for name in ("east", "north", "lat", "lon", "heading"))
            zone_number, zone_letter = int(z["zone"][0]), str(z["letter"][0])
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise BundleError(f"{str(path)!r} is missing or corrupted: {exc}") from exc
    columns = {"east": east, "north": north, "lat": lat, "lon": lon, "heading": heading}
    if legacy is not None:
        return ImageList(root, legacy, zone_number=zone_number, zone_letter=zone_letter, **columns)
    try:
        packed = PackedPaths.read(path.parent / DATABASE_PATHS, mmap=mmap)
    except DataError as exc:
        raise BundleError(f"bundle {str(path.parent)!r}: {exc}; rebuild it with `vprkit index build`") from exc
    return ImageList.from_packed(root, packed, zone_number=zone_number, zone_letter=zone_letter, **columns)


def _database_descriptors(
    retriever: Retriever, database: ImageList, batch_size: int, progress: Progress | None, runtime: Runtime
) -> np.ndarray:
    """``(n, D)`` float32 retriever descriptors of the database in row order, extracted in
    ``runtime`` (reported to ``progress`` as the step ``database descriptors``)."""
    from vprkit.models.extract import extract_descriptors

    done, total = 0, len(database)
    encode = runtime.encoder(retriever.encode, normalized=True)

    def counted(batch: torch.Tensor) -> torch.Tensor:
        nonlocal done
        desc = encode(batch)
        done += len(batch)
        if progress is not None:
            progress.update("database descriptors", done, total)
        return desc

    return extract_descriptors(
        counted, database, retriever.transform, batch_size=batch_size, num_workers=runtime.workers
    )


@contextlib.contextmanager
def bundle_lock(target: str | Path, timeout: float = -1) -> Iterator[None]:
    """Hold the lock that serialises builders of bundle ``target`` (a ``.<name>.lock`` file beside
    it): a second builder waits, then finds the first one's bundle."""
    from filelock import FileLock, Timeout

    target = Path(target)
    _make_parent(target)
    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise BundleError(f"another vprkit command is building {str(target)!r} (lock {lock.lock_file})") from None
    except OSError as exc:  # a read-only folder: the lock file cannot even be created
        raise DataError(
            f"cannot write in {str(target.parent)!r} ({exc.strerror or exc}); choose a writable folder "
            "(for the cache: set VPRKIT_CACHE_DIR)"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _make_parent(target: Path) -> None:
    make_folder(target.parent, "; choose a writable folder (for the cache: set VPRKIT_CACHE_DIR)")


def check_not_inside(out: str | Path, sources: Sequence[str | Path]) -> None:
    """Refuse a bundle target that is, or holds, one of the model folders it is built from:
    replacing the target would delete them (their ``training/`` state too)."""
    out = Path(out).resolve()
    for source in sources:
        src = Path(source).resolve()
        if src == out or out in src.parents:
            raise BundleError(
                f"--out {str(out)!r} holds the model folder {str(src)!r}, which building the bundle would "
                "replace; choose another --out"
            )


def _clear_leftovers(target: Path) -> None:
    """Remove the staging folders of builders that died (called with the lock held)."""
    for stale in target.parent.glob(f".{target.name}.build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    """Put the complete ``staging`` folder at ``target``; the previous bundle is removed only after."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "bundle")
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def build_bundle(
    out: str | Path,
    database: ImageList | None,
    *,
    classifier: Classifier | None = None,
    retriever: Retriever | None = None,
    index: str = "flat",
    index_config: dict[str, Any] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
    dataset: str = "",
    extra_manifest: dict[str, Any] | None = None,
    locked: bool = False,
    descriptors: np.ndarray | None = None,
    runtime: Runtime | None = None,
) -> MapBundle:
    """Write a map bundle to ``out`` and return it (its parts as built: nothing is read back).

    The database is assigned to the classifier's cells once, here (``Partition.assign`` on the
    database UTM); the retriever's descriptors are stored sorted by cell with CSR offsets, and the
    chosen index (``create_index(index, index_config)``; ``flat``: the cell-sorted store itself)
    is built over them. Each fingerprint is computed once.

    ``descriptors``: the database's ``(n, D)`` float32 retriever descriptors in row order when
    they are already extracted (a :mod:`~vprkit.pipeline.descriptor_store`, memory-mapped);
    otherwise they are extracted here in ``runtime`` (default: CPU, float32), reported to
    ``progress`` as the step ``database descriptors``.

    The bundle is written into a uniquely named sibling of ``out`` and renamed into place only
    when complete, under :func:`bundle_lock` (``locked=True``: the caller holds it). A failed
    build leaves the previous bundle at ``out`` as it was.
    """
    if classifier is None and retriever is None:
        raise BundleError("a bundle needs a classifier, a retriever, or both")
    if retriever is not None and (database is None or len(database) == 0):
        raise BundleError("retrieval needs a non-empty database split")
    out = Path(out)
    if not locked:
        with bundle_lock(out):
            return build_bundle(
                out,
                database,
                classifier=classifier,
                retriever=retriever,
                index=index,
                index_config=index_config,
                batch_size=batch_size,
                progress=progress,
                dataset=dataset,
                extra_manifest=extra_manifest,
                locked=True,
                descriptors=descriptors,
                runtime=runtime,
            )
    _make_parent(out)
    _clear_leftovers(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        bundle = _write_bundle(
            staging,
            database,
            classifier,
            retriever,
            index,
            index_config or {},
            batch_size,
            progress,
            dataset,
            extra_manifest or {},
            descriptors,
            runtime,
        )
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    bundle.root = out
    return bundle


def _write_bundle(
    folder: Path,
    database: ImageList | None,
    classifier: Classifier | None,
    retriever: Retriever | None,
    index: str,
    index_config: dict[str, Any],
    batch_size: int,
    progress: Progress | None,
    dataset: str,
    extra_manifest: dict[str, Any],
    descriptors: np.ndarray | None,
    runtime: Runtime | None,
) -> MapBundle:
    """Every part of a bundle into the empty ``folder``, the manifest last; the bundle as built."""
    from vprkit import __version__
    from vprkit.index import CellSortedDescriptors, IndexFingerprint
    from vprkit.registry import create_index

    searched = create_index(index, index_config) if retriever is not None else None  # refused before extraction
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": dataset,
        "vprkit": __version__,
        **extra_manifest,
    }
    bundle = MapBundle(root=folder, manifest=manifest, classifier=classifier, retriever=retriever)
    if classifier is not None:
        classifier.save(folder / "classifier")
        manifest["classifier"] = {
            "name": classifier.name,
            "fingerprint": classifier.fingerprint(),
            "partition": classifier.partition.fingerprint(),
            "num_classes": int(classifier.partition.num_classes),
        }
    if retriever is not None:
        assert database is not None and searched is not None  # checked by build_bundle
        retriever.save(folder / "retriever")
        manifest["retriever"] = {
            "name": retriever.name,
            "fingerprint": retriever.fingerprint(),
            "dim": int(retriever.descriptor_dim),
        }
        packed = _save_database(folder / "database.npz", database)
        manifest["database"] = {
            "fingerprint": database.fingerprint(),
            "coordinates": _coordinates_fingerprint(database),
            "count": len(database),
            "root": str(Path(database.root).resolve()),
        }
        if database.zone_number:
            manifest["utm_zone"] = f"{database.zone_number}{database.zone_letter}"
        bundle.database = _as_saved(database, packed, Path(manifest["database"]["root"]))
        if descriptors is None:
            from vprkit.runtime import Runtime

            runtime = runtime or Runtime.resolve("cpu", "float32")
            desc = _database_descriptors(retriever, database, batch_size, progress, runtime)
        else:
            desc = descriptors
            if desc.shape != (len(database), retriever.descriptor_dim):
                raise BundleError(
                    f"descriptors of shape {desc.shape} given for {len(database)} database rows of "
                    f"dimension {retriever.descriptor_dim}"
                )
        if classifier is not None:
            cells, _ = classifier.partition.assign(database.east, database.north, database.heading)
            n_cells = classifier.partition.num_classes
        else:
            cells, n_cells = np.full(len(database), -1, dtype=np.int64), 0
        fp = IndexFingerprint(model=manifest["retriever"]["fingerprint"], database=manifest["database"]["fingerprint"])
        # a cell-sorted index is the store; any other index is searched beside a default store
        store = searched if isinstance(searched, CellSortedDescriptors) else CellSortedDescriptors()
        store.build(desc, cells=cells, n_cells=n_cells, fingerprint=fp).save(folder / "store")
        manifest["database"]["in_cells"] = int((cells >= 0).sum())
        if searched is not store:
            searched.build(desc, fingerprint=fp)
            searched.save(folder / "index")
        # a third-party index that implements the protocol but not DescriptorIndex has no settings()
        settings = getattr(searched, "settings", None)
        manifest["index"] = {
            "name": index,
            "config": index_config,
            "settings": settings() if callable(settings) else index_config,
        }
        bundle.store, bundle.index = store, searched
    atomic_write_json(folder / MANIFEST, manifest)
    return bundle
