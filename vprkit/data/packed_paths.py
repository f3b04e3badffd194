"""``PackedPaths``: an image list's relative paths as one UTF-8 buffer, one path per line.

A database of SF-XL's size has 2.8M paths of about 80 characters. As a NumPy ``<U`` array they take
4 bytes per character padded to the longest (0.9 GB at 2.8M), and a bundle that stored them that way
spent most of its load time reading and re-hashing them. Packed, they are the plain text file a user
would write (``database_paths.txt``: each path followed by ``\\n``), about a quarter of the size,
memory-mapped when asked, and their fingerprint is the SHA-256 of the bytes themselves: identical to
:func:`vprkit.fileio.fingerprint_strings` of the decoded list, so packed and unpacked lists of the
same paths have one identity.

Single paths are decoded on demand (:meth:`PackedPaths.item`); the whole ``(n,)`` str array only when
something asks for it (:meth:`PackedPaths.decode`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vprkit.errors import DataError
from vprkit.fileio import atomic_path

__all__ = ["PackedPaths"]

_NEWLINE = 10  # b"\n": the separator, also after the last path
_SCAN_BLOCK = 64 << 20  # bytes compared at once when finding the line ends (bounds the temporary mask)


class PackedPaths:
    """``n`` paths as one ``uint8`` buffer in which every path is followed by a newline.

    Args:
        data: ``(B,)`` uint8, the UTF-8 bytes (an in-memory array or a read-only ``np.memmap``).
        source: where the bytes came from, for error messages.
    """

    def __init__(self, data: np.ndarray, source: str = "the path list") -> None:
        if data.dtype != np.uint8 or data.ndim != 1:
            raise DataError(f"{source}: packed paths must be a 1-D uint8 buffer, got {data.dtype} {data.shape}")
        if len(data) and data[-1] != _NEWLINE:
            raise DataError(f"{source}: the last path is not followed by a newline (the file was cut short)")
        self.data = data
        self.source = source
        self._starts, self._ends = _line_bounds(data)

    @classmethod
    def from_strings(cls, paths: Sequence[str] | np.ndarray) -> PackedPaths:
        """Pack ``paths``; a path containing a newline is refused (it would read back as two)."""
        items = paths.tolist() if isinstance(paths, np.ndarray) else list(paths)
        text = "".join(p + "\n" for p in items) if items else ""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        packed = cls(data)
        if len(packed) != len(items):
            bad = next(p for p in items if "\n" in p)
            raise DataError(f"image path {bad!r} contains a newline; rename the file")
        return packed

    @classmethod
    def read(cls, path: str | Path, *, mmap: bool = False) -> PackedPaths:
        """The paths written by :meth:`write`: memory-mapped read-only when ``mmap`` (the page cache
        holds them, not this process), else read whole. A missing or damaged file is a
        :class:`DataError` naming it."""
        path = Path(path)
        try:
            if mmap and path.stat().st_size:
                data: np.ndarray = np.memmap(path, dtype=np.uint8, mode="r")
            else:
                data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"{str(path)!r} cannot be read ({exc.strerror or exc})") from exc
        return cls(data, source=repr(str(path)))

    def write(self, path: str | Path) -> Path:
        """Write the bytes to ``path`` atomically (a plain UTF-8 text file, one path per line)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(self.data.data)
            fh.flush()
            os.fsync(fh.fileno())
        return Path(path)

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def item(self, row: int) -> str:
        """Path ``row`` (negative rows count from the end, as in NumPy)."""
        row = range(len(self))[row]  # IndexError for a row out of range
        return self._decode(bytes(self.data[self._starts[row] : self._ends[row]]))

    def decode(self) -> np.ndarray:
        """All paths as an ``(n,)`` NumPy str array."""
        if not len(self):
            return np.array([], dtype=str)
        text = self._decode(self.data[:-1].tobytes())
        return np.array(text.split("\n"), dtype=str)

    def fingerprint(self) -> str:
        """SHA-256 of the bytes: equal to ``fingerprint_strings(self.decode().tolist())``."""
        digest = hashlib.sha256()
        view = self.data.data  # a memoryview: hashed in place, never copied
        for start in range(0, len(view), _SCAN_BLOCK):
            digest.update(view[start : start + _SCAN_BLOCK])
        return digest.hexdigest()

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{self.source}: the path list is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc


def _line_bounds(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` int64 byte offsets of each path in ``data`` (ends exclude the newline),
    found in blocks so the temporary mask stays small for a memory-mapped file."""
    ends = np.concatenate(
        [np.flatnonzero(data[s : s + _SCAN_BLOCK] == _NEWLINE) + s for s in range(0, len(data), _SCAN_BLOCK)]
        or [np.empty(0, dtype=np.int64)]
    ).astype(np.int64, copy=False)
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends
