"""Vectorised S2 cell-id math in NumPy ``uint64`` (checked bit for bit against ``s2cell``).

The ``s2cell`` package is the reference for ids, tokens and centres of single cells; it is pure
Python, so partitioning millions of points needs the same arithmetic over arrays. Everything here
takes and returns NumPy arrays; ids stay ``uint64`` because city ids exceed 2**63.

Layout of an id (S2 convention): 3 face bits, then 2 bits per level along the face's Hilbert curve
(30 levels), then a trailing 1 bit marking the level. A cell at level ``L`` covers the contiguous
leaf-id range ``[id - (lsb - 1), id + (lsb - 1)]`` with ``lsb = 1 << 2*(30 - L)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_LEVEL",
    "cell_centers_latlon",
    "cell_corners_latlon",
    "edge_neighbor_ids",
    "face_ij_to_leaf_ids",
    "id_levels",
    "id_range_max",
    "id_range_min",
    "ids_to_face_ij",
    "ids_to_tokens",
    "latlon_to_leaf_ids",
    "parent_ids",
    "tokens_to_ids",
]

MAX_LEVEL = 30
_MAX_SIZE = 1 << MAX_LEVEL
_LOOKUP_BITS = 4
_SWAP = 1
_INVERT = 2
# Hilbert curve: sub-cell position → (i bit, j bit) per orientation, and the orientation change.
_POS_TO_IJ = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
_POS_TO_ORIENTATION = (_SWAP, 0, 0, _INVERT | _SWAP)
_U64 = np.uint64


def _build_lookups() -> tuple[np.ndarray, np.ndarray]:
    """Tables mapping 4 levels of (i, j, orientation) ↔ (Hilbert position, orientation).

    ``pos_table[(i4 << 6) | (j4 << 2) | o] = (pos8 << 2) | o_out`` and the inverse
    ``ij_table[(pos8 << 2) | o] = (i4 << 6) | (j4 << 2) | o_out``. 1,024 entries each, built once.
    """
    pos_table = np.zeros(1024, dtype=np.int64)
    ij_table = np.zeros(1024, dtype=np.int64)
    for base in range(4):
        for pos in range(256):
            i = j = 0
            orientation = base
            for step in range(_LOOKUP_BITS):
                quadrant = (pos >> (2 * (_LOOKUP_BITS - 1 - step))) & 3
                ij_bits = _POS_TO_IJ[orientation][quadrant]
                i = (i << 1) | (ij_bits >> 1)
                j = (j << 1) | (ij_bits & 1)
                orientation ^= _POS_TO_ORIENTATION[quadrant]
            ij = (i << _LOOKUP_BITS) | j
            pos_table[(ij << 2) | base] = (pos << 2) | orientation
            ij_table[(pos << 2) | base] = (ij << 2) | orientation
    return pos_table, ij_table


_POS_TABLE, _IJ_TABLE = _build_lookups()


def _latlon_to_xyz(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lat_rad = np.radians(np.asarray(lat, dtype=np.float64))
    lon_rad = np.radians(np.asarray(lon, dtype=np.float64))
    cos_lat = np.cos(lat_rad)
    return cos_lat * np.cos(lon_rad), cos_lat * np.sin(lon_rad), np.sin(lat_rad)


def _xyz_to_face_uv(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cube face (0..5) of each point and its (u, v) on that face (S2's face orientation)."""
    xyz = np.stack([x, y, z])
    axis = np.argmax(np.abs(xyz), axis=0)  # first maximum on ties, like the reference
    major = np.take_along_axis(xyz, axis[None], axis=0)[0]
    face = axis + 3 * (major < 0)
    # Per face: (numerator index, sign) of u and v; the divisor is the major axis component.
    u_axis = np.array([1, 0, 0, 2, 2, 1])[face]
    v_axis = np.array([2, 2, 1, 1, 0, 0])[face]
    u_sign = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])[face]
    v_sign = np.array([1.0, 1.0, -1.0, 1.0, -1.0, -1.0])[face]
    u = np.take_along_axis(xyz, u_axis[None], axis=0)[0] / major
    v = np.take_along_axis(xyz, v_axis[None], axis=0)[0] / major
    return face, u * u_sign, v * v_sign


