"""2.5-D ray casting over the city raster: for every image column, the walls it sees.

Each column of each view is one horizontal ray. A DDA walks the ray cell by cell over the 1 m
object raster, vectorised over all rays of a batch (the active set shrinks as rays finish). A wall
is *recorded* when the ray enters an object whose top, seen from the camera, rises above every
wall recorded so far (``tan_top = (top - cam_h) / depth``); the recorded walls of a column are
therefore sorted by depth with increasing ``tan_top``, and a pixel row with elevation tangent
``tau`` shows the first recorded wall whose ``tan_top >= tau`` (or the ground or the sky).

The DDA stops a ray after ``max_hits`` walls, past ``max_dist`` metres, outside the raster, or
when not even the tallest ordinary building could rise above what it has already seen. Landmarks
(few, much taller than the rest) are intersected analytically as boxes against every ray and
merged in, so a tower shows over the roofs without walking every ray hundreds of metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from vprkit_synthcity.layout import CityPlan, Kind

__all__ = ["Hits", "cast"]


@dataclass
class Hits:
    """Walls seen by ``R`` rays, up to ``K`` each, sorted by depth (padding: depth inf, b -1).

    Attributes:
        depth: ``(R, K)`` float32 distance along the camera axis (metres), inf for padding.
        dist: ``(R, K)`` float32 distance along the ray (metres).
        tan_top: ``(R, K)`` float32 tangent of the wall top's elevation, +inf for padding.
        obj: ``(R, K)`` int32 object id, -1 for padding.
        x_side: ``(R, K)`` bool, True when the wall is a west/east face (crossed an x line).
        count: ``(R,)`` int32 number of real walls per ray.
    """

    depth: np.ndarray
    dist: np.ndarray
    tan_top: np.ndarray
    obj: np.ndarray
    x_side: np.ndarray
    count: np.ndarray


class _Rays(NamedTuple):
    """``R`` rays (float32 ``(R,)`` each): origin, unit direction, cosine to the camera axis, camera height."""

    ox: np.ndarray
    oy: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    cos_off: np.ndarray
    cam_h: np.ndarray


def _dda(
    plan: CityPlan, rays: _Rays, max_dist: float, max_hits: int, h_stop: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk all rays; returns arrays ``(R, max_hits)`` of depth, dist, tan_top, obj, x_side."""
    ox, oy, dx, dy, cos_off, cam_h = rays
    R = len(ox)
    W, H = plan.width, plan.height
    bid = plan.bid.ravel()
    top_ext = np.append(plan.top, np.float32(-np.inf)).astype(np.float32)  # index -1 → -inf
    out_depth = np.full((R, max_hits), np.inf, np.float32)
    out_dist = np.full((R, max_hits), np.inf, np.float32)
    out_tan = np.full((R, max_hits), np.inf, np.float32)
    out_obj = np.full((R, max_hits), -1, np.int32)
    out_xs = np.zeros((R, max_hits), bool)

    ray = np.arange(R, dtype=np.int64)
    ix = np.floor(ox).astype(np.int32)
    iy = np.floor(oy).astype(np.int32)
    sx = np.where(dx >= 0, 1, -1).astype(np.int32)
    sy = np.where(dy >= 0, 1, -1).astype(np.int32)
    with np.errstate(divide="ignore", invalid="ignore"):
        tdx = np.where(dx != 0, 1.0 / np.abs(dx), np.inf).astype(np.float32)
        tdy = np.where(dy != 0, 1.0 / np.abs(dy), np.inf).astype(np.float32)
        tmx = np.where(dx > 0, ix + 1 - ox, ox - ix) * tdx
        tmy = np.where(dy > 0, iy + 1 - oy, oy - iy) * tdy
    tmx = np.where(np.isfinite(tmx), tmx, np.inf).astype(np.float32)
    tmy = np.where(np.isfinite(tmy), tmy, np.inf).astype(np.float32)
    cos_off = cos_off.astype(np.float32)
    cam_h = cam_h.astype(np.float32)
    cur = np.full(R, -np.inf, np.float32)
    nh = np.zeros(R, np.int32)

    while len(ray):
        xs = tmx < tmy
        t = np.where(xs, tmx, tmy)
        ix += np.where(xs, sx, 0)
        iy += np.where(xs, 0, sy)
        tmx = np.where(xs, tmx + tdx, tmx)
        tmy = np.where(xs, tmy, tmy + tdy)
        inside = (ix >= 0) & (ix < W) & (iy >= 0) & (iy < H)
        b = bid[np.where(inside, iy * W + ix, 0)]
        b = np.where(inside, b, -1)
        depth = np.maximum(t * cos_off, np.float32(1e-3))  # a camera on a cell edge starts at t = 0
        tan_top = (top_ext[b] - cam_h) / depth
        new = (tan_top > cur) & (nh < max_hits)
        if new.any():
            r, slot = ray[new], nh[new]
            out_depth[r, slot] = depth[new]
            out_dist[r, slot] = t[new]
            out_tan[r, slot] = tan_top[new]
            out_obj[r, slot] = b[new]
            out_xs[r, slot] = xs[new]
            cur = np.where(new, tan_top, cur)
            nh = nh + new
        done = (nh >= max_hits) | (t > max_dist) | ~inside | ((h_stop - cam_h) <= cur * depth)
        # a finished ray is marked full (it records nothing more); compacting the active set is
        # worth it only once a good share of the rays has finished
        nh = np.where(done, max_hits, nh)
        n_done = np.count_nonzero(done)
        if n_done > len(ray) // 8 or n_done == len(ray):
            keep = nh < max_hits
            ray, ix, iy, sx, sy = ray[keep], ix[keep], iy[keep], sx[keep], sy[keep]
            tdx, tdy, tmx, tmy = tdx[keep], tdy[keep], tmx[keep], tmy[keep]
            cos_off, cam_h, cur, nh = cos_off[keep], cam_h[keep], cur[keep], nh[keep]
    return out_depth, out_dist, out_tan, out_obj, out_xs


