"""Readers for the standard layout: folders of '@'-named images (docs/datasets/index.md).

Layout::

    <root>/images/train/                 training images (SF-XL: processed/train...)
    <root>/images/val/database/  val/queries/
    <root>/images/test/database/ test/queries/   (SF-XL: test/queries_v1, queries_v2, queries_night, queries_occlusion)

A *split* is named by its folder relative to ``<root>/images``: ``"train"``, ``"val/database"``,
``"test/queries_v1"``; a ``train`` folder with ``database``/``queries`` sub-folders (Pitts30k,
MSLS) gives ``"train/database"`` and ``"train/queries"``, and reading ``"train"`` reads both. A folder may have a sibling ``<folder>_images_paths.txt`` listing image
paths relative to the folder, one per line; it is used instead of walking the folder (walking
millions of files is slow on network disks). :func:`check_listing` compares a listing with its
folder (``vprkit datasets check`` always does; readers do with ``verify_listing=True``).

Nothing is dropped silently: malformed names and images without coordinates either raise a
:class:`~vprkit.errors.DataError` naming the files (``errors="raise"``, the default) or are
excluded *and* listed (:func:`scan_paths`, ``errors="warn"``).
"""

from __future__ import annotations

import os
import posixpath
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.filenames import parse_filenames
from vprkit.data.image_list import ImageList
from vprkit.errors import DataError
from vprkit.geometry.utm import Zone, unify_zone, utm_latlon_distance