def _face_uv_to_xyz(face: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    one = np.ones_like(u)
    table = [
        (one, u, v),
        (-u, one, v),
        (-u, -v, one),
        (-one, -v, -u),
        (v, -one, -u),
        (v, u, -one),
    ]
    x = np.select([face == f for f in range(6)], [t[0] for t in table])
    y = np.select([face == f for f in range(6)], [t[1] for t in table])
    z = np.select([face == f for f in range(6)], [t[2] for t in table])
    return x, y, z


def _uv_to_st(u: np.ndarray) -> np.ndarray:
    # S2's quadratic projection; both branches evaluated, the valid one kept.
    with np.errstate(invalid="ignore"):
        return np.where(u >= 0.0, 0.5 * np.sqrt(1.0 + 3.0 * u), 1.0 - 0.5 * np.sqrt(1.0 - 3.0 * u))


def _st_to_uv(s: np.ndarray) -> np.ndarray:
    return np.where(s >= 0.5, (4.0 * s * s - 1.0) / 3.0, (1.0 - 4.0 * (1.0 - s) * (1.0 - s)) / 3.0)


def _st_to_ij(s: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(_MAX_SIZE * s), 0, _MAX_SIZE - 1).astype(np.int64)


def face_ij_to_leaf_ids(face: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Leaf (level-30) ids ``(n,)`` uint64 of cells given by face and integer (i, j) in [0, 2**30)."""
    face = np.asarray(face, dtype=np.int64)
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    pos = np.zeros(face.shape, dtype=np.int64)  # 60 bits of Hilbert position, fits int64
    bits = face & _SWAP
    for k in range(7, -1, -1):
        bits = bits + (((i >> (4 * k)) & 15) << 6) + (((j >> (4 * k)) & 15) << 2)
        bits = _POS_TABLE[bits]
        pos |= (bits >> 2) << (8 * k)
        bits &= _SWAP | _INVERT
    return (face.astype(_U64) << _U64(61)) | (pos.astype(_U64) << _U64(1)) | _U64(1)


def ids_to_face_ij(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face and (i, j) of the leaf cell at the low corner of each id's Hilbert range ``(n,)`` int64.

    For a non-leaf cell this is one leaf inside it (the one S2 decodes to); snap it to the
    cell's grid with ``i & ~(size - 1)`` to get the cell's corner.
    """
    ids = np.asarray(ids, dtype=_U64)
    face = (ids >> _U64(61)).astype(np.int64)
    i = np.zeros(ids.shape, dtype=np.int64)
    j = np.zeros(ids.shape, dtype=np.int64)
    bits = face & _SWAP
    for k in range(7, -1, -1):
        nbits = 2 if k == 7 else 4
        chunk = ((ids >> _U64(8 * k + 1)) & _U64((1 << (2 * nbits)) - 1)).astype(np.int64)
        bits = _IJ_TABLE[bits + (chunk << 2)]
        i += (bits >> 6) << (4 * k)
        j += ((bits >> 2) & 15) << (4 * k)
        bits &= _SWAP | _INVERT
    return face, i, j


def latlon_to_leaf_ids(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Level-30 S2 ids ``(n,)`` uint64 of points given in degrees (same result as ``s2cell``)."""
    face, u, v = _xyz_to_face_uv(*_latlon_to_xyz(lat, lon))
    return face_ij_to_leaf_ids(face, _st_to_ij(_uv_to_st(u)), _st_to_ij(_uv_to_st(v)))


def _lsb_for_level(level: np.ndarray | int) -> np.ndarray:
    return _U64(1) << (_U64(2) * (_U64(MAX_LEVEL) - np.asarray(level, dtype=_U64)))


def parent_ids(ids: np.ndarray, level: np.ndarray | int) -> np.ndarray:
    """Ancestor ids at ``level`` (scalar or per-id array, not finer than each id's own level)."""
    ids = np.asarray(ids, dtype=_U64)
    lsb = _lsb_for_level(level)
    return (ids & (~lsb + _U64(1))) | lsb  # keep the bits above lsb, then set the level marker


def id_levels(ids: np.ndarray) -> np.ndarray:
    """Level (0..30) of each id ``(n,)`` int64, from the position of its lowest set bit."""
    ids = np.asarray(ids, dtype=_U64)
    lowest = ids & (~ids + _U64(1))
    trailing_zeros = np.log2(lowest.astype(np.float64)).round().astype(np.int64)  # exact for powers of 2
    return MAX_LEVEL - trailing_zeros // 2


def id_range_min(ids: np.ndarray) -> np.ndarray:
    """Smallest leaf id inside each cell."""
    ids = np.asarray(ids, dtype=_U64)
    lowest = ids & (~ids + _U64(1))
    return ids - (lowest - _U64(1))


def id_range_max(ids: np.ndarray) -> np.ndarray:
    """Largest leaf id inside each cell."""
    ids = np.asarray(ids, dtype=_U64)
    lowest = ids & (~ids + _U64(1))
    return ids + (lowest - _U64(1))


def _cell_center_face_st(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Face, (s, t) of each cell's centre and the cell size in leaf units."""
    face, i, j = ids_to_face_ij(ids)
    size = np.int64(1) << (MAX_LEVEL - id_levels(ids))
    i0 = i & ~(size - 1)
    j0 = j & ~(size - 1)
    s = (2 * i0 + size) / (2.0 * _MAX_SIZE)
    t = (2 * j0 + size) / (2.0 * _MAX_SIZE)
    return face, s, t, size


def cell_centers_latlon(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees) of each cell's centre ``(n,)`` float64."""
    face, s, t, _ = _cell_center_face_st(ids)
    x, y, z = _face_uv_to_xyz(face, _st_to_uv(s), _st_to_uv(t))
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))


def cell_corners_latlon(ids: np.ndarray) -> np.ndarray:
    """Latitude/longitude (degrees) of each cell's four corners ``(n, 4, 2)``, counter-clockwise in (s, t)."""
    face, s, t, size = _cell_center_face_st(ids)
    half = size / (2.0 * _MAX_SIZE)
    out = np.empty((len(face), 4, 2))
    for k, (ds, dt) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1))):
        x, y, z = _face_uv_to_xyz(face, _st_to_uv(s + ds * half), _st_to_uv(t + dt * half))
        out[:, k, 0] = np.degrees(np.arctan2(z, np.hypot(x, y)))
        out[:, k, 1] = np.degrees(np.arctan2(y, x))
    return out


