"""Readers for the standard layout: folders of '@'-named images (METHODS.md §10).

Layout::

    <root>/images/train/                 training images (SF-XL: processed/train...)
    <root>/images/val/database/  val/queries/
    <root>/images/test/database/ test/queries/   (SF-XL: test/queries_v1, queries_v2, queries_night, queries_occlusion)

A *split* is named by its folder relative to ``<root>/images``: ``"train"``, ``"val/database"``,
``"test/queries_v1"``; a ``train`` folder with ``database``/``queries`` sub-folders (Pitts30k,
MSLS) gives ``"train/database"`` and ``"train/queries"``, and reading ``"train"`` reads both. A folder may have a sibling ``<folder>_images_paths.txt`` listing image
paths relative to the folder, one per line; it is used instead of walking the folder (walking
millions of files is slow on network disks).

Nothing is dropped silently: malformed names and images without coordinates either raise a
:class:`~vprkit.errors.DataError` naming the files (``errors="raise"``, the default) or are
excluded *and* listed (:func:`scan_paths`, ``errors="warn"``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vprkit.data.coords import Zone, unify_zone
from vprkit.data.filenames import parse_filenames
from vprkit.data.image_list import ImageList
from vprkit.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "Problem",
    "list_image_paths",
    "scan_paths",
    "image_list_from_paths",
    "read_folder",
    "split_folder",
    "list_splits",
    "list_query_sets",
    "resolve_query_sets",
    "load_split",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
PATHS_FILE_SUFFIX = "_images_paths.txt"


@dataclass(frozen=True)
class Problem:
    """A file a reader could not use, and why (shown by ``vprkit datasets check``)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def list_image_paths(folder: str | Path) -> list[str]:
    """Image paths relative to ``folder``, sorted; from ``<folder>_images_paths.txt`` when present.

    Raises DataError for a missing folder, an empty folder, or a paths file naming a missing image
    (the first and last listed paths are checked; ``vprkit datasets check`` checks all).
    """
    folder = Path(folder)
    listing = folder.parent / (folder.name + PATHS_FILE_SUFFIX)
    if listing.is_file():
        paths = [p.strip() for p in listing.read_text(encoding="utf-8").splitlines()]
        paths = [p for p in paths if p]  # blank lines carry no image
        if not paths:
            raise DataError(f"{listing} lists no images")
        for p in {paths[0], paths[-1]}:
            if not (folder / p).is_file():
                raise DataError(f"{listing} lists {p!r}, but {folder / p} does not exist (paths must be relative to {folder})")
        return paths
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    paths = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = os.path.relpath(dirpath, folder)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        paths.extend(prefix + f for f in filenames if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise DataError(f"image folder {folder} contains no {'/'.join(IMAGE_EXTENSIONS)} images")
    paths.sort()
    return paths


def scan_paths(
    root: str | Path, paths: Sequence[str], *, target_zone: "str | Zone | None" = None, mixed_zones: str = "raise"
) -> tuple[ImageList, list[Problem]]:
    """Parse standard names into an :class:`ImageList` of the usable rows and the problems.

    Rows are unusable when the name is malformed or when neither UTM nor lat/lon is given.
    Every unusable row is in the returned problems; the list keeps the order of ``paths``.
    Mixed UTM zones raise unless ``target_zone`` is given or ``mixed_zones="keep"`` (then
    ``zone_number`` is 0 and ``extra["utm_zone"]`` names each row's zone; see
    :func:`~vprkit.data.coords.unify_zone`).
    """
    root = Path(root)
    parsed = parse_filenames(paths, errors="report")
    problems = [Problem(name, reason) for _, name, reason in parsed.malformed]
    c = parsed.columns
    east, north, lat, lon, zone, row_zone = unify_zone(
        c["east"], c["north"], c["zone_number"], c["zone_letter"], c["lat"], c["lon"], target_zone,
        source=str(root), mixed_zones=mixed_zones, names=np.asarray(paths),
    )
    # A UTM position needs its zone (from the name, or implied by lat/lon) to mean anything.
    has_ll = np.isfinite(c["lat"]) & np.isfinite(c["lon"])
    has_zone = (np.isfinite(c["zone_number"]) & (c["zone_letter"] != "")) | has_ll
    located = parsed.ok & np.isfinite(east) & np.isfinite(north) & has_zone
    for i in np.flatnonzero(parsed.ok & ~located).tolist():
        reason = ("UTM east/north without a UTM zone, and no lat/lon" if np.isfinite(east[i])
                  else "no coordinates (UTM east/north and lat/lon are empty or NaN)")
        problems.append(Problem(str(paths[i]), reason))
    rows = np.flatnonzero(located)
    extra = {k: c[k][rows] for k in ("pano_id", "timestamp", "note") if (c[k] != "").any()}
    if row_zone is not None:
        extra["utm_zone"] = row_zone[rows]
    images = ImageList(
        root=root,
        paths=np.asarray(paths, dtype=str)[rows] if len(paths) else np.empty(0, dtype=str),
        east=east[rows],
        north=north[rows],
        zone_number=zone.number,
        zone_letter=zone.letter,
        lat=lat[rows],
        lon=lon[rows],
        heading=c["heading"][rows],
        extra=extra,
    )
    return images, problems


def _finish(images: ImageList, problems: list[Problem], errors: str, where: str) -> ImageList:
    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', not {errors!r}")
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        msg = f"{where}: {len(problems)} of {len(images) + len(problems)} images are unusable:\n{shown}{more}"
        if errors == "raise":
            raise DataError(msg + "\nFix or remove these files, or read with errors='warn' to exclude them.")
        warnings.warn(msg + "\n(excluded from the list)", stacklevel=3)
    if len(images) == 0:
        raise DataError(f"{where}: no usable images")
    return images


def image_list_from_paths(
    root: str | Path,
    paths: Sequence[str],
    *,
    target_zone: "str | Zone | None" = None,
    errors: str = "raise",
    mixed_zones: str = "raise",
) -> ImageList:
    """:func:`scan_paths`, then raise on problems (``errors="raise"``) or warn and exclude them."""
    images, problems = scan_paths(root, paths, target_zone=target_zone, mixed_zones=mixed_zones)
    return _finish(images, problems, errors, str(root))


def read_folder(
    folder: str | Path,
    *,
    target_zone: "str | Zone | None" = None,
    errors: str = "raise",
    cache: bool = False,
    mixed_zones: str = "raise",
) -> ImageList:
    """Every standard-named image under ``folder`` (recursive) as an :class:`ImageList`.

    Args:
        folder: the split folder; paths in the list are relative to it.
        target_zone: re-project into this UTM zone (e.g. ``"10S"``); None requires one zone.
        errors: ``"raise"`` on any malformed or unlocated image, or ``"warn"`` to exclude and list them.
        cache: reuse/store the parsed list in the content-keyed cache (:mod:`vprkit.data.cache`).
        mixed_zones: ``"keep"`` for multi-city datasets (MSLS): each image stays in its own zone.
    """
    folder = Path(folder)
    paths = list_image_paths(folder)

    def build() -> ImageList:
        return image_list_from_paths(folder, paths, target_zone=target_zone, errors=errors, mixed_zones=mixed_zones)

    if not cache:
        return build()
    from vprkit.data.cache import cached_image_list

    return cached_image_list(
        folder, paths, build, target_zone=str(target_zone) if target_zone else None, mixed_zones=mixed_zones
    )


def split_folder(root: str | Path, split: str) -> Path:
    """The folder of ``split`` (``"train"``, ``"test/database"``...) under a dataset root.

    Looks in ``<root>/images/<split>``, then ``<root>/<split>`` (roots that skip ``images/``).
    """
    root = Path(root)
    split = split.strip("/")
    for candidate in (root / "images" / split, root / split):
        if candidate.is_dir() or candidate.with_name(candidate.name + PATHS_FILE_SUFFIX).is_file():
            return candidate
    found = ", ".join(list_splits(root)) if root.is_dir() else "the root does not exist"
    raise DataError(f"dataset {root} has no split {split!r} (looked in {root / 'images' / split}); splits found: {found or 'none'}")


def list_splits(root: str | Path) -> list[str]:
    """Split names found under ``<root>/images`` (``train``, ``val/database``, ``test/queries_v1``...)."""
    base = Path(root) / "images"
    if not base.is_dir():
        base = Path(root)
    splits = []
    for top in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        subs = sorted(p.name for p in top.iterdir() if p.is_dir() and (p.name == "database" or p.name.startswith("queries")))
        if subs:
            splits.extend(f"{top.name}/{s}" for s in subs)
        elif top.name == "train":  # a flat training folder (SF-XL)
            splits.append("train")
    return splits


def list_query_sets(root: str | Path, split: str) -> list[str]:
    """Query sets of ``split`` found on disk: its ``queries*`` folders (or ``queries*_images_paths.txt``
    listings), sorted (``["queries_night", "queries_occlusion", "queries_v1", "queries_v2"]``)."""
    split = split.strip("/")
    found: set[str] = set()
    for base in (Path(root) / "images" / split, Path(root) / split):
        if base.is_dir():
            found |= {p.name for p in base.iterdir() if p.is_dir() and p.name.startswith("queries")}
            found |= {p.name[: -len(PATHS_FILE_SUFFIX)] for p in base.iterdir()
                      if p.name.startswith("queries") and p.name.endswith(PATHS_FILE_SUFFIX)}
        if found:
            break
    return sorted(found)


def resolve_query_sets(root: str | Path, split: str, requested: Sequence[str] | None,
                       order: Sequence[str] = ()) -> list[str]:
    """The query sets to evaluate: ``None`` or ``["all"]`` → every set of the split (in ``order``,
    e.g. the dataset spec's, then by name); otherwise the names given (``queries_v1`` or ``v1``),
    each checked to exist — an unknown one is refused, listing those that do (before anything is
    extracted)."""
    rank = {name: i for i, name in enumerate(order)}
    available = sorted(list_query_sets(root, split), key=lambda name: (rank.get(name, len(rank)), name))
    if not available:
        splits = ", ".join(list_splits(root)) if Path(root).is_dir() else "the root does not exist"
        raise DataError(f"dataset {root} has no query set under {split!r} (no {split}/queries* folder); "
                        f"splits found: {splits or 'none'}")
    if not requested or list(requested) == ["all"]:
        return available
    chosen = []
    for name in requested:
        full = name if name.startswith("queries") else f"queries_{name}"
        if full not in available and name not in available:
            raise DataError(f"dataset {root} has no query set {name!r} in split {split!r}; "
                            f"query sets there: {', '.join(available)} (or 'all')")
        chosen.append(name if name in available else full)
    return list(dict.fromkeys(chosen))


def load_split(
    dataset: str | Path,
    split: str,
    *,
    target_zone: "str | Zone | None" = None,
    errors: str = "raise",
    cache: bool = False,
    mixed_zones: str = "raise",
) -> ImageList:
    """Read one split of a dataset in the standard layout, e.g. ``load_split(root, "test/queries")``."""
    return read_folder(
        split_folder(dataset, split), target_zone=target_zone, errors=errors, cache=cache, mixed_zones=mixed_zones
    )
