"""Issue #14, data items: changed data is never silently reused, and a bad file gives one clear line.

Each test writes real (small) image files with PIL and reproduces one reported case:
stale content keys (pixels changed under the same name), a listing file out of step with its
folder, lat/lon that contradict the UTM fields of a name, decompression bombs, images too small
for a model, truncated JPEGs, and a split with query sets but no database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import utm
from PIL import Image

from vprkit.cli import main
from vprkit.data.check import check_dataset
from vprkit.data.filenames import format_filename
from vprkit.data.image_list import ImageList
from vprkit.data.images import open_image
from vprkit.data.standard import (
    IMAGE_EXTENSIONS,
    MIN_IMAGE_SIDE,
    PATHS_FILE_SUFFIX,
    check_listing,
    list_image_paths,
    load_split,
    read_folder,
)
from vprkit.errors import DataError

ORIGIN = (550_000.0, 4_180_000.0)  # UTM 10S, San Francisco


def _name(east: float, north: float, *, dlat: float = 0.0, ext: str = ".png") -> str:
    lat, lon = utm.to_latlon(east, north, 10, "S")
    return format_filename(east, north, 10, "S", lat + dlat, lon, heading=90, ext=ext)


def _write(path: Path, seed: int = 0, size: int | tuple[int, int] = 16, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = (size, size) if isinstance(size, int) else size
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _folder(root: Path, n: int = 4, seed: int = 0) -> list[str]:
    names = [_name(ORIGIN[0] + 7.0 * i, ORIGIN[1] + 3.0 * i) for i in range(n)]
    for i, name in enumerate(names):
        _write(root / name, seed=seed + i)
    return sorted(names)


def _dataset(root: Path, n_db: int = 4, n_q: int = 2) -> Path:
    _folder(root / "images" / "test" / "database", n_db)
    _folder(root / "images" / "test" / "queries", n_q, seed=100)
    return root


def _reasons(report) -> dict[str, str]:
    return {p.path: p.reason for _, p in report.problems}


def _one_line(message: str) -> None:
    assert "\n" not in message, message


# --- 6: content keys --------------------------------------------------------------------------


def test_content_fingerprint_sees_changed_pixels_under_the_same_name(tmp_path):
    names = _folder(tmp_path / "db", 3)
    images = read_folder(tmp_path / "db")
    identity, content = images.fingerprint(), images.content_fingerprint()
    assert content == images.content_fingerprint()  # stable while nothing changes
    target = tmp_path / "db" / names[1]
    st = target.stat()
    _write(target, seed=999, size=24)  # new pixels, same file name
    again = read_folder(tmp_path / "db")
    assert again.fingerprint() == identity  # the list's identity (names only) is unchanged...
    assert again.content_fingerprint() != content  # ...but its content key is not
    # Same size, new mtime only (e.g. rewritten in place): still a new key.
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert again.content_fingerprint() not in (content,)


def test_verify_pixels_hashes_the_bytes(tmp_path):
    names = _folder(tmp_path / "db", 2)
    images = read_folder(tmp_path / "db")
    target = tmp_path / "db" / names[0]
    data, st = target.read_bytes(), target.stat()
    by_stat, by_bytes = images.content_fingerprint(), images.content_fingerprint(verify_pixels=True)
    assert by_bytes != by_stat and len(by_bytes) == 64
    # Same bytes, new mtime (a copy): the stat key changes, the byte key does not.
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert images.content_fingerprint() != by_stat
    assert images.content_fingerprint(verify_pixels=True) == by_bytes
    # Same size and mtime but one byte flipped (what stat cannot see): the byte key changes.
    flipped = bytearray(data)
    flipped[-20] ^= 0xFF
    target.write_bytes(bytes(flipped))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert images.content_fingerprint() == by_stat
    assert images.content_fingerprint(verify_pixels=True) != by_bytes


def test_content_fingerprint_of_a_missing_file_names_it(tmp_path):
    names = _folder(tmp_path / "db", 3)
    images = read_folder(tmp_path / "db")
    (tmp_path / "db" / names[2]).unlink()
    for verify in (False, True):
        with pytest.raises(DataError) as exc:
            images.content_fingerprint(verify_pixels=verify)
        _one_line(str(exc.value))
        assert names[2] in str(exc.value) and "1 of 3" in str(exc.value)


def test_content_fingerprint_of_an_empty_list(tmp_path):
    empty = ImageList(
        root=tmp_path,
        paths=np.empty(0, dtype=str),
        east=np.empty(0),
        north=np.empty(0),
        zone_number=10,
        zone_letter="S",
        lat=np.empty(0),
        lon=np.empty(0),
        heading=np.empty(0),
    )
    assert len(empty.content_fingerprint()) == 64


def test_content_fingerprint_of_absolute_paths(tmp_path):
    names = _folder(tmp_path / "db", 2)
    rel = read_folder(tmp_path / "db")
    absolute = ImageList(
        root=tmp_path / "elsewhere",
        paths=np.asarray([str(tmp_path / "db" / n) for n in names]),
        east=rel.east,
        north=rel.north,
        zone_number=10,
        zone_letter="S",
        lat=rel.lat,
        lon=rel.lon,
        heading=rel.heading,
    )
    assert len(absolute.content_fingerprint()) == 64 and absolute.content_fingerprint() != rel.content_fingerprint()


# --- 6: listing files checked against their folder -------------------------------------------


def _listed_dataset(tmp_path: Path) -> tuple[Path, Path, list[str], str, list[str]]:
    root = _dataset(tmp_path / "ds", n_db=5)
    db = root / "images" / "test" / "database"
    names = sorted(p.name for p in db.iterdir())
    listing = db.parent / ("database" + PATHS_FILE_SUFFIX)
    listing.write_text("\n".join(names) + "\n")
    # After the listing was written: two images added, one deleted (neither first nor last listed).
    added = [_name(ORIGIN[0] + 90.0 + i, ORIGIN[1] + 90.0) for i in range(2)]
    for i, name in enumerate(added):
        _write(db / "sub" / name, seed=50 + i)
    (db / names[2]).unlink()
    return root, db, names, names[2], sorted(f"sub/{a}" for a in added)


def test_check_listing_returns_both_differences(tmp_path):
    _, db, names, deleted, added = _listed_dataset(tmp_path)
    diff = check_listing(db, names)
    assert diff.missing == [deleted] and diff.unlisted == added and not diff.ok
    assert check_listing(db, sorted([n for n in names if n != deleted] + added)).ok
    # "./x" and a listed file that exists with another extension are not differences.
    (db / "notes.tif").write_bytes(b"x")
    dotted = [f"./{n}" for n in names if n != deleted] + added + ["notes.tif"]
    assert check_listing(db, dotted).ok


def test_list_image_paths_can_verify_the_listing(tmp_path):
    root, db, names, deleted, added = _listed_dataset(tmp_path)
    assert list_image_paths(db) == names  # the default still trusts the listing (first/last checked)
    with pytest.raises(DataError) as exc:
        list_image_paths(db, verify_listing=True)
    msg = str(exc.value)
    _one_line(msg)
    assert "database_images_paths.txt" in msg
    assert "lists 1 image that is missing (first: " + deleted in msg
    assert "2 images in the folder are not listed (first: " + added[0] in msg
    with pytest.raises(DataError, match="not listed"):
        load_split(root, "test/database", verify_listing=True)


def test_datasets_check_reports_unlisted_and_missing(tmp_path, capsys):
    root, _, _, deleted, added = _listed_dataset(tmp_path)
    reasons = _reasons(check_dataset(root, verify="none"))
    assert reasons[deleted] == "listed in database_images_paths.txt but missing"
    for a in added:
        assert reasons[a] == "in the folder but not listed in database_images_paths.txt"
    with pytest.raises(SystemExit) as exc:
        main(["datasets", "check", str(root), "--json", "--verify", "none"])
    report = json.loads(capsys.readouterr().out)
    assert exc.value.code == 1 and not report["ok"]
    assert {p["path"] for s in report["splits"] for p in s["problems"]} == {deleted, *added}


def test_walk_follows_image_extensions(tmp_path):
    _folder(tmp_path / "f", 2)
    (tmp_path / "f" / "readme.txt").write_text("x")
    _write(tmp_path / "f" / "deep" / "er" / "UPPER.JPG", fmt="JPEG")
    paths = list_image_paths(tmp_path / "f")
    assert "deep/er/UPPER.JPG" in paths and "readme.txt" not in paths and paths == sorted(paths)
    assert all(os.path.splitext(p)[1].lower() in IMAGE_EXTENSIONS for p in paths)


# --- 8: lat/lon against UTM -------------------------------------------------------------------


def test_check_reports_latlon_that_contradict_utm(tmp_path):
    root = _dataset(tmp_path / "ds")
    db = root / "images" / "test" / "database"
    wrong = _name(ORIGIN[0] + 50.0, ORIGIN[1] + 50.0, dlat=0.001)  # ~111 m north of its UTM position
    _write(db / wrong)
    assert check_dataset(root, verify="none", latlon_tolerance_m=None).ok  # the old behaviour
    reasons = _reasons(check_dataset(root, verify="none"))
    assert list(reasons) == [wrong]
    assert "lat/lon" in reasons[wrong] and "111 m" in reasons[wrong] and "5 m" in reasons[wrong]
    _one_line(reasons[wrong])
    assert check_dataset(root, verify="none", latlon_tolerance_m=200.0).ok


# --- 9: decompression bombs and too-small images ---------------------------------------------


# The other images have 16×16 = 256 pixels, under the limit of 300 set below. 20×20 = 400 pixels
# is over the limit (PIL warns); 32×32 = 1024 is over twice the limit (PIL raises).
@pytest.mark.parametrize("side", [20, 32])
def test_decompression_bomb_is_a_problem_not_a_crash(tmp_path, monkeypatch, side):
    root = _dataset(tmp_path / "ds")
    bomb = _name(ORIGIN[0] + 60.0, ORIGIN[1] + 60.0)
    _write(root / "images" / "test" / "database" / bomb, size=side)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    reasons = _reasons(check_dataset(root, verify="all", min_side=0))
    assert list(reasons) == [bomb] and "decompression bomb" in reasons[bomb]
    _one_line(reasons[bomb])
    with pytest.raises(DataError, match="decompression bomb") as exc:
        open_image(root / "images" / "test" / "database" / bomb)
    assert bomb in str(exc.value)
    _one_line(str(exc.value))


def test_too_small_image_is_a_clear_error(tmp_path):
    root = _dataset(tmp_path / "ds")
    tiny = _name(ORIGIN[0] + 70.0, ORIGIN[1] + 70.0)
    path = _write(root / "images" / "test" / "database" / tiny, size=1)
    with pytest.raises(DataError) as exc:
        open_image(path, min_size=MIN_IMAGE_SIDE)
    msg = str(exc.value)
    _one_line(msg)
    assert tiny in msg and "1×1" in msg and f"{MIN_IMAGE_SIDE}" in msg
    assert open_image(path).size == (1, 1)  # without min_size nothing is refused
    assert open_image(
        root / "images" / "test" / "queries" / os.listdir(root / "images" / "test" / "queries")[0],
        min_size=MIN_IMAGE_SIDE,
    ).size == (16, 16)
    reasons = _reasons(check_dataset(root, verify="all"))
    assert list(reasons) == [tiny] and "1×1" in reasons[tiny]
    assert check_dataset(root, verify="all", min_side=0).ok
    for argv, code in ((["--verify", "all"], 1), (["--verify", "all", "--min-side", "0"], 0)):
        with pytest.raises(SystemExit) as exc:
            main(["datasets", "check", str(root), "--json", *argv])
        assert exc.value.code == code


# --- 10: truncated JPEGs and a split without a database --------------------------------------


def test_truncated_jpeg_is_found_by_a_full_decode(tmp_path):
    root = _dataset(tmp_path / "ds")
    cut = _name(ORIGIN[0] + 80.0, ORIGIN[1] + 80.0, ext=".jpg")
    path = _write(root / "images" / "test" / "database" / cut, size=64, fmt="JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with Image.open(path) as im:  # what the old check did: verify() passes a truncated JPEG
        im.verify()
    reasons = _reasons(check_dataset(root, verify="all"))
    assert list(reasons) == [cut] and "truncated" in reasons[cut]
    _one_line(reasons[cut])
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(DataError, match="truncated"):
        open_image(path)


def test_truncated_jpeg_is_found_even_if_truncated_loading_was_switched_on(tmp_path, monkeypatch):
    from PIL import ImageFile

    root = _dataset(tmp_path / "ds")
    cut = _name(ORIGIN[0] + 80.0, ORIGIN[1] + 80.0, ext=".jpg")
    path = _write(root / "images" / "test" / "database" / cut, size=64, fmt="JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert list(_reasons(check_dataset(root, verify="all"))) == [cut]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_split_with_queries_but_no_database_is_reported(tmp_path):
    root = tmp_path / "ds"
    _folder(root / "images" / "test" / "queries_v1", 2)
    _folder(root / "images" / "test" / "queries_v2", 2)
    _folder(root / "images" / "val" / "database", 2)
    _folder(root / "images" / "val" / "queries", 2)
    report = check_dataset(root, verify="none")
    assert not report.ok
    [(split, problem)] = report.problems
    assert split == "test/database" and problem.path.endswith(os.path.join("test", "database"))
    assert "queries_v1, queries_v2" in problem.reason and "no database" in problem.reason
    _one_line(problem.reason)
    # A database given only as a listing file counts as a database.
    (root / "images" / "test" / "database_images_paths.txt").write_text("a.png\n")
    report = check_dataset(root, verify="none")
    assert not any("no database" in p.reason for _, p in report.problems)
