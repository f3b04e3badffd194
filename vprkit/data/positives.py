"""Positives: database images within a radius (25 m by default) of each query.

Exact and vectorised with a uniform grid of ``radius``-sized cells: the database is sorted by cell
once, and each query's candidates are the 3×3 cells around it, found with ``searchsorted``; only
those candidates' distances are computed. Cost grows with the number of candidate pairs, not with
``n_queries × n_database``, so it serves SF-XL's 2.8M-image database as well as small test sets.
Queries are processed in blocks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.errors import DataError

__all__ = ["DEFAULT_RADIUS_M", "Positives", "positives_within"]

DEFAULT_RADIUS_M = 25.0
_QUERY_BLOCK = 100_000


@dataclass(frozen=True)
class Positives:
    """Per-query positives in CSR form.

    Attributes:
        offsets: ``(n_queries + 1,)`` int64; query ``i``'s positives are rows ``offsets[i]:offsets[i+1]``.
        indices: ``(n_pairs,)`` int64 database rows, nearest first within each query.
        distances: ``(n_pairs,)`` float64 metres, matching ``indices``.
        radius: the radius in metres.
    """

    offsets: np.ndarray
    indices: np.ndarray
    distances: np.ndarray
    radius: float

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, query: int) -> np.ndarray:
        return self.indices[self.offsets[query] : self.offsets[query + 1]]

    @property
    def counts(self) -> np.ndarray:
        """``(n_queries,)`` number of positives per query."""
        return np.diff(self.offsets)

    def as_list(self) -> list[np.ndarray]:
        """One int64 array of database rows per query (convenient, not for millions of queries)."""
        return np.split(self.indices, self.offsets[1:-1])

    def query_ids(self) -> np.ndarray:
        """``(n_pairs,)`` the query row of every pair (COO form)."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.counts)


def _check(name: str, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise DataError(f"positives_within: {name} must have shape (n, 2) (UTM east, north in metres), got {xy.shape}")
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise DataError(f"positives_within: {name} has {int(bad.sum())} rows with NaN/inf coordinates (rows {rows}...)")
    return xy


def positives_within(
    queries: np.ndarray,
    database: np.ndarray,
    radius: float = DEFAULT_RADIUS_M,
    *,
    query_groups: np.ndarray | None = None,
    database_groups: np.ndarray | None = None,
) -> Positives:
    """Database rows within ``radius`` metres (inclusive) of each query.

    Args:
        queries: ``(n_queries, 2)`` UTM east/north in metres.
        database: ``(n_database, 2)`` UTM east/north in metres, same zone.
        radius: metres (> 0).
        query_groups: optional ``(n_queries,)`` labels (e.g. ``extra["utm_zone"]`` of a
            multi-city list); a query only matches database rows with the same label, because
            UTM metres of different zones are not comparable.
        database_groups: ``(n_database,)`` labels, given together with ``query_groups``.

    Returns:
        :class:`Positives` (CSR), nearest first per query; ties keep database order.
    """
    if not radius > 0:
        raise DataError(f"positives_within: radius must be > 0 metres, got {radius}")
    q = _check("queries", queries)
    db = _check("database", database)
    nq = len(q)
    if nq == 0 or len(db) == 0:
        return Positives(np.zeros(nq + 1, dtype=np.int64), np.empty(0, np.int64), np.empty(0), float(radius))
    origin = np.minimum(q.min(axis=0), db.min(axis=0)) - radius
    db_cell = np.floor((db - origin) / radius).astype(np.int64)
    q_cell = np.floor((q - origin) / radius).astype(np.int64)
    height = int(max(db_cell[:, 1].max(), q_cell[:, 1].max())) + 3  # room for the +1 neighbour
    if (query_groups is None) != (database_groups is None):
        raise DataError("positives_within: give both query_groups and database_groups, or neither")
    if query_groups is not None:
        qg, dg = np.asarray(query_groups), np.asarray(database_groups)
        if qg.shape != (nq,) or dg.shape != (len(db),):
            raise DataError("positives_within: groups must have one label per query / database row")
        _, gid = np.unique(np.concatenate([qg, dg]), return_inverse=True)
        width = int(max(db_cell[:, 0].max(), q_cell[:, 0].max())) + 3
        q_cell[:, 0] += gid[:nq].astype(np.int64) * width  # each group gets its own band of cells
        db_cell[:, 0] += gid[nq:].astype(np.int64) * width
    db_key = db_cell[:, 0] * height + db_cell[:, 1]
    order = np.argsort(db_key, kind="stable")
    sorted_keys = db_key[order]
    # Coordinates in cell order: each candidate range is then read sequentially (cache friendly).
    db_x, db_y = db[order, 0], db[order, 1]
    neighbours = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
    r2 = float(radius) ** 2

    q_parts, i_parts, d_parts = [], [], []
    for start in range(0, nq, _QUERY_BLOCK):
        qc = q_cell[start : start + _QUERY_BLOCK]
        keys = (qc[:, None, 0] + neighbours[:, 0]) * height + (qc[:, None, 1] + neighbours[:, 1])  # (b, 9)
        lo = np.searchsorted(sorted_keys, keys, side="left").ravel()
        hi = np.searchsorted(sorted_keys, keys, side="right").ravel()
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            continue
        # Expand every [lo, hi) range into positions without a Python loop.
        ends = np.cumsum(counts)
        pos = np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts) + np.repeat(lo, counts)
        block = q[start : start + _QUERY_BLOCK]
        qx = np.repeat(np.repeat(block[:, 0], 9), counts)
        qy = np.repeat(np.repeat(block[:, 1], 9), counts)
        d2 = (qx - db_x[pos]) ** 2 + (qy - db_y[pos]) ** 2
        keep = np.flatnonzero(d2 <= r2)
        qi = np.repeat(np.repeat(np.arange(len(block), dtype=np.int64) + start, 9), counts)
        q_parts.append(qi[keep])
        i_parts.append(order[pos[keep]])
        d_parts.append(np.sqrt(d2[keep]))
    if not q_parts:
        return Positives(np.zeros(nq + 1, dtype=np.int64), np.empty(0, np.int64), np.empty(0), float(radius))
    qi = np.concatenate(q_parts)
    idx = np.concatenate(i_parts)
    dist = np.concatenate(d_parts)
    srt = np.lexsort((idx, dist, qi))
    offsets = np.zeros(nq + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(qi, minlength=nq))
    return Positives(offsets, idx[srt], dist[srt], float(radius))