def edge_neighbor_ids(ids: np.ndarray) -> np.ndarray:
    """The four edge neighbours of each cell at its own level, ``(n, 4)`` uint64.

    Columns: i−1, i+1, j−1, j+1 on the cell's face. A neighbour across a cube edge is found by
    extending (s, t) past the face and re-projecting through the sphere, which lands in the
    adjacent face's cell.
    """
    ids = np.asarray(ids, dtype=_U64)
    levels = id_levels(ids)
    face, s, t, size = _cell_center_face_st(ids)
    step = size / float(_MAX_SIZE)
    out = np.empty((len(ids), 4), dtype=_U64)
    for col, (ds, dt) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
        x, y, z = _face_uv_to_xyz(face, _st_to_uv(s + ds * step), _st_to_uv(t + dt * step))
        nface, u, v = _xyz_to_face_uv(x, y, z)
        leaf = face_ij_to_leaf_ids(nface, _st_to_ij(_uv_to_st(u)), _st_to_ij(_uv_to_st(v)))
        out[:, col] = parent_ids(leaf, levels)
    return out


def ids_to_tokens(ids: np.ndarray) -> np.ndarray:
    """S2 tokens (hex without trailing zeros), as a NumPy string array."""
    ids = np.asarray(ids, dtype=_U64)
    return np.array([format(int(c), "016x").rstrip("0") or "X" for c in ids.tolist()], dtype=str)


def tokens_to_ids(tokens: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ids_to_tokens`."""
    return np.array([0 if t == "X" else int(t.ljust(16, "0"), 16) for t in np.asarray(tokens).tolist()], dtype=_U64)
