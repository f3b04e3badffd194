"""A minimal reader of MATLAB level-5 ``.mat`` files (the NetVLAD ``dbStruct`` files).

Pitts30k/250k and Tokyo 24/7 ship their image lists and UTM positions as MATLAB v5 files
(``pitts30k_test.mat``, ``tokyo247.mat``). Reading them needs only a small part of the format,
so vprkit reads it itself rather than depending on SciPy: numeric arrays, char arrays, cell
arrays and structs, compressed (zlib) or not, little- or big-endian. Sparse, object and
function-handle arrays raise :class:`~vprkit.errors.DataError`. MATLAB v7.3 files are HDF5 and
are not supported (the NetVLAD files are v5).

Mapping to Python: numeric → ``np.ndarray`` with MATLAB's shape (column-major order kept);
char row → ``str`` (char matrix → list of row strings); cell → object ``np.ndarray`` of the cell's
shape; 1×1 struct → ``dict``; struct array → object ``np.ndarray`` of dicts.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vprkit.errors import DataError

__all__ = ["load_mat"]

_MI = {
    1: "i1",
    2: "u1",
    3: "i2",
    4: "u2",
    5: "i4",
    6: "u4",
    7: "f4",
    9: "f8",
    12: "i8",
    13: "u8",
    16: "u1",
    17: "u2",
    18: "u4",
}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MX = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR, _MX_SPARSE = 1, 2, 3, 4, 5


class _Reader:
    def __init__(self, data: bytes, endian: str, source: str):
        self.data = data
        self.e = endian
        self.source = source

    def fail(self, msg: str) -> DataError:
        return DataError(f"{self.source}: {msg}")

    def tag(self, pos: int) -> tuple[int, int, int, int]:
        """(type, nbytes, data start, next element start) of the element at ``pos``."""
        if pos + 8 > len(self.data):
            raise self.fail("truncated data element")
        first = int(np.frombuffer(self.data, self.e + "u4", 1, pos)[0])
        if first >> 16:  # small data element: type and size in one word, data in the next
            return first & 0xFFFF, first >> 16, pos + 4, pos + 8
        nbytes = int(np.frombuffer(self.data, self.e + "u4", 1, pos + 4)[0])
        return first, nbytes, pos + 8, pos + 8 + nbytes

    def values(self, pos: int) -> tuple[np.ndarray, int]:
        mtype, nbytes, start, end = self.tag(pos)
        if mtype not in _MI:
            raise self.fail(f"unexpected data type {mtype} inside an array")
        dt = np.dtype(self.e + _MI[mtype])
        arr = np.frombuffer(self.data, dt, nbytes // dt.itemsize, start)
        return arr, (end + 7) // 8 * 8  # sub-elements are 8-byte aligned

    def matrix(self, start: int, end: int) -> tuple[str, Any]:
        """Parse the body of a miMATRIX element spanning ``[start, end)``; returns (name, value)."""
        if start >= end:
            return "", np.empty((0, 0))
        flags, pos = self.values(start)
        cls = int(flags[0]) & 0xFF
        is_complex = bool(int(flags[0]) & 0x800)
        dims_arr, pos = self.values(pos)
        dims = tuple(int(d) for d in dims_arr)
        name_arr, pos = self.values(pos)
        name = name_arr.tobytes().decode("ascii", "replace")
        count = int(np.prod(dims)) if dims else 0
        if cls in _MX:
            real, pos = self.values(pos)
            arr = real.astype(_MX[cls])
            if is_complex:
                imag, pos = self.values(pos)
                arr = arr + 1j * imag.astype(_MX[cls])
            return name, arr.reshape(dims, order="F")
        if cls == _MX_CHAR:
            codes, pos = self.values(pos)
            if codes.dtype.itemsize == 1:  # UTF-8 bytes
                text = codes.tobytes().decode("utf-8", "replace")
                chars = np.array(list(text)) if text else np.empty(0, dtype="U1")
            else:
                chars = np.array([chr(c) for c in codes.tolist()], dtype="U1")
            if chars.size != count:
                raise self.fail(f"char array {name!r} has {chars.size} characters for shape {dims}")
            if count == 0:
                return name, ""
            grid = chars.reshape(dims, order="F").reshape(dims[0], -1)
            rows = ["".join(r) for r in grid]
            return name, rows[0] if len(rows) == 1 else rows
        if cls == _MX_CELL:
            items = np.empty(count, dtype=object)
            for i in range(count):
                items[i], pos = self.element(pos, aligned=True)
            return name, items.reshape(dims, order="F")
        if cls == _MX_STRUCT:
            name_len_arr, pos = self.values(pos)
            name_len = int(name_len_arr[0])
            names_raw, pos = self.values(pos)
            raw = names_raw.tobytes()
            fields = [raw[i : i + name_len].split(b"\0", 1)[0].decode("ascii") for i in range(0, len(raw), name_len)]
            records = np.empty(count, dtype=object)
            for i in range(count):
                rec = {}
                for f in fields:
                    rec[f], pos = self.element(pos, aligned=True)
                records[i] = rec
            if count == 1:
                return name, records[0]
            return name, records.reshape(dims, order="F")
        kind = {_MX_OBJECT: "object", _MX_SPARSE: "sparse"}.get(cls, f"class {cls}")
        raise self.fail(f"variable {name!r} is a {kind} array, which vprkit's .mat reader does not support")

    def element(self, pos: int, aligned: bool) -> tuple[Any, int]:
        mtype, _nbytes, start, end = self.tag(pos)
        if mtype != _MI_MATRIX:
            raise self.fail(f"expected an array element, found data type {mtype}")
        _, value = self.matrix(start, end)
        return value, ((end + 7) // 8 * 8) if aligned else end


def load_mat(path: str | Path) -> dict[str, Any]:
    """All variables of a MATLAB v5 ``.mat`` file as ``{name: value}`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    data = path.read_bytes()
    if len(data) < 128:
        raise DataError(f"{path} is too short to be a .mat file")
    if data[:19] == b"MATLAB 7.3 MAT-file" or data[:8] == b"\x89HDF\r\n\x1a\n" or data[512:520] == b"\x89HDF\r\n\x1a\n":
        raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file; re-save it in MATLAB with -v7 to read it")
    marker = data[126:128]
    if marker not in (b"IM", b"MI"):
        raise DataError(f"{path} is not a MATLAB level-5 .mat file")
    endian = "<" if marker == b"IM" else ">"
    out: dict[str, Any] = {}
    pos = 128
    while pos + 8 <= len(data):
        top = _Reader(data, endian, str(path))
        mtype, _nbytes, start, end = top.tag(pos)
        if mtype == _MI_COMPRESSED:
            try:
                inner = zlib.decompress(data[start:end])
            except zlib.error as exc:
                raise DataError(f"{path}: damaged compressed variable: {exc}") from exc
            sub = _Reader(inner, endian, str(path))
            itype, _, istart, iend = sub.tag(0)
            if itype != _MI_MATRIX:
                raise DataError(f"{path}: compressed element holds data type {itype}, not an array")
            name, value = sub.matrix(istart, iend)
        elif mtype == _MI_MATRIX:
            name, value = top.matrix(start, end)
        else:
            raise DataError(f"{path}: unexpected top-level data type {mtype}")
        out[name] = value
        pos = end
    return out
