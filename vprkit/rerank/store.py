"""The local-feature store: a re-ranker's features of a database, extracted once and reused.

Geometric verification compares the query's local features with each candidate's; extracting the
candidates' features at query time would cost K extractions per query, so they are extracted once
per (re-ranker fingerprint, database content fingerprint) into the cache, with the rules of the
descriptor store (:mod:`vprkit.pipeline.descriptor_store`)::

    <cache>/local_features/<key[:20]>/
      features.json         written last: the key, what it was made from, counts, dtype, checksums
      keypoints.npy         (N, 2) float32 pixel (x, y), every image's keypoints one after another
      descriptors.npy       (N, d) the re-ranker's dtype (SIFT: uint8)
      offsets.npy           (n + 1,) int64: image i's keypoints are rows offsets[i]:offsets[i+1]
      image_sizes.npy       (n, 2) int32 (width, height) of each image; (0, 0) where the re-ranker
                            gave none
      extraction.json       while extracting: the shard plan (images per shard)
      shards/000000.npz     while extracting: images [i*S, (i+1)*S), each written whole

- **Resumable**: shards are written atomically as they complete; a killed extraction continues
  with the missing shards.
- **Whole or nothing**: ``features.json`` is written after the four arrays are complete and
  checksummed; a folder without it is an extraction in progress, never read as a store.
- **One extractor**: a lock per store serialises processes; a second one waits, then reuses.
- **Memory-mapped**: the arrays are mapped read-only; a query touches only its candidates' rows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.contracts import LocalFeatures
from vprkit.errors import DataError
from vprkit.fileio import (
    SHARD_PLAN_FILE,
    atomic_path,
    atomic_write_json,
    file_checksum,
    fingerprint,
    folder_lock,
    read_json_object,
    shard_bounds,
    shard_count,
    shard_plan,
)

if TYPE_CHECKING:
    from vprkit.contracts import Progress, Reranker
    from vprkit.data.image_list import ImageList

__all__ = [
    "DEFAULT_SHARD_IMAGES",
    "FEATURES_META",
    "FeatureStore",
    "FeatureStoreError",
    "database_features",
    "feature_folder",
    "feature_key",
    "open_feature_store",
]

FEATURES_META = "features.json"
PLAN_FILE = SHARD_PLAN_FILE
ARRAYS = ("keypoints", "descriptors", "offsets", "image_sizes")
#: 2: image sizes stored (LightGlue normalises keypoints by them); stores of format 1 are keyed
#: apart and extracted again
FORMAT_VERSION = 2
#: images per shard: a few seconds of SIFT on small images, the unit of resumption
DEFAULT_SHARD_IMAGES = 256
_ADVICE = "; choose a writable folder (for the cache: set VPRKIT_CACHE_DIR)"


class FeatureStoreError(DataError):
    """A local-feature store is damaged or does not match what it is used with."""


def feature_key(reranker_fingerprint: str, database_content: str) -> str:
    """What a store's features depend on: the re-ranker (method, config, weights) and the database
    images (names in row order and their content)."""
    return fingerprint("local-feature-store", FORMAT_VERSION, reranker_fingerprint, database_content)


def feature_folder(key: str, cache: Path | None = None) -> Path:
    """``<cache>/local_features/<key[:20]>``."""
    from vprkit.data.cache import cache_dir

    return (cache or cache_dir()) / "local_features" / key[:20]


@dataclass(frozen=True)
class FeatureStore:
    """A complete store (see the module doc); ``meta`` is its ``features.json``."""

    root: Path
    meta: dict[str, Any]
    keypoints: np.ndarray = field(repr=False)
    descriptors: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)
    image_sizes: np.ndarray = field(repr=False)

    @property
    def key(self) -> str:
        return str(self.meta["key"])

    @property
    def count(self) -> int:
        """Images (database rows)."""
        return int(self.meta["count"])

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, row: int) -> LocalFeatures:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        width, height = (int(v) for v in self.image_sizes[row])
        return LocalFeatures(
            np.asarray(self.keypoints[start:end]),
            np.asarray(self.descriptors[start:end]),
            (width, height) if width > 0 and height > 0 else None,
        )

    def gather(self, rows: Sequence[int] | np.ndarray) -> list[LocalFeatures]:
        """The features of database ``rows``, in that order."""
        return [self[int(r)] for r in np.asarray(rows).ravel()]

    def keypoint_counts(self) -> np.ndarray:
        """``(n,)`` int64 keypoints per image."""
        return np.diff(np.asarray(self.offsets))

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def bytes_per_image(self) -> float:
        """Mean bytes of one image's features (keypoints, descriptors, its offset and size)."""
        total = sum(int(getattr(self, name).nbytes) for name in ARRAYS)
        return total / max(self.count, 1)


