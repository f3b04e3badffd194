"""Pitts30k and Tokyo 24/7 prepare steps on fabricated inputs shaped like the authors' files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import utm
from data_testdata import write_image
from vprkit_pitts30k.prepare import prepare as prepare_pitts
from vprkit_tokyo247.prepare import prepare as prepare_tokyo

from vprkit.data.check import check_dataset
from vprkit.data.dbstruct import read_db_struct
from vprkit.data.matfile import load_mat
from vprkit.data.standard import list_splits, load_split
from vprkit.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"


def _pitts_src(tmp_path: Path) -> Path:
    src = tmp_path / "raw"
    (src / "datasets").mkdir(parents=True)
    for which in ("train", "val", "test"):
        mat = shutil.copy(FIXTURES / f"pitts30k_{which}.mat", src / "datasets")
        db, _, q, _ = read_db_struct(mat)
        for i, p in enumerate(db):
            write_image(src / p, seed=i)
        for i, p in enumerate(q):
            write_image(src / "queries_real" / p, seed=100 + i)
    return src


def test_mat_reader_reads_scipy_written_struct():
    s = load_mat(FIXTURES / "pitts30k_test.mat")["dbStruct"]
    assert s["whichSet"] == "test" and float(np.ravel(s["posDistThr"])[0]) == 25.0
    assert s["utmDb"].shape == (2, 3)


def test_prepare_pitts30k(tmp_path):
    out = tmp_path / "pitts30k"
    counts = prepare_pitts(_pitts_src(tmp_path), out, link="symlink")
    assert counts == {
        "train/database": 2,
        "train/queries": 1,
        "val/database": 2,
        "val/queries": 1,
        "test/database": 3,
        "test/queries": 2,
    }
    assert list_splits(out) == [
        "test/database",
        "test/queries",
        "train/database",
        "train/queries",
        "val/database",
        "val/queries",
    ]
    q = load_split(out, "test/queries")
    assert (q.zone_number, q.zone_letter) == (17, "T")
    np.testing.assert_allclose(np.sort(q.east), [585_003.0, 585_013.0])
    lat, lon = utm.to_latlon(585_003.0, 4_477_002.0, 17, "T")
    row = int(np.argmin(q.east))
    assert abs(q.lat[row] - lat) < 1e-6 and abs(q.lon[row] - lon) < 1e-6
    assert q.extra["pano_id"][row] == "002100" and q.extra["note"][row] == "pitch1_yaw4"
    assert check_dataset(out, verify="all").ok


def test_prepare_pitts30k_names_missing_image(tmp_path):
    src = _pitts_src(tmp_path)
    (src / "002" / "002001_pitch1_yaw7.jpg").unlink()
    with pytest.raises(DataError, match="002001_pitch1_yaw7.jpg"):
        prepare_pitts(src, tmp_path / "out", link="copy")


def test_prepare_tokyo247(tmp_path):
    src = tmp_path / "raw"
    (src / "datasets").mkdir(parents=True)
    shutil.copy(FIXTURES / "tokyo247.mat", src / "datasets")
    db, _db_utm, _, _ = read_db_struct(src / "datasets" / "tokyo247.mat")
    for i, p in enumerate(db):  # listed as .jpg, distributed as .png
        write_image((src / p).with_suffix(".png"), seed=i)
    qdir = src / "247query_subset_v2"
    for i, (lat, lon) in enumerate([(35.6581, 139.7017), (35.6590, 139.7000)]):
        write_image(qdir / f"{i + 1:05d}.jpg", seed=50 + i)
        (qdir / f"{i + 1:05d}.csv").write_text(f"{i + 1:05d}.jpg,{lat},{lon},day\n")
    out = tmp_path / "tokyo247"
    counts = prepare_tokyo(src, out, link="hardlink")
    assert counts == {"test/database": 3, "test/queries": 2}
    database = load_split(out, "test/database")
    assert all(p.endswith(".png") for p in database.paths) and database.zone_number == 54
    assert sorted(database.extra["note"].tolist()) == ["012_000", "012_030", "012_330"]
    queries = load_split(out, "test/queries")
    e, n, zn, zl = utm.from_latlon(35.6581, 139.7017)
    assert (zn, zl) == (54, "S")
    row = int(np.argmin(np.abs(queries.lat - 35.6581)))
    assert abs(queries.east[row] - e) < 0.01 and abs(queries.north[row] - n) < 0.01
    report = check_dataset(out, verify="all", expected={"test/queries": 2})
    assert report.ok, report.problems


def test_prepare_tokyo247_bad_query_csv(tmp_path):
    src = tmp_path / "raw"
    (src / "datasets").mkdir(parents=True)
    shutil.copy(FIXTURES / "tokyo247.mat", src / "datasets")
    qdir = src / "247query_subset_v2"
    write_image(qdir / "00001.jpg")
    (qdir / "00001.csv").write_text("00001.jpg,north,east\n")
    with pytest.raises(DataError, match="00001.csv"):
        prepare_tokyo(src, tmp_path / "out")
