"""GSV-Cities-style .npy evaluation lists and Nordland-style sequences."""

from __future__ import annotations

import numpy as np
import pytest

from vprkit.data.npy_lists import load_npy_array, read_npy_lists
from vprkit.data.positives import positives_within
from vprkit.data.sequences import frame_tolerance_radius, read_sequence
from vprkit.errors import DataError


def _ragged(lists):
    arr = np.empty(len(lists), dtype=object)
    arr[:] = [np.asarray(x, dtype=np.int64) for x in lists]
    return arr


def test_read_pitts_style_lists(tmp_path):
    np.save(
        tmp_path / "pitts30k_test_dbImages.npy",
        np.array(["database/000/a.jpg", "database/000/b.jpg", "database/001/c.jpg"]),
    )
    np.save(tmp_path / "pitts30k_test_qImages.npy", np.array(["queries/q0.jpg", "queries/q1.jpg"]))
    np.save(tmp_path / "pitts30k_test_gt.npy", _ragged([[0, 2], []]), allow_pickle=True)
    ev = read_npy_lists(tmp_path, "pitts30k_test", tmp_path / "images")
    assert len(ev.database) == 3 and len(ev.queries) == 2
    assert ev.positives[0].tolist() == [0, 2] and ev.positives.counts.tolist() == [2, 0]
    assert np.isnan(ev.database.east).all() and ev.database.zone_number == 0


def test_read_msls_style_lists_with_qidx(tmp_path):
    np.save(tmp_path / "msls_val_dbImages.npy", np.array(["db0.jpg", "db1.jpg"]))
    np.save(tmp_path / "msls_val_qImages.npy", np.array(["q0.jpg", "q1.jpg", "q2.jpg"]))
    np.save(tmp_path / "msls_val_qIdx.npy", np.array([2, 0]))
    np.save(tmp_path / "msls_val_pIdx.npy", _ragged([[1], [0, 1]]), allow_pickle=True)
    ev = read_npy_lists(tmp_path, "msls_val", tmp_path)
    assert ev.queries.paths.tolist() == ["q2.jpg", "q0.jpg"]
    assert ev.positives[1].tolist() == [0, 1]


def test_bad_lists_are_named(tmp_path):
    np.save(tmp_path / "x_dbImages.npy", np.array(["a.jpg"]))
    np.save(tmp_path / "x_qImages.npy", np.array(["q.jpg"]))
    with pytest.raises(DataError, match="x_gt.npy"):
        read_npy_lists(tmp_path, "x", tmp_path)
    np.save(tmp_path / "x_gt.npy", _ragged([[5]]), allow_pickle=True)
    with pytest.raises(DataError, match="outside"):
        read_npy_lists(tmp_path, "x", tmp_path)


class _Payload:
    def __reduce__(self):
        return (print, ("should never run",))


def test_object_arrays_cannot_run_code(tmp_path):
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload()
    np.save(tmp_path / "evil.npy", arr, allow_pickle=True)
    with pytest.raises(DataError, match="refusing"):
        load_npy_array(tmp_path / "evil.npy")


def test_sequence_positions_from_frame_numbers(tmp_path):
    for folder in ("ref", "query"):
        (tmp_path / folder).mkdir()
        for i in (3, 1, 2, 10):
            (tmp_path / folder / f"{i:05d}.png").write_bytes(b"")
    ref = read_sequence(tmp_path / "ref", frame_spacing_m=2.0)
    assert ref.extra["frame"].tolist() == [1, 2, 3, 10]
    assert ref.east.tolist() == [2.0, 4.0, 6.0, 20.0] and ref.zone_number == 0
    qry = read_sequence(tmp_path / "query", frame_spacing_m=2.0)
    pos = positives_within(qry.utm, ref.utm, frame_tolerance_radius(1, 2.0))
    assert pos[0].tolist() == [0, 1] and pos[3].tolist() == [3]


def test_sequence_errors(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "frame.png").write_bytes(b"")
    with pytest.raises(DataError, match="no frame number"):
        read_sequence(tmp_path / "s")
    assert read_sequence(tmp_path / "s", index_from="order").extra["frame"].tolist() == [0]
    (tmp_path / "s" / "frame.png").unlink()
    (tmp_path / "s" / "7.png").write_bytes(b"")
    (tmp_path / "s" / "a7.png").write_bytes(b"")
    with pytest.raises(DataError, match="same frame number"):
        read_sequence(tmp_path / "s", index_from="name")
