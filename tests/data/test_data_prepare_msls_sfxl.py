"""MSLS and SF-XL prepare steps on fabricated inputs shaped like the authors' files."""

from __future__ import annotations

import numpy as np
import pytest
from data_testdata import make_standard_dataset, write_image
from vprkit_msls.prepare import prepare as prepare_msls
from vprkit_sfxl.prepare import prepare as prepare_sfxl

from vprkit.data.positives import positives_within
from vprkit.data.standard import load_split
from vprkit.errors import DataError

CITIES = {"cph": (55.676, 12.568), "sf": (37.775, -122.419), "london": (51.507, -0.128)}


def _msls_src(tmp_path):
    src = tmp_path / "msls_raw"
    for city, (lat0, lon0) in CITIES.items():
        for folder, n in (("database", 3), ("query", 2)):
            d = src / "train_val" / city / folder
            raw = [",key,lon,lat,ca,captured_at,pano"]
            post = [",key,utm,night,control_panel,view_direction,unique_cluster"]
            seq = [",key,sequence_key,frame_number"]
            for i in range(n):
                key = f"{city}{folder[0]}{i:03d}"
                pano = "True" if (city == "sf" and folder == "database" and i == 2) else "False"
                raw.append(f"{i},{key},{lon0 + i * 1e-4},{lat0 + i * 1e-4},{90.0 * i},2017-06-0{i + 1} 10:00:00,{pano}")
                post.append(f'{i},{key},"(1.0, 2.0)",{i == 1},False,Forward,x')
                seq.append(f"{i},{key},SEQ{city},{i}")
                write_image(d / "images" / f"{key}.jpg", seed=i)
            (d / "raw.csv").write_text("\n".join(raw) + "\n")
            (d / "postprocessed.csv").write_text("\n".join(post) + "\n")
            (d / "seq_info.csv").write_text("\n".join(seq) + "\n")
    return src


def test_prepare_msls(tmp_path):
    out = tmp_path / "msls"
    src = _msls_src(tmp_path)
    # MSLS's protocol on val: subtask 'all' only (cph query 1 is not in it) ...
    (src / "train_val" / "cph" / "query" / "subtask_index.csv").write_text(
        ",key,all,s2w\n0,cphq000,True,False\n1,cphq001,False,False\n"
    )
    # ... and queries need a database image within 25 m (sf query 1 is moved 1 km away).
    raw = src / "train_val" / "sf" / "query" / "raw.csv"
    raw.write_text(raw.read_text().replace("37.7751", "37.7851"))
    counts = prepare_msls(src, out)
    assert counts == {
        "train/database": 3,
        "train/queries": 2,
        "val/database": 5,
        "val/queries": 2,
        "skipped/panoramas": 1,
        "skipped/val_not_in_subtask_all": 1,
        "skipped/val_queries_without_positive": 1,
    }
    db = load_split(out, "val/database", mixed_zones="keep")
    assert db.zone_number == 0 and sorted(set(db.extra["utm_zone"].tolist())) == ["10S", "33U"]
    notes = db.extra["note"].tolist()
    assert any(n.startswith("night_forward_cph_seqSEQcph_1") for n in notes)
    assert set(np.unique(db.heading).tolist()) == {0.0, 90.0, 180.0}  # MSLS compass angle ca
    q = load_split(out, "val/queries", mixed_zones="keep")
    pos = positives_within(q.utm, db.utm, 25.0, query_groups=q.extra["utm_zone"], database_groups=db.extra["utm_zone"])
    for i in range(len(q)):
        assert set(db.extra["utm_zone"][pos[i]].tolist()) <= {q.extra["utm_zone"][i]}
    with pytest.raises(DataError, match="several UTM zones"):
        load_split(out, "val/database")


def test_prepare_msls_missing_columns(tmp_path):
    src = _msls_src(tmp_path)
    (src / "train_val" / "sf" / "query" / "raw.csv").write_text(",key,lon\n0,a,1.0\n")
    with pytest.raises(DataError, match="missing column"):
        prepare_msls(src, tmp_path / "out")


def _sfxl_src(tmp_path):
    small = tmp_path / "sf_xl" / "small"
    make_standard_dataset(tmp_path / "tmpds", n_db=4, n_q=2)
    (small / "test").mkdir(parents=True)
    (tmp_path / "tmpds" / "images" / "train").rename(small / "train")
    (tmp_path / "tmpds" / "images" / "test" / "database").rename(small / "test" / "database")
    (tmp_path / "tmpds" / "images" / "test" / "queries").rename(small / "test" / "queries_v1")
    return tmp_path / "sf_xl"


@pytest.mark.parametrize("link", ["symlink", "copy"])
def test_prepare_sfxl(tmp_path, link):
    out = tmp_path / "out"
    counts = prepare_sfxl(_sfxl_src(tmp_path), out, link=link)
    assert counts == {"train": 4, "test/database": 4, "test/queries_v1": 2}
    assert (out / "images" / "test" / "database").is_symlink() == (link == "symlink")
    assert len(load_split(out, "test/queries_v1")) == 2


def test_prepare_command_marks_the_folder_as_its_dataset(tmp_path):
    from vprkit.data.dataset_protocol import dataset_spec_of, prepare_dataset
    from vprkit.data.standard import resolve_query_sets

    out = tmp_path / "out"
    assert dataset_spec_of(out) is None
    prepare_dataset("sfxl", _sfxl_src(tmp_path), out)
    spec = dataset_spec_of(out)
    assert spec is not None and spec.name == "sfxl" and spec.protocol.radius_m == 25.0
    assert resolve_query_sets(out, "test", None, spec.query_sets("test")) == ["queries_v1"]


def test_prepare_sfxl_rejects_malformed_names(tmp_path):
    src = _sfxl_src(tmp_path)
    write_image(src / "small" / "test" / "queries_v1" / "0000_bad.jpg")
    with pytest.raises(DataError, match="0000_bad.jpg"):
        prepare_sfxl(src, tmp_path / "out")


def test_check_msls_with_kept_zones(tmp_path):
    from vprkit.data.check import check_dataset

    out = tmp_path / "msls"
    prepare_msls(_msls_src(tmp_path), out)
    strict = check_dataset(out, verify="none")
    assert any("several UTM zones" in p.reason for _, p in strict.problems)
    kept = check_dataset(out, verify="all", mixed_zones="keep")
    assert kept.ok, kept.problems
    val_db = next(s for s in kept.splits if s.split == "val/database")
    assert val_db.zone == "10S,33U" and val_db.usable == 5 and val_db.cells >= 2
