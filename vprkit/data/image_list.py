"""``ImageList``: the arrays every reader returns and every method consumes.

One row per image. Coordinates are UTM metres in a single zone for the whole list (the readers
refuse mixed zones unless a target zone is chosen, then re-project). Missing values are NaN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from vprkit.data.packed_paths import PackedPaths
from vprkit.errors import DataError
from vprkit.fileio import file_checksum, fingerprint, fingerprint_strings

#: Bumped whenever what :meth:`ImageList.content_fingerprint` covers changes.
CONTENT_KEY_VERSION = 1

__all__ = ["ImageList"]


@dataclass(frozen=True)
class ImageList:
    """Geotagged images of one split.

    Attributes:
        root: folder the ``paths`` are relative to.
        paths: ``(n,)`` relative image paths (str).
        east, north: ``(n,)`` float64 UTM easting/northing in metres.
        zone_number: UTM zone number shared by all rows (``0`` when unknown, e.g. sequences).
        zone_letter: UTM latitude band letter shared by all rows (``""`` when unknown).
        lat, lon: ``(n,)`` float64 degrees (NaN when unknown).
        heading: ``(n,)`` float64 degrees clockwise from north (NaN when unknown).
        extra: optional named per-row arrays (pano id, timestamp, sequence index...).

    A list made by :meth:`from_packed` (a map bundle's database) keeps its paths packed
    (:class:`~vprkit.data.packed_paths.PackedPaths`): its length, :meth:`fingerprint` and
    :meth:`path_at` read the packed bytes, and ``paths`` is decoded on first access.
    """

    root: Path
    paths: np.ndarray
    east: np.ndarray
    north: np.ndarray
    zone_number: int
    zone_letter: str
    lat: np.ndarray
    lon: np.ndarray
    heading: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.__dict__["paths"], PackedPaths):  # from_packed: decoded on first access
            self.__dict__["_packed"] = self.__dict__.pop("paths")
        n = len(self)
        for name in ("east", "north", "lat", "lon", "heading"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise DataError(f"ImageList.{name} has shape {arr.shape}, expected ({n},)")

    @classmethod
    def from_packed(
        cls,
        root: Path,
        paths: PackedPaths,
        *,
        east: np.ndarray,
        north: np.ndarray,
        zone_number: int,
        zone_letter: str,
        lat: np.ndarray,
        lon: np.ndarray,
        heading: np.ndarray,
    ) -> ImageList:
        """A list whose paths stay packed until ``paths`` is read (see the class docstring)."""
        return cls(
            root=root,
            paths=cast(np.ndarray, paths),  # __post_init__ moves it aside; `paths` then decodes it
            east=east,
            north=north,
            zone_number=zone_number,
            zone_letter=zone_letter,
            lat=lat,
            lon=lon,
            heading=heading,
        )

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not in the instance: `paths` of a packed list, decoded once
        packed = self.__dict__.get("_packed") if name == "paths" else None
        if packed is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        decoded = packed.decode()
        self.__dict__["paths"] = decoded
        return decoded

    @property
    def packed_paths(self) -> PackedPaths:
        """The paths packed (:class:`~vprkit.data.packed_paths.PackedPaths`), packed now if they were not."""
        packed = self.__dict__.get("_packed")
        return packed if packed is not None else PackedPaths.from_strings(self.paths)

    def __len__(self) -> int:
        packed = self.__dict__.get("_packed")
        return len(packed) if packed is not None else len(self.paths)

    def path_at(self, row: int) -> str:
        """The relative path of row ``row``, without decoding a packed list's other paths."""
        packed = self.__dict__.get("_packed")
        return packed.item(int(row)) if packed is not None else str(self.paths[row])

    @property
    def utm(self) -> np.ndarray:
        """``(n, 2)`` float64 array of (east, north) in metres."""
        return np.stack([self.east, self.north], axis=1)

    @property
    def has_headings(self) -> bool:
        """True when every image has a heading."""
        return len(self) > 0 and bool(np.isfinite(self.heading).all())

    def absolute_paths(self) -> list[Path]:
        return [self.root / p for p in self.paths]

    def fingerprint(self) -> str:
        """SHA-256 of the ordered relative paths (the content key of caches and bundles)."""
        packed = self.__dict__.get("_packed")
        return packed.fingerprint() if packed is not None else fingerprint_strings(self.paths.tolist())

    def content_fingerprint(self, verify_pixels: bool = False) -> str:
        """SHA-256 of the ordered relative paths *and* each file's content: the key for anything
        computed from the pixels (map bundles, descriptor caches).

        By default each file contributes its size and modification time in nanoseconds (one
        ``os.stat`` per file, symbolic links followed, so a changed link target counts); the
        paths and the two ``int64`` arrays are hashed whole (:func:`vprkit.fileio.fingerprint`).
        A file rewritten with new pixels under the same name therefore gives a new key. With
        ``verify_pixels=True`` each file's bytes are hashed instead (streamed, BLAKE2b per file;
        reads the whole dataset): a copy with new mtimes keeps its key, and an edit that keeps
        size and mtime is still seen. The two modes give different keys.

        Unlike :meth:`fingerprint` (the list's identity, stored in bundles), this touches the
        disk. A missing or unreadable file is a :class:`DataError` naming it.
        """
        paths = self.paths.tolist()
        names = fingerprint_strings(paths)
        root = os.fspath(self.root)
        if len(paths) and np.char.startswith(np.asarray(self.paths, dtype=str), os.sep).any():
            files = [os.path.join(root, p) for p in paths]  # some paths are absolute
        else:
            prefix = os.path.join(root, "")
            files = [prefix + p for p in paths]
        if verify_pixels:
            digests, failed = [], []
            for p, f in zip(paths, files):  # I/O: each file read once, in 8 MiB chunks
                try:
                    digests.append(file_checksum(f))
                except OSError as exc:
                    failed.append((p, exc))
                    digests.append("")
            if failed:
                raise _unreadable(self.root, failed, len(paths))
            content = np.frombuffer(bytes.fromhex("".join(digests)), dtype=np.uint8)
            return fingerprint("vprkit-image-content", CONTENT_KEY_VERSION, "bytes", names, content)
        stat = os.stat
        try:
            stats = [stat(f) for f in files]  # I/O: one stat per file
        except OSError:
            failed = []
            for p, f in zip(paths, files):
                try:
                    stat(f)
                except OSError as exc:
                    failed.append((p, exc))
            raise _unreadable(self.root, failed, len(paths)) from None
        sizes = np.fromiter((st.st_size for st in stats), dtype=np.int64, count=len(stats))
        mtimes = np.fromiter((st.st_mtime_ns for st in stats), dtype=np.int64, count=len(stats))
        return fingerprint("vprkit-image-content", CONTENT_KEY_VERSION, "stat", names, sizes, mtimes)

    def subset(self, rows: np.ndarray) -> ImageList:
        """Rows ``rows`` (indices or boolean mask) as a new list."""
        return ImageList(
            root=self.root,
            paths=self.paths[rows],
            east=self.east[rows],
            north=self.north[rows],
            zone_number=self.zone_number,
            zone_letter=self.zone_letter,
            lat=self.lat[rows],
            lon=self.lon[rows],
            heading=self.heading[rows],
            extra={k: v[rows] for k, v in self.extra.items()},
        )


def _unreadable(root: Path, failed: list[tuple[str, OSError]], total: int) -> DataError:
    path, exc = failed[0]
    what = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
    more = f" (the first of {len(failed)} such files)" if len(failed) > 1 else ""
    return DataError(
        f"image {Path(root) / path} {what}{more}; {len(failed)} of {total} images of {root} "
        "cannot be fingerprinted: re-read the folder (its listing may be stale) or restore the files"
    )
