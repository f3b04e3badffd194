"""``vprkit datasets check``: what a dataset folder holds and what is wrong with it.

Per split: image count, usable count, UTM zone, area (km², **convex hull** of the UTM positions;
for multi-city lists read with ``mixed_zones="keep"``, the sum of one hull per zone),
density (usable images per km² of that hull), images per ``cell_m`` (20 m, D&C's M) square cell
(min/median/max over occupied cells, and the share of occupied cells holding ≥ 10 images), share
of images with a heading, and every problem by file name: malformed names, missing coordinates,
lat/lon that contradict the UTM fields of the same name (more than ``latlon_tolerance_m``, 5 m),
a ``<folder>_images_paths.txt`` listing that differs from its folder (listed but missing, present
but not listed, listed twice), a split with query sets but no database, and images that cannot be
used: PIL cannot open or decode them (truncated files included), they exceed PIL's
decompression-bomb limit, or their shorter side is below ``min_side`` pixels.

Opening every image of SF-XL takes hours, so by default a sample is verified: ``sample`` images
per split, evenly spaced through the sorted list (deterministic); ``verify="all"`` opens all,
``verify="none"`` none. Verifying an image runs ``PIL.Image.open(...).verify()`` (headers and PNG
checksums) and then decodes every pixel (``load()``, with ``ImageFile.LOAD_TRUNCATED_IMAGES``
held False), because PIL opens lazily and a truncated JPEG passes ``verify()``. Opening is done
with PIL's ``DecompressionBombWarning`` turned into an error, so an image over
``PIL.Image.MAX_IMAGE_PIXELS`` is reported without being decoded.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.standard import (
    MIN_IMAGE_SIDE,
    PATHS_FILE_SUFFIX,
    Problem,
    check_listing,
    list_image_paths,
    list_splits,
    scan_paths,
)
from vprkit.errors import DataError
from vprkit.geometry.hull import cell_counts, hull_area_m2

__all__ = ["DatasetReport", "SplitReport", "check_dataset", "unreadable_images"]


@dataclass
class SplitReport:
    """Statistics and problems of one split (see the module docstring for definitions)."""

    split: str
    folder: str
    images: int = 0
    usable: int = 0
    zone: str = ""
    area_km2: float = 0.0
    density_per_km2: float = 0.0
    cell_m: float = 20.0
    cells: int = 0
    images_per_cell_min: int = 0
    images_per_cell_median: float = 0.0
    images_per_cell_max: int = 0
    share_cells_ge_10: float = 0.0
    heading_share: float = 0.0
    verified: int = 0
    expected: int | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class DatasetReport:
    """A whole dataset's report; ``ok`` is False when any split has a problem."""

    root: str
    area_method: str = "convex hull of UTM east/north"
    splits: list[SplitReport] = field(default_factory=list)

    @property
    def problems(self) -> list[tuple[str, Problem]]:
        return [(s.split, p) for s in self.splits for p in s.problems]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for s in d["splits"]:
            s["problems"] = [{"path": p["path"], "reason": p["reason"]} for p in s["problems"]]
        d["ok"] = self.ok
        return d


