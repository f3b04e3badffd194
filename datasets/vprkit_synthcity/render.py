"""Shading: turn the walls each column sees into pixels (facades, ground, sky, light, haze).

Works on a batch of ``V`` square views at once; every step is an array operation over all pixels
of the batch. Colours are float32 in [0, 1] until the caller quantises them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vprkit.geometry.points import RowArrays
from vprkit_synthcity.layout import CityPlan, Ground
from vprkit_synthcity.raycast import cast
from vprkit_synthcity.textures import TILE, StyleTable

__all__ = ["Cameras", "Light", "render"]

LIT_WINDOW = np.array([1.0, 0.82, 0.45], np.float32)


@dataclass
class Cameras(RowArrays):
    """``V`` cameras; every field is a ``(V,)`` array.

    Attributes:
        x, y: position in the city frame (metres east / north of the south-west corner).
        heading: degrees clockwise from north.
        height: camera height above ground (metres).
        pitch: degrees, positive looks up (shifts the horizon).
        fov: horizontal field of view in degrees.
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    height: np.ndarray
    pitch: np.ndarray
    fov: np.ndarray


@dataclass
class Light(RowArrays):
    """Per-view lighting; scalars are ``(V,)``, colours ``(V, 3)``.

    Attributes:
        sun_az: azimuth of the sun, degrees clockwise from north (which walls are lit).
        ambient, diffuse: light on a wall facing away from / straight at the sun.
        colour: colour of the light (multiplies lit surfaces).
        sky_top, sky_horizon: sky gradient colours.
        haze: colour distant surfaces fade to; haze_m: the fading distance (metres).
        windows_lit: share of windows lit from inside (night, dusk).
        lamps: strength of street light pooling near the camera (night).
    """

    sun_az: np.ndarray
    ambient: np.ndarray
    diffuse: np.ndarray
    colour: np.ndarray
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    haze: np.ndarray
    haze_m: np.ndarray
    windows_lit: np.ndarray
    lamps: np.ndarray


def _hash01(*ints: ArrayLike) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) from integer coordinates (any shape)."""
    h = np.uint32(2166136261)
    for k, a in enumerate(ints):
        a = np.asarray(a).astype(np.int64).astype(np.uint32)
        h = (h ^ (a * np.uint32(0x9E3779B1 + 2 * k))) * np.uint32(16777619)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / np.float32(0x1000000)


# ground colour per Ground code (index = code); roads are asphalt
_GROUND_RGB = np.array(
    [
        [0.50, 0.50, 0.50],  # BUILT (only seen under a low object)
        [0.31, 0.31, 0.31],
        [0.31, 0.31, 0.31],
        [0.31, 0.31, 0.31],  # ROAD_NS, ROAD_EW, CROSSING
        [0.62, 0.61, 0.58],  # SIDEWALK
        [0.24, 0.46, 0.18],  # GRASS
        [0.70, 0.64, 0.52],  # PLAZA
        [0.31, 0.31, 0.31],
        [0.31, 0.31, 0.31],  # MARK_NS, MARK_EW
    ],
    np.float32,
)
_PAVED = np.zeros(len(_GROUND_RGB), bool)
_PAVED[[Ground.SIDEWALK, Ground.PLAZA]] = True
_DASH = np.array([0.9, 0.85, 0.55], np.float32)


def _ground(plan: CityPlan, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Colours ``(n, 3)`` of ground points ``(gx, gy)`` (metres, city frame): surface colour by
    ground code with a 0.5 m grain, paving joints, and dashed centre lines."""
    fgx, fgy = np.floor(gx), np.floor(gy)
    ix = np.clip(fgx.astype(np.int32), 0, plan.width - 1)
    iy = np.clip(fgy.astype(np.int32), 0, plan.height - 1)
    code = plan.ground[iy, ix]
    fx, fy = gx - fgx, gy - fgy
    gain = 0.9 + 0.2 * _hash01(np.floor(gx * 2), np.floor(gy * 2))
    gain = np.where(_PAVED[code] & ((fx < 0.06) | (fy < 0.06)), gain * 0.8, gain)
    colour = _GROUND_RGB[code] * gain[:, None]
    dash = ((code == Ground.MARK_NS) & (np.abs(fx - 0.5) < 0.1) & ((gy % 6.0) < 3.0)) | (
        (code == Ground.MARK_EW) & (np.abs(fy - 0.5) < 0.1) & ((gx % 6.0) < 3.0)
    )
    colour[dash] = _DASH
    return colour


