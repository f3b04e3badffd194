"""What the cache holds and how to clean it (``vprkit cache list`` / ``vprkit cache clean``).

The cache (``$VPRKIT_CACHE_DIR`` or ``~/.cache/vprkit``) has five kinds of entries, each keyed by
content so none can be stale, only unused:

- ``descriptors/<key>``: descriptor stores (:mod:`vprkit.pipeline.descriptor_store`), complete or
  an extraction in progress;
- ``local_features/<key>``: a re-ranker's local features of a database (:mod:`vprkit.rerank.store`),
  complete or an extraction in progress;
- ``bundles/<key>``: map bundles built by ``vprkit run`` without ``--bundle``;
- ``datasets/<name>``: the embedded synthcity, generated on first use;
- ``image_lists/<key>.npz``: parsed file names (:mod:`vprkit.data.cache`).

An entry's *last use* is the time its marker was last touched: a store's ``store.json`` and a
bundle's ``manifest.json`` are touched whenever they are reused. Cleaning takes each entry's lock
without waiting and skips the entries another command holds; an entry is renamed away before it
is deleted, so it disappears whole (never a half-deleted store that still looks complete).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vprkit.errors import ConfigError

__all__ = ["KINDS", "CacheEntry", "clean_cache", "list_cache", "parse_age"]

KINDS = ("descriptors", "local_features", "bundles", "datasets", "image_lists")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry: ``kind`` (one of :data:`KINDS`), ``path``, ``size_bytes``, ``last_used``
    (seconds since the epoch), ``what`` (one line: what it holds)."""

    kind: str
    path: Path
    size_bytes: int
    last_used: float
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "last_used": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_used)),
            "what": self.what,
        }


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (or plain seconds) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise ConfigError(f"--older-than {text!r}: give a number with a unit s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _mtime(*candidates: Path) -> float:
    for candidate in candidates:
        with contextlib.suppress(OSError):
            return candidate.stat().st_mtime
    return 0.0


def _read(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe_store(folder: Path) -> str:
    from vprkit.pipeline.descriptor_store import PLAN_FILE, STORE_META

    meta = _read(folder / STORE_META)
    if meta:
        return (
            f"{meta.get('retriever', {}).get('name', '?')}: {meta.get('count', '?')} x {meta.get('dim', '?')} "
            f"({meta.get('precision', '?')}) of {'/'.join(Path(meta.get('database', {}).get('root', '?')).parts[-3:])}"
        )
    plan = _read(folder / PLAN_FILE)
    shards = len(list((folder / "shards").glob("*.npy"))) if (folder / "shards").is_dir() else 0
    total = -(-int(plan["count"]) // int(plan["shard_rows"])) if plan.get("shard_rows") else "?"
    return f"extraction in progress or interrupted: {shards} of {total} shards"


def _describe_features(folder: Path) -> str:
    from vprkit.rerank.store import FEATURES_META, PLAN_FILE

    meta = _read(folder / FEATURES_META)
    if meta:
        where = "/".join(Path(meta.get("database", {}).get("root", "?")).parts[-3:])
        return (
            f"{meta.get('reranker', {}).get('name', '?')}: {meta.get('count', '?')} images, "
            f"{meta.get('keypoints', '?')} keypoints of {where}"
        )
    plan = _read(folder / PLAN_FILE)
    shards = len(list((folder / "shards").glob("*.npz"))) if (folder / "shards").is_dir() else 0
    total = -(-int(plan["count"]) // int(plan["shard_images"])) if plan.get("shard_images") else "?"
    return f"extraction in progress or interrupted: {shards} of {total} shards"


def _describe_bundle(folder: Path) -> str:
    m = _read(folder / "manifest.json")
    if not m:
        return "not a complete bundle"
    stages = [m[k]["name"] for k in ("classifier", "retriever") if isinstance(m.get(k), dict)]
    index = m.get("index", {}).get("name")
    where = Path(str(m.get("dataset", "?"))).name
    return " + ".join(stages) + (f", {index}" if index else "") + f" over {where} [{m.get('split', '?')}]"


def list_cache(cache: Path | None = None) -> list[CacheEntry]:
    """Every entry of the cache, kind by kind, most recently used first within a kind."""
    from vprkit.data.cache import cache_dir

    root = cache or cache_dir()
    entries: list[CacheEntry] = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        found = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue  # locks, staging folders of builders at work
            if kind == "descriptors":
                found.append(
                    CacheEntry(
                        kind,
                        path,
                        _size(path),
                        _mtime(path / "store.json", path / "extraction.json", path),
                        _describe_store(path),
                    )
                )
            elif kind == "local_features":
                found.append(
                    CacheEntry(
                        kind,
                        path,
                        _size(path),
                        _mtime(path / "features.json", path / "extraction.json", path),
                        _describe_features(path),
                    )
                )
            elif kind == "bundles":
                found.append(
                    CacheEntry(kind, path, _size(path), _mtime(path / "manifest.json", path), _describe_bundle(path))
                )
            elif kind == "datasets":
                done = (path / ".complete").is_file()
                found.append(
                    CacheEntry(
                        kind,
                        path,
                        _size(path),
                        _mtime(path / ".complete", path),
                        path.name + ("" if done else " (incomplete)"),
                    )
                )
            elif path.suffix == ".npz":
                found.append(CacheEntry(kind, path, _size(path), _mtime(path), "parsed image names"))
        entries += sorted(found, key=lambda e: -e.last_used)
    return entries


@contextlib.contextmanager
def _held(entry: CacheEntry) -> Iterator[bool]:
    """The entry's lock taken without waiting: yields False when another command holds it."""
    from filelock import FileLock, Timeout

    if entry.kind == "image_lists":
        yield True  # written atomically, read whole: nothing to lock
        return
    lock = FileLock(str(entry.path.parent / f".{entry.path.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()  # the lock file stays: unlinking it could let two holders in


def _remove(path: Path) -> None:
    """Rename ``path`` away, then delete it: it is gone whole or still there whole."""
    if path.is_file():
        path.unlink()
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.removing-", dir=path.parent))
    os.replace(path, trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)


def clean_cache(
    *,
    older_than: float | None = None,
    kinds: Sequence[str] = KINDS,
    dry_run: bool = False,
    cache: Path | None = None,
) -> tuple[list[CacheEntry], list[CacheEntry]]:
    """Remove the entries of ``kinds`` unused for ``older_than`` seconds (None: all of them).
    Returns ``(removed, skipped)``: skipped entries are in use by another command (their lock is
    held). ``dry_run`` removes nothing and reports what would go."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"--kind {unknown[0]!r}: expected one of {', '.join(KINDS)}")
    now = time.time()
    removed, skipped = [], []
    for entry in list_cache(cache):
        if entry.kind not in kinds or (older_than is not None and now - entry.last_used < older_than):
            continue
        if dry_run:
            removed.append(entry)
            continue
        with _held(entry) as free:
            if not free:
                skipped.append(entry)
                continue
            _remove(entry.path)
            removed.append(entry)
    return removed, skipped
