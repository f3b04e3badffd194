"""Content-keyed cache of parsed image lists (``.npz``), so millions of names are parsed once.

The key is the SHA-256 of the ordered relative image paths *and* the reader parameters (target
zone, format version), via :func:`vprkit.fileio.fingerprint`; it never involves the folder name.
Adding, removing or renaming a single image changes the key, so a changed folder can never reuse
a stale cache (the failure of the official repositories' path-keyed caches). In the standard
format the coordinates live in the names, so the paths are the whole content a parse depends on.
When the paths come from a ``<folder>_images_paths.txt`` listing, the key follows the listing; a
listing that has drifted from its folder is found by :func:`vprkit.data.standard.check_listing`
(``read_folder(..., verify_listing=True)``, ``vprkit datasets check``). Anything computed from the
pixels (a map bundle) is keyed by :meth:`~vprkit.data.image_list.ImageList.content_fingerprint`
instead, which adds each file's size and mtime (or its bytes).

Files are written atomically under the cache folder: ``$VPRKIT_CACHE_DIR`` or ``~/.cache/vprkit``,
in ``image_lists/<key>.npz``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.image_list import ImageList
from vprkit.errors import DataError
from vprkit.fileio import atomic_path, fingerprint, fingerprint_strings

__all__ = ["FORMAT_VERSION", "cache_dir", "cached_image_list", "image_list_key", "load_image_list", "save_image_list"]

#: Bumped whenever the parse of a name changes, so older cache files are not reused.
FORMAT_VERSION = 1
_EXTRA = "extra__"


def cache_dir() -> Path:
    """``$VPRKIT_CACHE_DIR`` when set, else ``~/.cache/vprkit``."""
    env = os.environ.get("VPRKIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vprkit"


def image_list_key(paths: Sequence[str], **params: Any) -> str:
    """SHA-256 hex of the ordered relative ``paths`` plus the reader ``params`` (JSON-able)."""
    return fingerprint("image_list", FORMAT_VERSION, fingerprint_strings(paths), params)


def _file(key: str, directory: Path | None) -> Path:
    return (directory or cache_dir()) / "image_lists" / f"{key}.npz"


def save_image_list(images: ImageList, key: str, directory: Path | None = None) -> Path:
    """Write ``images`` (without its root) atomically as ``<cache>/image_lists/<key>.npz``."""
    arrays: dict[str, Any] = {
        "paths": np.asarray(images.paths, dtype=str),
        "east": images.east,
        "north": images.north,
        "lat": images.lat,
        "lon": images.lon,
        "heading": images.heading,
        "zone_number": np.array(images.zone_number),
        "zone_letter": np.array(images.zone_letter),
        "key": np.array(key),
    }
    arrays.update({_EXTRA + k: np.asarray(v) for k, v in images.extra.items()})
    target = _file(key, directory)
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return target


def load_image_list(key: str, root: str | Path, directory: Path | None = None) -> ImageList | None:
    """The cached list for ``key`` with ``root`` attached, or None when absent or unreadable."""
    path = _file(key, directory)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return ImageList(
                root=Path(root),
                paths=z["paths"],
                east=z["east"],
                north=z["north"],
                zone_number=int(z["zone_number"]),
                zone_letter=str(z["zone_letter"]),
                lat=z["lat"],
                lon=z["lon"],
                heading=z["heading"],
                extra={k[len(_EXTRA) :]: z[k] for k in z.files if k.startswith(_EXTRA)},
            )
    except (OSError, ValueError, KeyError, DataError):
        return None  # a damaged cache file is rebuilt, never trusted


def cached_image_list(
    root: str | Path,
    paths: Sequence[str],
    build: Callable[[], ImageList],
    directory: Path | None = None,
    **params: Any,
) -> ImageList:
    """Load the list for (``paths``, ``params``) from the cache, or ``build()`` it and store it."""
    key = image_list_key(paths, **params)
    hit = load_image_list(key, root, directory)
    if hit is not None and len(hit) == len(paths):
        return hit
    images = build()
    save_image_list(images, key, directory)
    return images
