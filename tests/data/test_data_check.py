"""Dataset reports, geometry and the position map."""

from __future__ import annotations

import numpy as np
from data_testdata import make_standard_dataset, standard_name, write_image

from vprkit.data.check import check_dataset
from vprkit.data.show import load_all_splits, plot_positions
from vprkit.geometry.hull import cell_counts, convex_hull, hull_area_m2


def test_hull_area_and_cells():
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100], [50, 50], [50, 0], [0, 0]], dtype=float)
    assert hull_area_m2(square) == 10_000.0
    assert len(convex_hull(square)) == 4
    assert hull_area_m2(square[:2]) == 0.0
    counts = cell_counts(np.array([[1, 1], [2, 2], [25, 1], [39.9, 19.9]]), 20.0)
    assert sorted(counts.tolist()) == [1, 1, 2] or sorted(counts.tolist()) == [2, 2]


def test_check_clean_dataset(tmp_path):
    root = make_standard_dataset(tmp_path / "ds")
    report = check_dataset(root, expected={"test/queries": 6})
    assert report.ok, report.problems
    by = {s.split: s for s in report.splits}
    assert set(by) == {"train", "test/database", "test/queries"}
    db = by["test/database"]
    assert db.images == db.usable == 40 and db.zone == "10S"
    assert 0.005 < db.area_km2 <= 0.01  # inside a 100 m × 100 m square
    assert abs(db.density_per_km2 - 40 / db.area_km2) < 1e-3 * db.density_per_km2
    assert db.cells <= 25 and db.images_per_cell_max >= db.images_per_cell_median >= db.images_per_cell_min >= 1
    assert db.heading_share == 1.0 and db.verified == 40
    assert report.to_dict()["ok"] is True


def test_check_lists_every_bad_file(tmp_path):
    root = make_standard_dataset(tmp_path / "ds", n_db=5, n_q=2)
    q = root / "images" / "test" / "queries"
    write_image(q / "IMG_0001.png")
    (q / standard_name(550_010.0, 4_180_010.0)).write_bytes(b"not a png")
    (q / "@@@@@@@@@@@@@@@.png").write_bytes(b"")
    report = check_dataset(root, verify="all", expected={"test/database": 7})
    assert not report.ok
    reasons = {p.path: p.reason for _, p in report.problems if "/" not in p.path or p.path.endswith(".png")}
    assert "not in" not in str(reasons)
    assert any(k == "IMG_0001.png" and "'@'" in v for k, v in reasons.items())
    assert any("cannot be opened" in v for v in reasons.values())
    assert any(k == "@@@@@@@@@@@@@@@.png" and "no coordinates" in v for k, v in reasons.items())
    assert any("published count is 7" in p.reason for _, p in report.problems)


def test_check_empty_split_and_mixed_zones_are_reported(tmp_path):
    root = tmp_path / "ds"
    (root / "images" / "test" / "database").mkdir(parents=True)
    q = root / "images" / "test" / "queries"
    write_image(q / standard_name(550_000.0, 4_180_000.0))
    from vprkit.data.filenames import format_filename

    write_image(q / format_filename(500_000.0, 4_980_000.0, 11, "T", 45.0, -117.0, ext=".png"))
    report = check_dataset(root)
    reasons = " ".join(p.reason for _, p in report.problems)
    assert "contains no" in reasons and "several UTM zones" in reasons
    assert check_dataset(root, target_zone="10S").splits[1].usable == 2


def test_show_writes_png(tmp_path):
    root = make_standard_dataset(tmp_path / "ds", n_db=10, n_q=3)
    png = plot_positions(load_all_splits(root), tmp_path / "map.png", title="t", max_points=5)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_lists_missing_paths_from_listing_file(tmp_path):
    root = make_standard_dataset(tmp_path / "ds", n_db=3, n_q=2)
    q = root / "images" / "test" / "queries"
    listed = sorted(p.name for p in q.iterdir())
    ghost = standard_name(550_050.0, 4_180_050.0)
    (q.parent / "queries_images_paths.txt").write_text("\n".join([listed[0], ghost, listed[1]]) + "\n")
    report = check_dataset(root, verify="none")
    problems = [(s, p.path, p.reason) for s, p in report.problems]
    assert problems == [("test/queries", ghost, "listed in queries_images_paths.txt but missing")]
