"""Atomic file writes and content fingerprints.

Artifacts (partitions, caches, bundles, checkpoints) are written to a temporary file in the
target's folder and renamed into place, so an interrupted write never leaves a half file behind.
Fingerprints are SHA-256 digests of *content* (arrays, image lists, parameters), never of folder
names, so a cache is reused only for exactly the data it was made from.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "SHARD_PLAN_FILE",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_checksum",
    "fingerprint",
    "fingerprint_strings",
    "folder_lock",
    "make_folder",
    "read_json_object",
    "shard_bounds",
    "shard_count",
    "shard_plan",
]


def make_folder(folder: str | Path, advice: str) -> Path:
    """``folder`` and its parents, made if missing; a folder that cannot be made (read-only, a file in
    the way) is a one-line :class:`~vprkit.errors.DataError`: ``cannot create 'FOLDER' (why)ADVICE``."""
    from vprkit.errors import DataError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {str(folder)!r} ({exc.strerror or exc}){advice}") from exc
    return folder


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps ``suffix`` (some writers, e.g. ``np.save``, append their own
    extension otherwise). On error the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    except OSError as exc:
        raise (_write_error(target, exc) or exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # After the writer: mkstemp makes 0600, and some writers (safetensors) replace the file with
        # their own 0600 one. Artifacts are for sharing, so they get the umask's ordinary permissions.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except Exception as exc:
        # torch.save ("unexpected pos"), safetensors and numpy report a full disk in words of their own
        if _is_disk_full(exc) or _nearly_full(target.parent):
            full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            raise (_write_error(target, full) or full) from exc
        friendly = _write_error(target, exc) if isinstance(exc, OSError) else None
        if friendly is not None:
            raise friendly from exc
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in ("no space left", "storagefull", "os error 28"))


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    """After a failed write: is the file system (almost) out of space? (1 MiB margin)"""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def _write_error(target: Path, exc: OSError) -> Exception | None:
    """A full disk, a read-only folder, a file in a folder's place while writing ``target``: one
    line for the user (``None`` for other errors, which are raised as they are)."""
    from vprkit.errors import DataError

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DataError(
            f"no space left on the device writing {str(target)!r}: free some space and run the command "
            "again (what was there before is unchanged)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DataError(
            f"cannot write {str(target)!r}: {exc.strerror} (for the cache, set VPRKIT_CACHE_DIR to a writable folder)"
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return DataError(f"cannot write {str(target)!r}: a file stands where a folder is needed ({exc.strerror})")
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json_object(path: str | Path, error: type[Exception], missing: str) -> dict[str, Any]:
    """A JSON object from ``path`` (manifests, metadata); ``error(missing)`` when the file is not
    there, ``error`` naming the file when it is not valid JSON or not an object."""
    p = Path(path)
    if not p.is_file():
        raise error(missing)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{str(p)!r} is corrupted: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{str(p)!r} is corrupted: a JSON {type(data).__name__}, not an object")
    return data


def fingerprint(*parts: Any) -> str:
    """SHA-256 hex digest of arrays, bytes, strings and JSON-able values, in order.

    NumPy arrays contribute dtype, shape and raw bytes (C order), so two arrays with the same
    values but different dtypes differ.
    """
    h = hashlib.sha256()
    for part in parts:
        if hasattr(part, "__array__") and hasattr(part, "dtype"):
            import numpy as np

            arr = np.ascontiguousarray(part)
            h.update(f"ndarray:{arr.dtype.str}:{arr.shape}".encode())
            h.update(arr.tobytes())
        elif isinstance(part, bytes):
            h.update(b"bytes:" + part)
        elif isinstance(part, str):
            h.update(b"str:" + part.encode("utf-8"))
        else:
            h.update(b"json:" + json.dumps(part, sort_keys=True, default=str).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def file_checksum(path: str | Path, chunk: int = 8 << 20, *, algorithm: str = "blake2b") -> str:
    """Hex digest of a file's bytes, read in 8 MiB chunks: BLAKE2b-128 (about 1 GB/s; vprkit's own
    payloads) or ``algorithm="sha256"`` (what releases publish)."""
    digest = hashlib.blake2b(digest_size=16) if algorithm == "blake2b" else hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_strings(items: Iterable[str], block: int = 65536) -> str:
    """SHA-256 of a sequence of strings (e.g. an image list), order-sensitive: the digest of every
    item followed by a newline, hashed in blocks of ``block`` joined items (one update per block,
    not two per item: 2.8M names in well under a second)."""
    h = hashlib.sha256()
    seq = items if isinstance(items, (list, tuple)) else list(items)
    for start in range(0, len(seq), block):
        h.update(("\n".join(seq[start : start + block]) + "\n").encode("utf-8"))
    return h.hexdigest()


# -- resumable extractions (the descriptor store, the local-feature store) ----------------------
#
# An extraction over ``count`` items is cut into shards of ``size`` items; ``extraction.json``
# holds the plan ``{"key", "count", <unit>: size}`` (``unit`` names the size: "shard_rows",
# "shard_images"), and ``shards/`` the shards written so far. A plan with the same key and count
# is kept, so an interrupted extraction resumes with its valid shards.


#: the plan file of a resumable extraction
SHARD_PLAN_FILE = "extraction.json"


@contextlib.contextmanager
def folder_lock(folder: Path, advice: str) -> Iterator[None]:
    """Hold ``.<name>.lock`` beside ``folder`` (its parent is made, ``advice`` as in
    :func:`make_folder`): one process at a time builds ``folder``; the lock file stays."""
    from filelock import FileLock

    make_folder(folder.parent, advice)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        yield


def shard_plan(folder: Path, key: str, count: int, size: int, unit: str, advice: str) -> dict[str, Any]:
    """The shard plan of the extraction in ``folder``: kept from an interrupted one with the same
    key and count (its shards stay valid), else new (leftover shards are discarded)."""
    from vprkit.errors import DataError

    if size < 1:
        raise DataError(f"{unit} must be positive, got {size}")
    path = folder / SHARD_PLAN_FILE
    if path.is_file():
        with contextlib.suppress(DataError):
            old = read_json_object(path, DataError, "")
            if old.get("key") == key and old.get("count") == count and int(old.get(unit, 0)) >= 1:
                return old
    shutil.rmtree(folder / "shards", ignore_errors=True)
    make_folder(folder / "shards", advice)
    plan = {"key": key, "count": count, unit: int(size)}
    atomic_write_json(path, plan)
    return plan


def shard_bounds(plan: dict[str, Any], i: int, unit: str) -> tuple[int, int]:
    """Items ``[start, end)`` of shard ``i``."""
    size = int(plan[unit])
    return i * size, min((i + 1) * size, int(plan["count"]))


def shard_count(plan: dict[str, Any], unit: str) -> int:
    """Shards of the plan (the last one may be short)."""
    return -(-int(plan["count"]) // int(plan[unit]))
