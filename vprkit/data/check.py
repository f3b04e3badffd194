"""``vprkit datasets check``: what a dataset folder holds and what is wrong with it.

Per split: image count, usable count, UTM zone, area (km², **convex hull** of the UTM positions;
for multi-city lists read with ``mixed_zones="keep"``, the sum of one hull per zone),
density (usable images per km² of that hull), images per ``cell_m`` (20 m, D&C's M) square cell
(min/median/max over occupied cells, and the share of occupied cells holding ≥ 10 images), share
of images with a heading, and every problem by file name: malformed names, missing coordinates,
paths listed in ``<folder>_images_paths.txt`` that do not exist, and images PIL cannot open.

Opening every image of SF-XL takes hours, so by default a sample is verified: ``sample`` images
per split, evenly spaced through the sorted list (deterministic); ``verify="all"`` opens all,
``verify="none"`` none. Opening uses ``PIL.Image.open(...).verify()``: it reads headers and (for
PNG) checksums without decoding pixels.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vprkit.data.geometry import cell_counts, hull_area_m2
from vprkit.data.standard import PATHS_FILE_SUFFIX, Problem, list_image_paths, list_splits, scan_paths
from vprkit.errors import DataError

__all__ = ["SplitReport", "DatasetReport", "check_dataset", "unreadable_images"]


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


def unreadable_images(root: Path, paths: list[str]) -> list[Problem]:
    """Problems for the ``paths`` (relative to ``root``) that PIL cannot open and verify."""
    from PIL import Image, UnidentifiedImageError

    problems = []
    for p in paths:
        try:
            with Image.open(root / p) as im:
                im.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            problems.append(Problem(p, f"cannot be opened as an image ({type(exc).__name__}: {exc})"))
    return problems


def _sample(paths: list[str], verify: str, sample: int) -> list[str]:
    if verify == "none":
        return []
    if verify == "all" or len(paths) <= sample:
        return paths
    rows = np.linspace(0, len(paths) - 1, sample).round().astype(int)
    return [paths[i] for i in np.unique(rows)]


def _check_split(
    split: str, folder: Path, target_zone: Any, verify: str, sample: int, cell_m: float, mixed_zones: str
) -> SplitReport:
    report = SplitReport(split=split, folder=str(folder), cell_m=cell_m)
    try:
        paths = list_image_paths(folder)
    except DataError as exc:
        report.problems.append(Problem(str(folder), str(exc)))
        return report
    report.images = len(paths)
    listing = folder.parent / (folder.name + PATHS_FILE_SUFFIX)
    if listing.is_file():  # every listed path must exist (stat calls: I/O-bound, fine for a check)
        missing = [p for p in paths if not os.path.isfile(folder / p)]
        report.problems.extend(Problem(p, f"listed in {listing.name} but missing") for p in missing)
    try:
        images, problems = scan_paths(folder, paths, target_zone=target_zone, mixed_zones=mixed_zones)
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
        report.cells = int(len(counts))
        report.images_per_cell_min = int(counts.min())
        report.images_per_cell_median = float(np.median(counts))
        report.images_per_cell_max = int(counts.max())
        report.share_cells_ge_10 = round(float((counts >= 10).mean()), 4)
        report.heading_share = round(float(np.isfinite(images.heading).mean()), 4)
    to_open = _sample(images.paths.tolist(), verify, sample)
    report.verified = len(to_open)
    report.problems.extend(unreadable_images(folder, to_open))
    return report


def check_dataset(
    path: str | Path,
    *,
    target_zone: Any = None,
    verify: str = "sample",
    sample: int = 200,
    cell_m: float = 20.0,
    expected: Mapping[str, int] | None = None,
    mixed_zones: str = "raise",
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
    """
    if verify not in ("sample", "all", "none"):
        raise DataError(f"verify must be 'sample', 'all' or 'none', not {verify!r}")
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist")
    splits = list_splits(root) if root.is_dir() else []
    report = DatasetReport(root=str(root))
    if not splits:
        report.splits.append(_check_split(".", root, target_zone, verify, sample, cell_m, mixed_zones))
    for split in splits:
        base = root / "images" if (root / "images").is_dir() else root
        report.splits.append(_check_split(split, base / split, target_zone, verify, sample, cell_m, mixed_zones))
    for s in report.splits:
        if expected and s.split in expected:
            s.expected = int(expected[s.split])
            if s.images != s.expected:
                s.problems.append(Problem(s.folder, f"holds {s.images} images, the published count is {s.expected}"))
    return report