__all__ = [
    "IMAGE_EXTENSIONS",
    "MIN_IMAGE_SIDE",
    "PATHS_FILE_SUFFIX",
    "ListingDiff",
    "Problem",
    "check_listing",
    "image_list_from_paths",
    "list_image_paths",
    "list_query_sets",
    "list_splits",
    "load_split",
    "read_folder",
    "resolve_query_sets",
    "scan_paths",
    "split_folder",
    "walk_image_paths",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
PATHS_FILE_SUFFIX = "_images_paths.txt"
#: Smallest shorter side, in pixels, of an image handed to a model (``open_image(path, min_size=...)``
#: and ``vprkit datasets check``): the backbones downsample 16× (VGG16 to conv5_3) to 32× (ResNet),
#: so a smaller image at its own size has no feature cell left; synthcity's smallest views are 16 px.
MIN_IMAGE_SIDE = 16


@dataclass(frozen=True)
class Problem:
    """A file a reader could not use, and why (shown by ``vprkit datasets check``)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ListingDiff:
    """How a ``<folder>_images_paths.txt`` listing differs from its folder (:func:`check_listing`).

    Attributes:
        listing: the listing file.
        missing: listed paths with no file in the folder, sorted.
        unlisted: images in the folder (see :func:`walk_image_paths`) that are not listed, sorted.
        duplicated: paths listed more than once, sorted.
    """

    listing: Path
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the listing names exactly the images of the folder, once each."""
        return not (self.missing or self.unlisted or self.duplicated)

    def message(self) -> str:
        """One line naming the first differences (empty when :attr:`ok`)."""
        parts = []
        if self.missing:
            parts.append(
                f"lists {_count(self.missing, 'image that is', 'images that are')} missing (first: {self.missing[0]})"
            )
        if self.unlisted:
            parts.append(
                f"{_count(self.unlisted, 'image in the folder is', 'images in the folder are')} not listed "
                f"(first: {self.unlisted[0]})"
            )
        if self.duplicated:
            parts.append(
                f"{_count(self.duplicated, 'path is', 'paths are')} listed twice or more (first: {self.duplicated[0]})"
            )
        if not parts:
            return ""
        return (
            f"{self.listing} " + " and ".join(parts) + "; regenerate the listing from the folder, "
            "or delete it to read the folder itself"
        )


def _count(items: Sequence[str], one: str, many: str) -> str:
    return f"1 {one}" if len(items) == 1 else f"{len(items)} {many}"


def walk_image_paths(folder: str | Path) -> list[str]:
    """Every image under ``folder`` (recursive, :data:`IMAGE_EXTENSIONS`, any case), relative to it
    with ``/`` separators, sorted. Symbolic links to files are included; linked folders are not
    entered (as ``os.walk``). One ``os.scandir`` per folder."""
    folder = Path(folder)
    found: list[str] = []
    stack = [(os.fspath(folder), "")]
    while stack:
        path, prefix = stack.pop()
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            stack.append((entry.path, prefix + entry.name + "/"))
                    elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                        found.append(prefix + entry.name)
        except OSError as exc:
            raise DataError(f"cannot list image folder {path}: {exc.strerror or exc}") from exc
    found.sort()
    return found


def _listing_file(folder: Path) -> Path:
    return folder.parent / (folder.name + PATHS_FILE_SUFFIX)


def check_listing(folder: str | Path, listed_paths: Sequence[str]) -> ListingDiff:
    """Compare ``listed_paths`` (from ``<folder>_images_paths.txt``) with the images in ``folder``.

    The folder is walked (:func:`walk_image_paths`) and the two sorted path sets compared with
    NumPy. A listed path that the walk did not find but that exists all the same (``./a.jpg``, a
    ``.tif``, a file in a linked folder) is not missing. Returns a :class:`ListingDiff`; nothing
    is raised (``list_image_paths(folder, verify_listing=True)`` raises on a difference).
    """
    folder = Path(folder)
    listed = np.asarray(listed_paths, dtype=str) if len(listed_paths) else np.empty(0, dtype=str)
    found = np.asarray(walk_image_paths(folder), dtype=str) if folder.is_dir() else np.empty(0, dtype=str)
    uniq, counts = np.unique(listed, return_counts=True)
    duplicated = uniq[counts > 1].tolist()
    # Listed paths the walk did not produce: missing unless they exist under another spelling.
    not_walked = np.setdiff1d(uniq, found, assume_unique=True).tolist()
    missing = [p for p in not_walked if not os.path.isfile(folder / p)]
    unlisted = np.setdiff1d(found, uniq, assume_unique=True)
    if len(unlisted) and len(not_walked) > len(missing):  # e.g. "./a.jpg" lists a.jpg
        spelled = {posixpath.normpath(p.replace(os.sep, "/")) for p in not_walked}
        unlisted = unlisted[~np.isin(unlisted, np.asarray(sorted(spelled), dtype=str))]
    return ListingDiff(_listing_file(folder), missing=missing, unlisted=unlisted.tolist(), duplicated=duplicated)


def list_image_paths(folder: str | Path, verify_listing: bool = False) -> list[str]:
    """Image paths relative to ``folder``, sorted; from ``<folder>_images_paths.txt`` when present.

    Raises DataError for a missing folder, an empty folder, or a paths file naming a missing image
    (the first and last listed paths are checked; ``vprkit datasets check`` checks all). With
    ``verify_listing=True`` a listing is compared with its folder (:func:`check_listing`, one walk
    of the folder) and any difference raises a DataError naming the first missing and unlisted
    images — for callers whose cache keys must see added or deleted images.
    """
    folder = Path(folder)
    listing = _listing_file(folder)
    if listing.is_file():
        paths = [p.strip() for p in listing.read_text(encoding="utf-8").splitlines()]
        paths = [p for p in paths if p]  # blank lines carry no image
        if not paths:
            raise DataError(f"{listing} lists no images")
        for p in {paths[0], paths[-1]}:
            if not (folder / p).is_file():
                raise DataError(
                    f"{listing} lists {p!r}, but {folder / p} does not exist (paths must be relative to {folder})"
                )
        if verify_listing:
            diff = check_listing(folder, paths)
            if not diff.ok:
                raise DataError(diff.message())
        return paths
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist")
    paths = walk_image_paths(folder)
    if not paths:
        raise DataError(f"image folder {folder} contains no {'/'.join(IMAGE_EXTENSIONS)} images")
    return paths


def scan_paths(
    root: str | Path,
    paths: Sequence[str],
    *,
    target_zone: str | Zone | None = None,
    mixed_zones: str = "raise",
    latlon_tolerance_m: float | None = None,
) -> tuple[ImageList, list[Problem]]:
    """Parse standard names into an :class:`ImageList` of the usable rows and the problems.

    Rows are unusable when the name is malformed or when neither UTM nor lat/lon is given.
    Every unusable row is in the returned problems; the list keeps the order of ``paths``.
    Mixed UTM zones raise unless ``target_zone`` is given or ``mixed_zones="keep"`` (then
    ``zone_number`` is 0 and ``extra["utm_zone"]`` names each row's zone; see
    :func:`~vprkit.geometry.utm.unify_zone`).

    With ``latlon_tolerance_m`` (``vprkit datasets check``: 5 m), names that give both UTM and
    lat/lon are also listed as problems when the lat/lon, projected into the name's own UTM
    zone, lie farther than that from its east/north (:func:`~vprkit.geometry.utm.utm_latlon_distance`);
    those rows stay in the list (their UTM position is the one used).
    """
    root = Path(root)
    parsed = parse_filenames(paths, errors="report")
    problems = [Problem(name, reason) for _, name, reason in parsed.malformed]
    c = parsed.columns
    if latlon_tolerance_m is not None:
        problems.extend(_latlon_disagreements(paths, c, float(latlon_tolerance_m)))
    east, north, lat, lon, zone, row_zone = unify_zone(
        c["east"],
        c["north"],
        c["zone_number"],
        c["zone_letter"],
        c["lat"],
        c["lon"],
        target_zone,
        source=str(root),
        mixed_zones=mixed_zones,
        names=np.asarray(paths),
    )
    # A UTM position needs its zone (from the name, or implied by lat/lon) to mean anything.
    has_ll = np.isfinite(c["lat"]) & np.isfinite(c["lon"])
    has_zone = (np.isfinite(c["zone_number"]) & (c["zone_letter"] != "")) | has_ll
    located = parsed.ok & np.isfinite(east) & np.isfinite(north) & has_zone
    for i in np.flatnonzero(parsed.ok & ~located).tolist():
        reason = (
            "UTM east/north without a UTM zone, and no lat/lon"
            if np.isfinite(east[i])
            else "no coordinates (UTM east/north and lat/lon are empty or NaN)"
        )
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


def _latlon_disagreements(paths: Sequence[str], c: dict[str, np.ndarray], tolerance_m: float) -> list[Problem]:
    gap = utm_latlon_distance(c["east"], c["north"], c["zone_number"], c["zone_letter"], c["lat"], c["lon"])
    bad = np.flatnonzero(gap > tolerance_m)  # NaN (a field missing) compares False
    problems = []
    for i in bad.tolist():  # one message per bad file (few); the distances above are vectorised
        zone = f"{int(c['zone_number'][i])}{c['zone_letter'][i]}"
        where = (
            f"are {gap[i]:,.0f} m from"
            if np.isfinite(gap[i])
            else "are outside UTM's range (latitude -80..84, longitude -180..180), so cannot match"
        )
        problems.append(
            Problem(
                str(paths[i]),
                (
                    f"lat/lon {c['lat'][i]:.7f}, {c['lon'][i]:.7f} {where} the UTM position "
                    f"{c['east'][i]:.2f} E {c['north'][i]:.2f} N (zone {zone}) in the same name "
                    f"(tolerance {tolerance_m:g} m); fix the name's lat/lon or UTM fields"
                ),
            )
        )
    return problems


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


def image_list_from_paths(root: str | Path, paths: Sequence[str], *, errors: str = "raise", **scan: Any) -> ImageList:
    """:func:`scan_paths` (``scan``: its options), then raise on problems (``errors="raise"``) or warn
    and exclude them."""
    images, problems = scan_paths(root, paths, **scan)
    return _finish(images, problems, errors, str(root))


def read_folder(
    folder: str | Path,
    *,
    target_zone: str | Zone | None = None,
    errors: str = "raise",
    cache: bool = False,
    mixed_zones: str = "raise",
    verify_listing: bool = False,
) -> ImageList:
    """Every standard-named image under ``folder`` (recursive) as an :class:`ImageList`.

    Args:
        folder: the split folder; paths in the list are relative to it.
        target_zone: re-project into this UTM zone (e.g. ``"10S"``); None requires one zone.
        errors: ``"raise"`` on any malformed or unlocated image, or ``"warn"`` to exclude and list them.
        cache: reuse/store the parsed list in the content-keyed cache (:mod:`vprkit.data.cache`).
        mixed_zones: ``"keep"`` for multi-city datasets (MSLS): each image stays in its own zone.
        verify_listing: compare a ``<folder>_images_paths.txt`` listing with the folder and raise
            a DataError on any difference (:func:`list_image_paths`).
    """
    folder = Path(folder)
    paths = list_image_paths(folder, verify_listing=verify_listing)

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
    raise DataError(
        f"dataset {root} has no split {split!r} (looked in {root / 'images' / split}); splits found: {found or 'none'}"
    )


def list_splits(root: str | Path) -> list[str]:
    """Split names found under ``<root>/images`` (``train``, ``val/database``, ``test/queries_v1``...)."""
    base = Path(root) / "images"
    if not base.is_dir():
        base = Path(root)
    splits: list[str] = []
    for top in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        subs = sorted(
            p.name for p in top.iterdir() if p.is_dir() and (p.name == "database" or p.name.startswith("queries"))
        )
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
            found |= {
                p.name[: -len(PATHS_FILE_SUFFIX)]
                for p in base.iterdir()
                if p.name.startswith("queries") and p.name.endswith(PATHS_FILE_SUFFIX)
            }
        if found:
            break
    return sorted(found)


def resolve_query_sets(
    root: str | Path, split: str, requested: Sequence[str] | None, order: Sequence[str] = ()
) -> list[str]:
    """The query sets to evaluate: ``None`` or ``["all"]`` → every set of the split (in ``order``,
    e.g. the dataset spec's, then by name); otherwise the names given (``queries_v1`` or ``v1``),
    each checked to exist — an unknown one is refused, listing those that do (before anything is
    extracted)."""
    rank = {name: i for i, name in enumerate(order)}
    available = sorted(list_query_sets(root, split), key=lambda name: (rank.get(name, len(rank)), name))
    if not available:
        splits = ", ".join(list_splits(root)) if Path(root).is_dir() else "the root does not exist"
        raise DataError(
            f"dataset {root} has no query set under {split!r} (no {split}/queries* folder); "
            f"splits found: {splits or 'none'}"
        )
    if not requested or list(requested) == ["all"]:
        return available
    chosen = []
    for name in requested:
        full = name if name.startswith("queries") else f"queries_{name}"
        if full not in available and name not in available:
            raise DataError(
                f"dataset {root} has no query set {name!r} in split {split!r}; "
                f"query sets there: {', '.join(available)} (or 'all')"
            )
        chosen.append(name if name in available else full)
    return list(dict.fromkeys(chosen))


def load_split(dataset: str | Path, split: str, **options: Any) -> ImageList:
    """Read one split of a dataset in the standard layout, e.g. ``load_split(root, "test/queries")``
    (``options`` as :func:`read_folder`'s)."""
    return read_folder(split_folder(dataset, split), **options)