def _landmark_hits(
    plan: CityPlan, rays: _Rays, max_dist: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entry points of every ray into every landmark box (slab method), ``(R, L)`` arrays."""
    ox, oy, dx, dy, cos_off, cam_h = rays
    ids = np.flatnonzero(plan.kind == Kind.LANDMARK)
    R = len(ox)
    if not len(ids):
        z = np.zeros((R, 0), np.float32)
        return z, z, z, np.zeros((R, 0), np.int32), np.zeros((R, 0), bool)
    box = plan.box[ids].astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_x = np.where(dx != 0, 1.0 / dx, np.inf)[:, None].astype(np.float32)
        inv_y = np.where(dy != 0, 1.0 / dy, np.inf)[:, None].astype(np.float32)
        tx0 = (box[None, :, 0] - ox[:, None]) * inv_x
        tx1 = (box[None, :, 2] - ox[:, None]) * inv_x
        ty0 = (box[None, :, 1] - oy[:, None]) * inv_y
        ty1 = (box[None, :, 3] - oy[:, None]) * inv_y
    # rays parallel to an axis: inside the slab → (-inf, inf), outside → empty
    par_x = ~np.isfinite(inv_x)
    in_x = (ox[:, None] >= box[None, :, 0]) & (ox[:, None] < box[None, :, 2])
    tx_lo = np.where(par_x, np.where(in_x, -np.inf, np.inf), np.minimum(tx0, tx1))
    tx_hi = np.where(par_x, np.where(in_x, np.inf, -np.inf), np.maximum(tx0, tx1))
    par_y = ~np.isfinite(inv_y)
    in_y = (oy[:, None] >= box[None, :, 1]) & (oy[:, None] < box[None, :, 3])
    ty_lo = np.where(par_y, np.where(in_y, -np.inf, np.inf), np.minimum(ty0, ty1))
    ty_hi = np.where(par_y, np.where(in_y, np.inf, -np.inf), np.maximum(ty0, ty1))
    t_in = np.maximum(tx_lo, ty_lo)
    t_out = np.minimum(tx_hi, ty_hi)
    ok = (t_in <= t_out) & (t_in > 0) & (t_in <= max_dist)
    dist = np.where(ok, t_in, np.inf).astype(np.float32)
    depth = dist * cos_off[:, None]
    tan_top = np.where(ok, (plan.top[ids][None, :] - cam_h[:, None]) / depth, np.inf).astype(np.float32)
    obj = np.where(ok, ids[None, :], -1).astype(np.int32)
    return depth.astype(np.float32), dist, tan_top, obj, tx_lo >= ty_lo


def cast(
    plan: CityPlan,
    ox: np.ndarray,
    oy: np.ndarray,
    heading_rad: np.ndarray,
    cos_off: np.ndarray,
    cam_h: np.ndarray,
    *,
    max_dist: float,
    max_hits: int = 4,
) -> Hits:
    """Cast ``R`` rays from ``(ox, oy)`` (metres, city frame) along ``heading_rad`` (clockwise
    from north); ``cos_off`` is the cosine of each ray's angle to its camera axis (turns ray
    distance into depth) and ``cam_h`` the camera height (metres). All inputs are ``(R,)``.
    """
    ox = np.asarray(ox, np.float32)
    oy = np.asarray(oy, np.float32)
    dx = np.sin(heading_rad).astype(np.float32)
    dy = np.cos(heading_rad).astype(np.float32)
    cos_off = np.asarray(cos_off, np.float32)
    cam_h = np.asarray(cam_h, np.float32)
    ordinary = plan.kind != Kind.LANDMARK
    h_stop = float(plan.top[ordinary].max()) if ordinary.any() else 0.0
    rays = _Rays(ox, oy, dx, dy, cos_off, cam_h)
    parts = [_dda(plan, rays, max_dist, max_hits, h_stop), _landmark_hits(plan, rays, max_dist)]
    depth, dist, tan_top, obj, x_side = (np.concatenate([p[i] for p in parts], axis=1) for i in range(5))
    # merge: sort by distance, keep walls whose top rises above all nearer walls
    order = np.argsort(dist, axis=1, kind="stable")
    depth, dist, tan_top, obj, x_side = (np.take_along_axis(a, order, 1) for a in (depth, dist, tan_top, obj, x_side))
    real = obj >= 0
    masked = np.where(real, tan_top, -np.inf)
    prev = np.concatenate([np.full((len(ox), 1), -np.inf, np.float32), np.maximum.accumulate(masked, 1)[:, :-1]], 1)
    visible = real & (masked > prev)
    # compact visible walls to the front, keep max_hits
    order = np.argsort(~visible, axis=1, kind="stable")[:, :max_hits]
    depth, dist, tan_top, obj, x_side, visible = (
        np.take_along_axis(a, order, 1) for a in (depth, dist, tan_top, obj, x_side, visible)
    )
    return Hits(
        depth=np.where(visible, depth, np.inf).astype(np.float32),
        dist=np.where(visible, dist, np.inf).astype(np.float32),
        tan_top=np.where(visible, tan_top, np.inf).astype(np.float32),
        obj=np.where(visible, obj, -1).astype(np.int32),
        x_side=visible & x_side,
        count=visible.sum(1).astype(np.int32),
    )
