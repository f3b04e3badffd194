"""NetVLAD ``dbStruct`` .mat files (Pitts30k/250k, Tokyo 24/7, TokyoTM): image lists and UTM.

A dbStruct is a 1×1 MATLAB struct with (among others) ``dbImageFns`` (cell of database paths),
``utmDb`` (2 × n_db UTM east/north in metres), ``qImageFns`` and ``utmQ``. The UTM zone is not
stored: it is the dataset's (Pittsburgh 17T, Tokyo 54S).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vprkit.data.matfile import load_mat
from vprkit.errors import DataError

__all__ = ["read_db_struct"]


def _field(struct: dict[str, Any], name: str, mat: Path) -> Any:
    if name not in struct:
        raise DataError(f"{mat}: dbStruct has no field {name!r} (fields: {', '.join(struct)})")
    return struct[name]


def read_db_struct(mat: str | Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """``(db_paths, db_utm (n_db, 2), query_paths, query_utm (n_q, 2))`` from a dbStruct file."""
    mat = Path(mat)
    content = load_mat(mat)
    if not isinstance(content.get("dbStruct"), dict):
        raise DataError(f"{mat} holds no 1×1 struct 'dbStruct' (variables: {', '.join(content) or 'none'})")
    s = content["dbStruct"]

    def names(key: str) -> list[str]:
        cells = _field(s, key, mat)
        if isinstance(cells, str):
            return [cells]
        return [str(c) for c in np.asarray(cells, dtype=object).ravel(order="F")]

    def utm(key: str, n: int) -> np.ndarray:
        arr = np.asarray(_field(s, key, mat), dtype=np.float64)
        if arr.shape != (2, n):
            raise DataError(f"{mat}: {key} has shape {arr.shape}, expected (2, {n})")
        return arr.T

    db, q = names("dbImageFns"), names("qImageFns")
    return db, utm("utmDb", len(db)), q, utm("utmQ", len(q))