def render(
    plan: CityPlan,
    styles: StyleTable,
    cams: Cameras,
    light: Light,
    size: int,
    *,
    max_dist: float = 250.0,
    max_hits: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``V`` square views.

    Per-wall quantities (style, position along the wall, light) are computed once per recorded
    wall (``V * size * max_hits`` of them); only what changes up a wall (floor, texel row, trim)
    is computed per pixel.

    Returns:
        rgb: ``(V, size, size, 3)`` float32 in [0, 1] (row 0 at the top).
        depth: ``(V, size, size)`` float32 metres along the camera axis (inf for sky).
    """
    V, S = len(cams), size
    f32 = np.float32
    f = (S / 2) / np.tan(np.radians(cams.fov) / 2)  # (V,) focal length in pixels
    col = np.arange(S, dtype=np.float64) + 0.5 - S / 2
    off = np.arctan(col[None, :] / f[:, None])  # (V, S) ray angle to the axis
    heading = (np.radians(cams.heading)[:, None] + off).ravel()
    # per ray (R = V * S, view-major): origin, direction, camera height
    ox = np.repeat(cams.x, S).astype(f32)
    oy = np.repeat(cams.y, S).astype(f32)
    dirx, diry = np.sin(heading).astype(f32), np.cos(heading).astype(f32)
    cos_off = np.cos(off).ravel().astype(f32)
    cam_h = np.repeat(cams.height, S).astype(f32)
    hits = cast(plan, ox, oy, heading, cos_off, cam_h, max_dist=max_dist, max_hits=max_hits)
    K = hits.depth.shape[1]

    # --- per recorded wall (R, K): style, texel column, light, far-fade; packed so that each
    # wall pixel fetches all it needs in one gather
    obj = np.maximum(hits.obj, 0)
    s = plan.style[obj].astype(np.int32)
    box = plan.box[obj]
    hx = ox[:, None] + np.minimum(hits.dist, max_dist) * dirx[:, None]
    hy = oy[:, None] + np.minimum(hits.dist, max_dist) * diry[:, None]
    u = np.where(hits.x_side, hy - box[..., 1], hx - box[..., 0])
    bay_pos = u / styles.bay_w[s]
    bay_idx = np.floor(bay_pos)
    tu = np.clip(((bay_pos - bay_idx) * TILE).astype(np.int32), 0, TILE - 1)
    nx = np.where(hits.x_side, -np.sign(dirx)[:, None], f32(0))
    ny = np.where(hits.x_side, f32(0), -np.sign(diry)[:, None])
    view_of_ray = np.repeat(np.arange(V), S)
    sun = np.radians(light.sun_az)[view_of_ray][:, None]
    lam = np.maximum(0.0, nx * np.sin(sun) + ny * np.cos(sun)).astype(f32)
    shade = (
        (light.ambient[view_of_ray][:, None] + light.diffuse[view_of_ray][:, None] * lam)[..., None]
        * light.colour[view_of_ray][:, None, :]
        * plan.tint[obj][..., None]
    ).astype(f32)  # (R, K, 3)
    far = np.clip((hits.depth - 25.0) / 90.0, 0.0, 0.8)[..., None]
    packed = (
        np.concatenate(
            [
                hits.depth[..., None],
                styles.ground_h[s][..., None],
                styles.floor_h[s][..., None],
                (plan.top[obj] - styles.trim_h[s])[..., None],
                (s * (2 * TILE * TILE) + tu)[..., None],  # flat atlas index of (style, tile 0, row 0, tu)
                (1 - far) * shade,
                far * styles.mean[s] * shade,
                styles.trim[s] * shade,
                obj[..., None],
                bay_idx[..., None],
            ],
            axis=-1,
        )
        .astype(f32)
        .reshape(V * S * K, -1)
    )  # exact: ids and indices < 2**24

    # --- per pixel: which wall (or ground, or sky) ---
    horizon = S / 2 + f * np.tan(np.radians(cams.pitch))  # (V,) row of the horizon
    row = np.arange(S, dtype=np.float64) + 0.5
    tau = ((horizon[:, None] - row[None, :]) / f[:, None]).astype(f32)  # (V, S) elevation tangents
    kstar = (hits.tan_top.reshape(V, 1, S, K) < tau[:, :, None, None]).sum(-1, dtype=np.int32).ravel()
    ray = np.broadcast_to(np.arange(V * S, dtype=np.int32).reshape(V, 1, S), (V, S, S)).ravel()
    hk = ray * K + np.minimum(kstar, K - 1)
    pix_tau = np.broadcast_to(tau[:, :, None], (V, S, S)).ravel()
    pix_h = np.repeat(cams.height.astype(f32), S * S)
    has_wall = (kstar < hits.count[ray]) & (pix_tau * hits.depth.ravel()[hk] >= -pix_h)
    is_ground = ~has_wall & (pix_tau < 0)
    n_pix = V * S * S
    rgb: np.ndarray = np.zeros((n_pix, 3), f32)  # reshaped per view below
    dist_px: np.ndarray = np.full(n_pix, np.inf, f32)

    # --- walls: floor and texel row from the height on the wall ---
    w = np.flatnonzero(has_wall)
    P = packed[hk[w]]
    wdepth = P[:, 0]
    z = pix_h[w] + wdepth * pix_tau[w]
    gnd_h, floor_h = P[:, 1], P[:, 2]
    upper = z >= gnd_h
    floor_pos = np.where(upper, (z - gnd_h) / floor_h, z / gnd_h)
    floor_i = np.floor(floor_pos)
    tv = np.clip(((1 - (floor_pos - floor_i)) * TILE).astype(np.int32), 0, TILE - 1)
    texel = P[:, 4].astype(np.int32) + upper * (TILE * TILE) + tv * TILE
    colour = styles.atlas.reshape(-1, 3)[texel] * P[:, 5:8] + P[:, 8:11]
    trim = z > P[:, 3]
    colour[trim] = P[trim, 11:14]
    wview = w // (S * S)
    lit_share = light.windows_lit[wview]
    if (lit_share > 0).any():  # dusk and night: some windows lit from inside
        glass = styles.window.reshape(-1)[texel] & ~trim & (lit_share > 0)
        g = np.flatnonzero(glass)
        on = _hash01(P[g, 14], floor_i[g] + upper[g], P[g, 15]) < lit_share[g]
        colour[g[on]] = LIT_WINDOW / np.maximum(_haze_keep(light, wview[g[on]], wdepth[g[on]]), 1e-3)[:, None]
    rgb[w] = colour
    dist_px[w] = wdepth

    # --- ground: where each pixel's ray meets the street ---
    g = np.flatnonzero(is_ground)
    gr = ray[g]
    gdepth = -pix_h[g] / pix_tau[g]
    galong = gdepth / cos_off[gr]
    gx = ox[gr] + galong * dirx[gr]
    gy = oy[gr] + galong * diry[gr]
    gv = gr // S
    gshade = light.ambient[gv] + 0.7 * light.diffuse[gv] + light.lamps[gv] * np.exp(-gdepth / 12.0)
    rgb[g] = _ground(plan, gx, gy) * (gshade[:, None] * light.colour[gv])
    dist_px[g] = gdepth

    # --- haze on everything solid, then the sky (a gradient per view and row) ---
    rgb = rgb.reshape(V, S * S, 3)
    dist_px = dist_px.reshape(V, S * S)
    keep = np.exp(-np.minimum(dist_px, 1e6) / light.haze_m[:, None])[..., None]  # 0 for the sky
    rgb *= keep
    rgb += light.haze[:, None, :] * (1 - keep)
    tmix = (np.clip(tau * 1.6, 0.0, 1.0) ** 0.7)[..., None]  # (V, S, 1)
    sky = light.sky_horizon[:, None, :] * (1 - tmix) + light.sky_top[:, None, :] * tmix  # (V, S, 3)
    rgb = rgb.reshape(V, S, S, 3)
    solid = np.isfinite(dist_px).reshape(V, S, S)
    rgb = np.where(solid[..., None], rgb, sky[:, :, None, :].astype(f32))
    np.clip(rgb, 0, 1, out=rgb)
    return rgb, dist_px.reshape(V, S, S)


def _haze_keep(light: Light, view: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Share of a surface colour that survives the haze (lit windows are pre-divided by it so
    they glow through the haze)."""
    keep = np.exp(-depth / light.haze_m[view])
    return np.maximum(keep, 0.35)