@contextlib.contextmanager
def _strict_pil() -> Iterator[None]:
    """PIL with truncated files refused and the decompression-bomb warning raised as an error."""
    from PIL import Image, ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _image_problem(path: Path, min_side: int) -> str | None:
    """Why the image at ``path`` cannot be used, in one line, or None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # headers, PNG chunk checksums
        with Image.open(path) as im:
            w, h = im.size
            im.load()  # every pixel: finds truncated and corrupt data that verify() does not read
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return (
            f"refused as a possible decompression bomb ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS "
            "if the image is genuine"
        )
    except Exception as exc:
        text = " ".join(str(exc).split()) or "no detail"
        return f"cannot be opened as an image ({type(exc).__name__}: {text})"
    if min(w, h) < min_side:
        return (
            f"is {w}×{h} pixels; the models need at least {min_side} pixels on the shorter side "
            "(MIN_IMAGE_SIDE; min_side=0 or --min-side 0 skips this check)"
        )
    return None


def unreadable_images(root: Path, paths: list[str], min_side: int = 0) -> list[Problem]:
    """Problems for the ``paths`` (relative to ``root``) that cannot be used as images: PIL cannot
    open, verify or fully decode them, they exceed PIL's decompression-bomb limit, or (``min_side``
    > 0) their shorter side is smaller than ``min_side`` pixels."""
    problems = []
    with _strict_pil():
        for p in paths:  # I/O and decoding, one file at a time
            reason = _image_problem(Path(root) / p, min_side)
            if reason is not None:
                problems.append(Problem(p, reason))
    return problems


def _sample(paths: list[str], verify: str, sample: int) -> list[str]:
    if verify == "none":
        return []
    if verify == "all" or len(paths) <= sample:
        return paths
    rows = np.linspace(0, len(paths) - 1, sample).round().astype(int)
    return [paths[i] for i in np.unique(rows)]


def _check_split(
    split: str,
    folder: Path,
    target_zone: Any,
    verify: str,
    sample: int,
    cell_m: float,
    mixed_zones: str,
    latlon_tolerance_m: float | None,
    min_side: int,
) -> SplitReport:
    report = SplitReport(split=split, folder=str(folder), cell_m=cell_m)
    try:
        paths = list_image_paths(folder)
    except DataError as exc:
        report.problems.append(Problem(str(folder), str(exc)))
        return report
    report.images = len(paths)
    listing = folder.parent / (folder.name + PATHS_FILE_SUFFIX)
    if listing.is_file():  # the listing must name exactly the folder's images (one walk of the folder)
        diff = check_listing(folder, paths)
        report.problems.extend(Problem(p, f"listed in {listing.name} but missing") for p in diff.missing)
        report.problems.extend(Problem(p, f"in the folder but not listed in {listing.name}") for p in diff.unlisted)
        report.problems.extend(Problem(p, f"listed more than once in {listing.name}") for p in diff.duplicated)
    try:
        images, problems = scan_paths(
            folder, paths, target_zone=target_zone, mixed_zones=mixed_zones, latlon_tolerance_m=latlon_tolerance_m
        )
    except DataError as exc:  # e.g. mixed UTM zones: reported, not a crash
        report.problems.append(Problem(str(folder), str(exc)))
        return report
    report.problems.extend(problems)
    report.usable = len(images)
    report.zone = f"{images.zone_number}{images.zone_letter}" if images.zone_number else ""
    if len(images):
        # Mixed-zone lists (MSLS): hulls and cells per zone, areas summed.
        zones = images.extra.get("utm_zone")
        groups = [np.ones(len(images), bool)] if zones is None else [zones == z for z in np.unique(zones)]
        if zones is not None:
            report.zone = ",".join(np.unique(zones).tolist())
        xy = images.utm
        area = sum(hull_area_m2(xy[g]) for g in groups) / 1e6
        report.area_km2 = round(area, 6)
        report.density_per_km2 = round(len(images) / area, 3) if area > 0 else 0.0
        counts = np.concatenate([cell_counts(xy[g], cell_m) for g in groups])
        report.cells = len(counts)
        report.images_per_cell_min = int(counts.min())
        report.images_per_cell_median = float(np.median(counts))
        report.images_per_cell_max = int(counts.max())
        report.share_cells_ge_10 = round(float((counts >= 10).mean()), 4)
        report.heading_share = round(float(np.isfinite(images.heading).mean()), 4)
    to_open = _sample(images.paths.tolist(), verify, sample)
    report.verified = len(to_open)
    report.problems.extend(unreadable_images(folder, to_open, min_side=min_side))
    return report


def _missing_databases(base: Path, splits: list[str]) -> list[SplitReport]:
    """A report with one problem for every top folder that has query sets but no database."""
    reports = []
    tops = dict.fromkeys(s.split("/")[0] for s in splits if "/" in s)
    for top in tops:
        queries = [s.split("/", 1)[1] for s in splits if s.startswith(f"{top}/queries")]
        database = base / top / "database"
        if not queries or f"{top}/database" in splits or database.with_name("database" + PATHS_FILE_SUFFIX).is_file():
            continue
        report = SplitReport(split=f"{top}/database", folder=str(database))
        report.problems.append(
            Problem(
                str(database),
                (
                    f"{top} has query sets ({', '.join(queries)}) but no database (no {top}/database folder or "
                    f"{top}/database{PATHS_FILE_SUFFIX}): its queries cannot be evaluated"
                ),
            )
        )
        reports.append(report)
    return reports


def check_dataset(
    path: str | Path,
    *,
    target_zone: Any = None,
    verify: str = "sample",
    sample: int = 200,
    cell_m: float = 20.0,
    expected: Mapping[str, int] | None = None,
    mixed_zones: str = "raise",
    latlon_tolerance_m: float | None = 5.0,
    min_side: int = MIN_IMAGE_SIDE,
) -> DatasetReport:
    """Report on a dataset root in the standard layout, or on a single folder of images.

    Args:
        path: dataset root (``<root>/images/...``) or one split folder.
        target_zone: passed to the reader (re-project mixed zones into it).
        verify: ``"sample"`` (``sample`` images per split), ``"all"`` or ``"none"``.
        cell_m: side of the occupancy cells in metres.
        expected: split → published count (a dataset spec's ``expected_counts``); a differing
            count is listed as a problem of that split.
        mixed_zones: ``"keep"`` for multi-city datasets (MSLS): statistics per zone, summed.
        latlon_tolerance_m: names whose lat/lon lie farther than this from their own UTM fields
            are listed (every row, not only the verified sample); None skips the comparison.
        min_side: verified images whose shorter side is below this many pixels are listed
            (default :data:`~vprkit.data.standard.MIN_IMAGE_SIDE`); 0 skips the check.
    """
    if verify not in ("sample", "all", "none"):
        raise DataError(f"verify must be 'sample', 'all' or 'none', not {verify!r}")
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist")
    splits = list_splits(root) if root.is_dir() else []
    report = DatasetReport(root=str(root))
    options = (target_zone, verify, sample, cell_m, mixed_zones, latlon_tolerance_m, min_side)
    if not splits:
        report.splits.append(_check_split(".", root, *options))
    base = root / "images" if (root / "images").is_dir() else root
    report.splits.extend(_missing_databases(base, splits))
    for split in splits:
        report.splits.append(_check_split(split, base / split, *options))
    for s in report.splits:
        if expected and s.split in expected:
            s.expected = int(expected[s.split])
            if s.images != s.expected:
                s.problems.append(Problem(s.folder, f"holds {s.images} images, the published count is {s.expected}"))
    return report
