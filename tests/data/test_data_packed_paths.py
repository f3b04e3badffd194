"""Packed image paths (issue 16): one identity with the str list, read back whole or memory-mapped,
damaged files named, and an ``ImageList`` that keeps its paths packed until they are asked for."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vprkit.data.image_list import ImageList
from vprkit.data.packed_paths import PackedPaths
from vprkit.errors import DataError
from vprkit.fileio import fingerprint_strings

PATHS = ["a/@0544388.51@4180142.39@10@S@@@@@@@@@@@.jpg", "b/ümlaut 東京.png", "c.jpg", "", "d/e/f.jpeg"]


def _list(paths, packed: bool) -> ImageList:
    n = len(paths)
    coords = {k: np.arange(n, dtype=np.float64) for k in ("east", "north", "lat", "lon", "heading")}
    if packed:
        return ImageList.from_packed(
            Path("/r"), PackedPaths.from_strings(paths), zone_number=10, zone_letter="S", **coords
        )
    return ImageList(root=Path("/r"), paths=np.array(paths, dtype=str), zone_number=10, zone_letter="S", **coords)


@pytest.mark.parametrize("paths", [PATHS, [], ["only"]])
def test_packed_paths_have_the_fingerprint_of_the_str_list_and_decode_back(paths):
    packed = PackedPaths.from_strings(paths)
    assert len(packed) == len(paths)
    assert packed.fingerprint() == fingerprint_strings(paths)
    assert packed.decode().tolist() == paths and packed.decode().dtype.kind == "U"
    assert [packed.item(i) for i in range(len(paths))] == paths


def test_fingerprint_holds_across_the_hashing_blocks(monkeypatch):
    import vprkit.data.packed_paths as module

    paths = [f"img/{i:05d}.jpg" for i in range(3000)]
    monkeypatch.setattr(module, "_SCAN_BLOCK", 1000)  # line ends and hashing cut mid-path
    packed = PackedPaths.from_strings(paths)
    assert packed.fingerprint() == fingerprint_strings(paths)
    assert packed.item(1234) == paths[1234] and packed.item(-1) == paths[-1]


@pytest.mark.parametrize("mmap", [False, True])
def test_written_paths_are_a_text_file_read_back_whole_or_mapped(tmp_path, mmap):
    out = PackedPaths.from_strings(PATHS).write(tmp_path / "paths.txt")
    assert out.read_text(encoding="utf-8") == "".join(p + "\n" for p in PATHS)
    back = PackedPaths.read(out, mmap=mmap)
    assert isinstance(back.data, np.memmap) == mmap
    assert back.decode().tolist() == PATHS and back.fingerprint() == fingerprint_strings(PATHS)
    (tmp_path / "empty.txt").write_bytes(b"")
    assert len(PackedPaths.read(tmp_path / "empty.txt", mmap=mmap)) == 0


def test_a_newline_inside_a_path_is_refused():
    with pytest.raises(DataError, match="contains a newline"):
        PackedPaths.from_strings(["ok.jpg", "bad\nname.jpg"])


def test_a_cut_or_garbled_file_is_one_clear_error(tmp_path):
    cut = tmp_path / "cut.txt"
    cut.write_bytes(b"a.jpg\nb.j")
    with pytest.raises(DataError, match="cut short"):
        PackedPaths.read(cut)
    garbled = tmp_path / "garbled.txt"
    garbled.write_bytes(b"a.jpg\n\xff\xfe.jpg\n")
    packed = PackedPaths.read(garbled)
    assert packed.item(0) == "a.jpg"
    with pytest.raises(DataError, match="not valid UTF-8"):
        packed.item(1)
    with pytest.raises(DataError, match="not valid UTF-8"):
        packed.decode()
    with pytest.raises(DataError, match="cannot be read"):
        PackedPaths.read(tmp_path / "missing.txt")
    with pytest.raises(IndexError):
        packed.item(2)


def test_an_image_list_with_packed_paths_acts_like_one_without():
    packed, plain = _list(PATHS, packed=True), _list(PATHS, packed=False)
    assert len(packed) == len(plain) == len(PATHS)
    assert packed.fingerprint() == plain.fingerprint()
    assert packed.path_at(1) == plain.path_at(1) == PATHS[1] and packed.path_at(-1) == PATHS[-1]
    assert "paths" not in packed.__dict__  # nothing decoded yet
    np.testing.assert_array_equal(packed.paths, plain.paths)
    assert packed.paths is packed.paths  # decoded once
    np.testing.assert_array_equal(packed.subset(np.array([4, 0])).paths, plain.paths[[4, 0]])
    again = pickle.loads(pickle.dumps(_list(PATHS, packed=True)))
    assert again.fingerprint() == plain.fingerprint() and again.paths.tolist() == PATHS
    assert plain.packed_paths.fingerprint() == packed.packed_paths.fingerprint()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = packed.nope
