"""The descriptor store: a retriever's descriptors of a database, extracted once and reused.

Extracting a city's database is the slow step of every pipeline (SF-XL: 2.8M images, hours on
one GPU), and it depends only on the retriever and the database images, not on the classifier or
the index. So descriptors live in the cache, one folder per (retriever fingerprint, database
content fingerprint, extraction precision)::

    <cache>/descriptors/<key[:20]>/
      store.json            written last: the key, what it was made from, count, dim, checksum
      descriptors.npy       (n, D) float32, L2-normalised, database row order
      extraction.json       while extracting: the shard plan (rows per shard)
      shards/000000.npy     while extracting: rows [i*S, (i+1)*S), each written whole

Every bundle, index and classifier built over that database with that retriever reads the same
store (:func:`database_store`): changing ``--index`` or ``--classifier`` extracts nothing.

- **Resumable**: shards are written atomically as they complete; a killed extraction continues
  with the missing shards (the plan's shard size is kept across resumes).
- **Whole or nothing**: ``store.json`` is written after ``descriptors.npy`` is complete and
  checksummed (BLAKE2b); a folder without it is an extraction in progress, never read as a store.
- **One extractor**: a lock per store serialises processes; a second one waits, then reuses.
- **Distributed**: under ``torchrun`` (``torch.distributed`` initialised) the ranks share the
  shards round-robin (shard ``i`` is rank ``i % world``'s) on a folder all of them see (the cache
  must be on a shared file system across nodes); rank 0 holds the lock and merges.
- **Memory-mapped**: :meth:`DescriptorStore.descriptors` maps the file by default.

``vprkit cache list`` / ``vprkit cache clean`` show and remove stores (:func:`list_cache`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import (
    SHARD_PLAN_FILE,
    atomic_path,
    atomic_write_json,
    file_checksum,
    fingerprint,
    folder_lock,
    make_folder,
    read_json_object,
    shard_bounds,
    shard_count,
    shard_plan,
)

if TYPE_CHECKING:
    import torch

    from vprkit.contracts import Progress, Retriever
    from vprkit.data.image_list import ImageList
    from vprkit.runtime import Runtime

__all__ = [
    "DEFAULT_SHARD_ROWS",
    "STORE_META",
    "DescriptorStore",
    "StoreError",
    "database_store",
    "distributed_group",
    "import_descriptors",
    "open_store",
    "store_folder",
    "store_key",
]

STORE_META = "store.json"
PLAN_FILE = SHARD_PLAN_FILE
_ADVICE = "; choose a writable folder (for the cache: set VPRKIT_CACHE_DIR)"
DESCRIPTORS_FILE = "descriptors.npy"
FORMAT_VERSION = 1
#: rows per shard: 4096 x 512 float32 = 8 MiB, a few seconds of work on a CPU, under a second on a GPU
DEFAULT_SHARD_ROWS = 4096


class StoreError(DataError):
    """A descriptor store is damaged or does not match what it is used with."""


def store_key(retriever_fingerprint: str, database_content: str, precision: str) -> str:
    """What a store's descriptors depend on: the retriever (weights, config, test transform), the
    database images (names in row order and their content) and the precision they ran in."""
    return fingerprint("descriptor-store", FORMAT_VERSION, retriever_fingerprint, database_content, precision)


def store_folder(key: str, cache: Path | None = None) -> Path:
    """``<cache>/descriptors/<key[:20]>``."""
    from vprkit.data.cache import cache_dir

    return (cache or cache_dir()) / "descriptors" / key[:20]


@dataclass(frozen=True)
class DescriptorStore:
    """A complete store (see the module doc); ``meta`` is its ``store.json``."""

    root: Path
    meta: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.meta["key"])

    @property
    def count(self) -> int:
        return int(self.meta["count"])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def descriptors(self, *, mmap: bool = True, verify: bool = False) -> np.ndarray:
        """``(count, dim)`` float32 in database row order, memory-mapped read-only by default;
        ``verify`` also checks the file's checksum (reads it whole)."""
        path = self.root / DESCRIPTORS_FILE
        if verify and file_checksum(path) != self.meta.get("checksum"):
            raise StoreError(f"descriptor store {str(self.root)!r}: {DESCRIPTORS_FILE} is damaged (checksum)")
        try:
            arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise StoreError(f"descriptor store {str(self.root)!r}: cannot read {DESCRIPTORS_FILE} ({exc})") from exc
        if arr.shape != (self.count, self.dim) or arr.dtype != np.float32:
            raise StoreError(
                f"descriptor store {str(self.root)!r}: {DESCRIPTORS_FILE} holds {arr.dtype} {arr.shape}, "
                f"store.json says float32 ({self.count}, {self.dim})"
            )
        return arr

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())