def open_feature_store(folder: str | Path, key: str | None = None) -> FeatureStore | None:
    """The complete store in ``folder``, or None (no ``features.json``: absent or in progress).
    One that is for other inputs (``key``) or has lost a file is a :class:`FeatureStoreError`."""
    folder = Path(folder)
    if not (folder / FEATURES_META).is_file():
        return None
    meta = read_json_object(folder / FEATURES_META, FeatureStoreError, f"{str(folder)!r} holds no feature store")
    if meta.get("format") != FORMAT_VERSION or (key is not None and meta.get("key") != key):
        raise FeatureStoreError(f"local-feature store {str(folder)!r} is from another vprkit or for other inputs")
    arrays = {}
    for name in ARRAYS:
        path = folder / f"{name}.npy"
        if not path.is_file() or path.stat().st_size != meta["files"][name]["size"]:
            raise FeatureStoreError(f"local-feature store {str(folder)!r}: {name}.npy is missing or truncated")
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise FeatureStoreError(f"local-feature store {str(folder)!r}: cannot read {name}.npy ({exc})") from exc
    n, total = int(meta["count"]), int(meta["keypoints"])
    if (
        arrays["offsets"].shape != (n + 1,)
        or arrays["keypoints"].shape != (total, 2)
        or arrays["descriptors"].shape != (total, int(meta["dim"]))
        or str(arrays["descriptors"].dtype) != meta["dtype"]
        or arrays["image_sizes"].shape != (n, 2)
    ):
        raise FeatureStoreError(f"local-feature store {str(folder)!r}: the arrays do not match {FEATURES_META}")
    return FeatureStore(
        folder, meta, arrays["keypoints"], arrays["descriptors"], arrays["offsets"], arrays["image_sizes"]
    )


def database_features(
    reranker: Reranker,
    database: ImageList,
    *,
    content: str | None = None,
    threads: int = 1,
    progress: Progress | None = None,
    shard_images: int = DEFAULT_SHARD_IMAGES,
    cache: Path | None = None,
    bundle: Path | None = None,
) -> FeatureStore:
    """The store of ``reranker``'s local features of ``database``: reused when complete
    (``progress.note`` says so), else extracted — or the missing shards of an interrupted
    extraction — ``threads`` images at a time, and merged. Extraction is reported to ``progress``
    as the step ``database local features``.

    ``cache``: the folder that holds ``local_features/`` (default: vprkit's cache; ``vprkit index
    build --reranker`` passes the bundle's folder). ``bundle``: a map bundle whose own
    ``local_features/`` is looked in before ``cache`` (features precomputed by ``index build
    --reranker``).
    """
    content = content if content is not None else database.content_fingerprint()
    key = feature_key(reranker.fingerprint(), content)
    folder = feature_folder(key, cache)
    found = open_feature_store(feature_folder(key, bundle), key) if bundle is not None else None
    if found is None:
        found = open_feature_store(folder, key)
    if found is None:
        with folder_lock(folder, _ADVICE):
            found = open_feature_store(folder, key)  # another process may have finished it
            if found is None:
                plan = _plan(folder, key, len(database), shard_images)
                _extract(folder, plan, reranker, database, threads, progress)
                found = _merge(folder, plan, reranker, database, content)
                return found
    with contextlib.suppress(OSError):
        os.utime(found.root / FEATURES_META)  # last use, for `vprkit cache clean --older-than`
    if progress is not None:
        progress.note(f"local-feature store reused: {found.root} ({found.count} images)")
    return found


def _plan(folder: Path, key: str, count: int, shard_images: int) -> dict[str, Any]:
    return shard_plan(folder, key, count, shard_images, "shard_images", _ADVICE)


def _bounds(plan: dict[str, Any], i: int) -> tuple[int, int]:
    return shard_bounds(plan, i, "shard_images")


def _n_shards(plan: dict[str, Any]) -> int:
    return shard_count(plan, "shard_images")


def _shard_path(folder: Path, i: int) -> Path:
    return folder / "shards" / f"{i:06d}.npz"


def _read_shard(folder: Path, i: int, images: int) -> dict[str, np.ndarray] | None:
    """A complete shard's arrays, or None (absent, or not whole)."""
    try:
        with np.load(_shard_path(folder, i), allow_pickle=False) as z:
            arrays = {name: z[name] for name in ("keypoints", "descriptors", "counts", "sizes")}
    except (OSError, ValueError, EOFError, KeyError):
        return None
    counts = arrays["counts"]
    if (
        counts.shape != (images,)
        or int(counts.sum()) != arrays["keypoints"].shape[0]
        or arrays["sizes"].shape != (images, 2)
    ):
        return None
    return arrays