def open_store(folder: str | Path, key: str | None = None) -> DescriptorStore | None:
    """The complete store in ``folder``, or None (no ``store.json``: absent or in progress).
    A ``store.json`` that is not this store's (another ``key``) or has lost its file is a
    :class:`StoreError`."""
    folder = Path(folder)
    if not (folder / STORE_META).is_file():
        return None
    meta = read_json_object(folder / STORE_META, StoreError, f"{str(folder)!r} holds no descriptor store")
    if meta.get("format") != FORMAT_VERSION or (key is not None and meta.get("key") != key):
        raise StoreError(f"descriptor store {str(folder)!r} is from another vprkit or for other inputs")
    path = folder / DESCRIPTORS_FILE
    if not path.is_file() or path.stat().st_size != meta.get("size"):
        raise StoreError(f"descriptor store {str(folder)!r}: {DESCRIPTORS_FILE} is missing or truncated")
    return DescriptorStore(folder, meta)


def _distributed() -> tuple[int, int]:
    """``(rank, world)`` of the initialised ``torch.distributed`` group, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def distributed_group() -> Iterator[tuple[int, int]]:
    """``(rank, world)`` of this process under ``torchrun`` (``WORLD_SIZE`` > 1 in the
    environment): a gloo process group is initialised for the duration (the extraction's few
    control messages are CPU tensors; the models still run on each rank's own device) and
    destroyed after. Without ``torchrun``: ``(0, 1)`` and nothing happens."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available() or dist.is_initialized():
        yield _distributed()
        return
    dist.init_process_group("gloo")
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


def database_store(
    retriever: Retriever,
    database: ImageList,
    runtime: Runtime,
    *,
    content: str | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    cache: Path | None = None,
) -> DescriptorStore:
    """The store of ``retriever``'s descriptors of ``database`` extracted in ``runtime``'s
    precision: reused when complete (``progress.note`` says so), else extracted — or the
    missing shards of an interrupted extraction — and merged.

    ``content``: the database's :meth:`~vprkit.data.image_list.ImageList.content_fingerprint`
    when the caller has it (it stats every file). Under ``torch.distributed`` every rank must call
    this (collective); each returns the merged store. Extraction is reported to ``progress`` as
    the step ``database descriptors`` (rank 0's share on a distributed run).
    """
    content = content if content is not None else database.content_fingerprint()
    key = store_key(retriever.fingerprint(), content, runtime.precision)
    folder = store_folder(key, cache)
    rank, world = _distributed()
    found = open_store(folder, key) if world == 1 else None
    if found is not None:
        _touch(found)
        _note(progress, f"descriptor store reused: {found.root} ({found.count} rows)")
        return found
    lock = folder_lock(folder, _ADVICE) if rank == 0 else contextlib.nullcontext()
    with lock:
        if rank == 0:
            found = open_store(folder, key)
        found_anywhere = _broadcast_flag(found is not None)
        if not found_anywhere:
            plan = _plan(folder, key, len(database), shard_rows) if rank == 0 else None
            plan = _broadcast_plan(plan)
            _extract_shards(folder, plan, retriever, database, runtime, batch_size, progress, rank, world)
            _barrier()
            if rank == 0:
                found = _merge(folder, plan, retriever, database, content, runtime)
            _barrier()
    store = open_store(folder, key)
    if store is None:
        raise StoreError(
            f"descriptor store {str(folder)!r} is not complete after extraction; on several machines the "
            "cache (VPRKIT_CACHE_DIR) must be a folder every rank sees"
        )
    if found_anywhere:
        _note(progress, f"descriptor store reused: {store.root} ({store.count} rows)")
    return store


def _note(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress.note(text)


def _touch(store: DescriptorStore) -> None:
    """Mark a store as used now (``cache clean --older-than`` removes the ones unused longest)."""
    with contextlib.suppress(OSError):
        os.utime(store.root / STORE_META)


def _broadcast_flag(flag: bool) -> bool:
    _, world = _distributed()
    if world == 1:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def _broadcast_plan(plan: dict[str, Any] | None) -> dict[str, Any]:
    _, world = _distributed()
    if world == 1:
        assert plan is not None
        return plan
    import torch.distributed as dist

    box = [plan]
    dist.broadcast_object_list(box, src=0)
    assert box[0] is not None
    return box[0]


def _plan(folder: Path, key: str, count: int, shard_rows: int) -> dict[str, Any]:
    return shard_plan(folder, key, count, shard_rows, "shard_rows", _ADVICE)


def _shard_path(folder: Path, i: int) -> Path:
    return folder / "shards" / f"{i:06d}.npy"


def _shard_done(folder: Path, i: int, rows: int) -> bool:
    """A shard file exists and holds ``rows`` float32 rows (checked from its header only)."""
    path = _shard_path(folder, i)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return False
    return arr.ndim == 2 and arr.shape[0] == rows and arr.dtype == np.float32


def _shard_bounds(plan: dict[str, Any], i: int) -> tuple[int, int]:
    return shard_bounds(plan, i, "shard_rows")


def _shard_len(plan: dict[str, Any], i: int) -> int:
    start, end = _shard_bounds(plan, i)
    return end - start


def _n_shards(plan: dict[str, Any]) -> int:
    return shard_count(plan, "shard_rows")


def _extract_shards(
    folder: Path,
    plan: dict[str, Any],
    retriever: Retriever,
    database: ImageList,
    runtime: Runtime,
    batch_size: int,
    progress: Progress | None,
    rank: int,
    world: int,
) -> None:
    """Extract this rank's missing shards, each saved whole as soon as its last batch is done."""
    from torch.utils.data import DataLoader

    from vprkit.index.base import as_descriptors
    from vprkit.models.extract import EvalImages
    from vprkit.models.transforms import apply_by_shape

    mine = [i for i in range(_n_shards(plan)) if i % world == rank]
    todo = [i for i in mine if not _shard_done(folder, i, _shard_len(plan, i))]
    total = sum(_shard_len(plan, i) for i in mine)
    done = total - sum(_shard_len(plan, i) for i in todo)
    if progress is not None:
        if done:
            progress.note(f"resuming the extraction into {folder}: {done} of {total} rows already done")
        progress.update("database descriptors", done, total)
    if not todo:
        return
    # batches never straddle a shard, so a shard is complete exactly when its last batch is
    batches = [
        list(range(start, min(start + batch_size, end)))
        for i in todo
        for start, end in [_shard_bounds(plan, i)]
        for start in range(start, end, batch_size)
    ]
    loader = DataLoader(
        EvalImages(database, retriever.transform),
        batch_sampler=batches,
        num_workers=runtime.workers,
        collate_fn=list,
        pin_memory=runtime.device.type == "cuda",
    )
    encode: Callable[[torch.Tensor], torch.Tensor] = runtime.encoder(retriever.encode, normalized=True)
    shard_iter = iter(todo)
    current = next(shard_iter)
    start, end = _shard_bounds(plan, current)
    parts: list[np.ndarray] = []
    filled = 0
    for batch in loader:
        parts.append(apply_by_shape(encode, batch).cpu().numpy())
        filled += len(batch)
        done += len(batch)
        if start + filled == end:
            # refused before it is saved: a store never holds rows no index would take
            rows = as_descriptors(
                np.concatenate(parts), dim=None, what=f"descriptors of {retriever.name!r}", check_norm=True
            )
            with atomic_path(_shard_path(folder, current), suffix=".npy") as tmp:
                np.save(tmp, rows)
            parts, filled = [], 0
            current = next(shard_iter, -1)
            if current >= 0:
                start, end = _shard_bounds(plan, current)
        if progress is not None:
            progress.update("database descriptors", done, total)


def _merge(
    folder: Path,
    plan: dict[str, Any],
    retriever: Retriever,
    database: ImageList,
    content: str,
    runtime: Runtime,
) -> DescriptorStore:
    """Concatenate the shards into ``descriptors.npy`` (streamed through a memory map, never the
    whole array in memory), checksum it, write ``store.json`` last, remove the shards."""
    count = int(plan["count"])
    missing = [i for i in range(_n_shards(plan)) if not _shard_done(folder, i, _shard_len(plan, i))]
    if missing:
        raise StoreError(
            f"descriptor store {str(folder)!r}: {len(missing)} shard(s) missing after extraction (first: {missing[0]}); "
            "on several machines the cache (VPRKIT_CACHE_DIR) must be a folder every rank sees"
        )
    dim = int(np.load(_shard_path(folder, 0), mmap_mode="r").shape[1]) if count else int(retriever.descriptor_dim)
    target = folder / DESCRIPTORS_FILE
    with atomic_path(target, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(count, dim))
        for i in range(_n_shards(plan)):
            start, end = _shard_bounds(plan, i)
            out[start:end] = np.load(_shard_path(folder, i), mmap_mode="r")
        out.flush()
        del out
    store = _write_meta(
        folder,
        key=str(plan["key"]),
        count=count,
        dim=dim,
        retriever=retriever,
        database=database,
        content=content,
        precision=runtime.precision,
        extracted_with={**runtime.describe(), "ranks": _distributed()[1]},
    )
    shutil.rmtree(folder / "shards", ignore_errors=True)
    with contextlib.suppress(OSError):
        (folder / PLAN_FILE).unlink()
    return store


def _write_meta(
    folder: Path,
    *,
    key: str,
    count: int,
    dim: int,
    retriever: Retriever,
    database: ImageList,
    content: str,
    precision: str,
    extracted_with: dict[str, Any],
) -> DescriptorStore:
    """Checksum the complete ``descriptors.npy`` and write ``store.json``: the store exists from here."""
    target = folder / DESCRIPTORS_FILE
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "count": count,
        "dim": dim,
        "dtype": "float32",
        "size": target.stat().st_size,
        "checksum": file_checksum(target),
        "retriever": {"name": retriever.name, "fingerprint": retriever.fingerprint()},
        "database": {
            "root": str(Path(database.root).resolve()),
            "fingerprint": database.fingerprint(),
            "content": content,
        },
        "precision": precision,
        "ranks": int(extracted_with.get("ranks", 1)),
        "extracted_with": extracted_with,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(folder / STORE_META, meta)
    return DescriptorStore(folder, meta)


def import_descriptors(
    descriptors: np.ndarray,
    retriever: Retriever,
    database: ImageList,
    *,
    precision: str = "float32",
    content: str | None = None,
    source: str = "imported",
    cache: Path | None = None,
    chunk_rows: int = 1 << 16,
) -> DescriptorStore:
    """Make the store of ``retriever`` x ``database`` from descriptors computed elsewhere
    (``(n, D)`` float, database row order, L2-normalised; a memory map is copied in chunks, never
    loaded whole): what :func:`database_store` then reuses as if it had extracted them.
    ``precision`` and ``source`` are recorded as how they were computed."""
    from vprkit.index.base import as_descriptors

    n, dim = len(database), int(retriever.descriptor_dim)
    if descriptors.ndim != 2 or descriptors.shape != (n, dim):
        raise DataError(
            f"descriptors of shape {descriptors.shape} for {n} database rows of a {dim}-D retriever; "
            f"expected ({n}, {dim})"
        )
    content = content if content is not None else database.content_fingerprint()
    key = store_key(retriever.fingerprint(), content, precision)
    folder = store_folder(key, cache)
    with folder_lock(folder, _ADVICE):
        make_folder(folder, "; choose a writable folder (for the cache: set VPRKIT_CACHE_DIR)")
        with contextlib.suppress(OSError):
            (folder / STORE_META).unlink()  # replaced whole below
        with atomic_path(folder / DESCRIPTORS_FILE, suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
            for start in range(0, n, chunk_rows):
                block = descriptors[start : start + chunk_rows]
                out[start : start + len(block)] = as_descriptors(
                    block, dim=dim, what=f"descriptors (rows {start}..)", check_norm=True
                )
            out.flush()
            del out
        return _write_meta(
            folder,
            key=key,
            count=n,
            dim=dim,
            retriever=retriever,
            database=database,
            content=content,
            precision=precision,
            extracted_with={"source": source, "ranks": 1},
        )