def _extract(
    folder: Path,
    plan: dict[str, Any],
    reranker: Reranker,
    database: ImageList,
    threads: int,
    progress: Progress | None,
) -> None:
    from vprkit.data.images import open_image
    from vprkit.rerank.base import thread_map

    total = int(plan["count"])
    todo = [
        i for i in range(_n_shards(plan)) if _read_shard(folder, i, _bounds(plan, i)[1] - _bounds(plan, i)[0]) is None
    ]
    done = total - sum(_bounds(plan, i)[1] - _bounds(plan, i)[0] for i in todo)
    if progress is not None:
        if done:
            progress.note(f"resuming the extraction into {folder}: {done} of {total} images already done")
        progress.update("database local features", done, total)

    def one(path: str) -> LocalFeatures:
        return reranker.extract(open_image(database.root / path))

    for i in todo:
        start, end = _bounds(plan, i)
        feats = thread_map(one, database.paths[start:end].tolist(), threads)
        keypoints = np.concatenate([f.keypoints for f in feats]).astype(np.float32, copy=False)
        descriptors = np.concatenate([f.descriptors for f in feats])
        counts = np.array([len(f) for f in feats], dtype=np.int64)
        sizes = np.array([f.image_size or (0, 0) for f in feats], dtype=np.int32).reshape(-1, 2)
        with atomic_path(_shard_path(folder, i), suffix=".npz") as tmp:
            np.savez(tmp, keypoints=keypoints, descriptors=descriptors, counts=counts, sizes=sizes)
        done += end - start
        if progress is not None:
            progress.update("database local features", done, total)


def _merge(folder: Path, plan: dict[str, Any], reranker: Reranker, database: ImageList, content: str) -> FeatureStore:
    """Concatenate the shards into the four arrays, checksum them, write ``features.json`` last."""
    shards = []
    for i in range(_n_shards(plan)):
        start, end = _bounds(plan, i)
        arrays = _read_shard(folder, i, end - start)
        if arrays is None:
            raise FeatureStoreError(f"local-feature store {str(folder)!r}: shard {i} is missing after extraction")
        shards.append(arrays)
    dim = int(getattr(reranker, "descriptor_dim", 0)) or (shards[0]["descriptors"].shape[1] if shards else 0)
    dtype = np.dtype(
        getattr(reranker, "descriptor_dtype", None) or (shards[0]["descriptors"].dtype if shards else "float32")
    )
    for i, s in enumerate(shards):
        d = s["descriptors"]
        if d.ndim != 2 or d.shape[1] != dim or d.dtype != dtype:
            raise FeatureStoreError(
                f"reranker {reranker.name!r} returned {d.dtype} descriptors of {d.shape[1:]} columns in shard {i}; "
                f"it declares {dtype} × {dim}"
            )
    counts = np.concatenate([s["counts"] for s in shards]) if shards else np.zeros(0, np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    merged = {
        "keypoints": np.concatenate([s["keypoints"] for s in shards]) if shards else np.zeros((0, 2), np.float32),
        "descriptors": np.concatenate([s["descriptors"] for s in shards]) if shards else np.zeros((0, dim), dtype),
        "offsets": offsets,
        "image_sizes": np.concatenate([s["sizes"] for s in shards]) if shards else np.zeros((0, 2), np.int32),
    }
    files = {}
    for name, arr in merged.items():
        target = folder / f"{name}.npy"
        with atomic_path(target, suffix=".npy") as tmp:
            np.save(tmp, arr)
        files[name] = {"size": target.stat().st_size, "checksum": file_checksum(target)}
    meta = {
        "format": FORMAT_VERSION,
        "key": plan["key"],
        "count": int(plan["count"]),
        "keypoints": int(offsets[-1]),
        "dim": dim,
        "dtype": str(dtype),
        "files": files,
        "reranker": {"name": reranker.name, "fingerprint": reranker.fingerprint()},
        "database": {
            "root": str(Path(database.root).resolve()),
            "fingerprint": database.fingerprint(),
            "content": content,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(folder / FEATURES_META, meta)
    shutil.rmtree(folder / "shards", ignore_errors=True)
    with contextlib.suppress(OSError):
        (folder / PLAN_FILE).unlink()
    store = open_feature_store(folder, str(plan["key"]))
    assert store is not None
    return store
