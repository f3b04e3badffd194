"""Capture conditions: daylight for the databases, domain shifts for the queries.

Every query gets one condition (balanced over :data:`CONDITIONS`, written in the ``note`` field of
its file name) on top of the shift every query has: it stands anywhere on the street at
pedestrian height with a random heading and pitch, never exactly at a database pose.

- ``clean``: daylight, pose shift only;
- ``dusk``, ``night``: lighting (warm low sun / dark walls, lit windows, street lamps);
- ``cast``: a colour cast and gamma change; ``fog``: dense distance fog;
- ``blur``: Gaussian blur; ``noise``: sensor noise; ``occlusion``: a vehicle in front;
- ``fov``: another field of view (a narrow or a wide lens).

Lighting acts inside the renderer (:class:`~vprkit_synthcity.render.Light`); the other shifts are
post-processing on the rendered images. Per-query randomness is drawn up front (one generator per
split) or from a generator seeded by (seed, split, query index), so images never depend on how the
views are batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from vprkit_synthcity.render import Light, _hash01

__all__ = ["CONDITIONS", "QueryShift", "apply_post", "day_light", "query_light", "query_shifts"]

CONDITIONS = ("clean", "dusk", "night", "cast", "fog", "blur", "noise", "occlusion", "fov")

_DAY_SKY_TOP = np.array([0.30, 0.50, 0.85], np.float32)
_DAY_HORIZON = np.array([0.75, 0.84, 0.95], np.float32)


def _full(n: int, value: ArrayLike) -> np.ndarray:
    value = np.asarray(value, np.float32)
    return np.broadcast_to(value, (n, *value.shape)).copy()


def day_light(rows: np.ndarray, key: int) -> Light:
    """Daylight for views ``rows`` (indices within their split), with a little variation in
    brightness and sun azimuth drawn from a hash of ``(key, row)``: independent of batching."""
    rows = np.asarray(rows)
    n = len(rows)
    gain = (0.92 + 0.16 * _hash01(rows, key, 1))[:, None].astype(np.float32)
    return Light(
        sun_az=(120 + 40 * _hash01(rows, key, 2)).astype(np.float32),
        ambient=_full(n, 0.55),
        diffuse=_full(n, 0.5),
        colour=np.broadcast_to(gain, (n, 3)).copy(),
        sky_top=_full(n, _DAY_SKY_TOP),
        sky_horizon=_full(n, _DAY_HORIZON),
        haze=_full(n, _DAY_HORIZON),
        haze_m=_full(n, 600.0),
        windows_lit=_full(n, 0.0),
        lamps=_full(n, 0.0),
    )


@dataclass
class QueryShift:
    """Per-query shift parameters (all ``(n,)`` unless noted).

    Attributes:
        condition: index into :data:`CONDITIONS`.
        height, pitch, fov: camera height (m), pitch (deg), field of view (deg).
        strength: condition-specific amount in [0, 1] (fog density, blur sigma, noise level...).
        cast: ``(n, 3)`` colour gains; gamma: ``(n,)`` gamma of the ``cast`` condition.
        box: ``(n, 4)`` occluder as fractions ``x0, y0, x1, y1`` of the image;
        box_rgb: ``(n, 3)`` occluder colour.
    """

    condition: np.ndarray
    height: np.ndarray
    pitch: np.ndarray
    fov: np.ndarray
    strength: np.ndarray
    cast: np.ndarray
    gamma: np.ndarray
    box: np.ndarray
    box_rgb: np.ndarray

    @property
    def names(self) -> np.ndarray:
        return np.asarray(CONDITIONS)[self.condition]


#: Query condition mixes: each a round robin of conditions, shuffled. ``balanced``: every condition
#: equally often; ``lighting``: 10 % clean and 30 % each of dusk, night and colour cast.
QUERY_MIXES: dict[str, tuple[str, ...]] = {
    "balanced": CONDITIONS,
    "lighting": ("clean", "dusk", "dusk", "dusk", "night", "night", "night", "cast", "cast", "cast"),
}


def query_shifts(n: int, rng: np.random.Generator, base_fov: float, mix: str = "balanced") -> QueryShift:
    """Draw the shifts of ``n`` queries, conditions in the proportions of ``mix`` (a shuffled round
    robin of :data:`QUERY_MIXES` ``[mix]``). Every mix draws the same random numbers, so the queries'
    poses and the other shift parameters do not depend on it."""
    order = np.array([CONDITIONS.index(c) for c in QUERY_MIXES[mix]])
    condition = order[rng.permutation(np.arange(n) % len(order))]
    fov_cond = condition == CONDITIONS.index("fov")
    narrow = rng.random(n) < 0.5
    fov = np.where(fov_cond, np.where(narrow, rng.uniform(50, 65, n), rng.uniform(110, 125, n)), base_fov)
    w = rng.uniform(0.35, 0.65, n)
    h = rng.uniform(0.35, 0.6, n)
    x0 = rng.uniform(0, 1, n) * (1 - w)
    box = np.stack([x0, 1 - h, x0 + w, np.ones(n)], 1)
    return QueryShift(
        condition=condition,
        height=np.round(rng.uniform(1.5, 2.2, n), 2),
        pitch=np.round(rng.uniform(-5, 8, n), 1),
        fov=np.round(fov, 1),
        strength=rng.random(n),
        cast=rng.uniform(0.65, 1.35, (n, 3)),
        gamma=rng.uniform(0.7, 1.5, n),
        box=box,
        box_rgb=rng.uniform(0.05, 0.8, (n, 3)),
    )


#: The lighting fields each condition overrides on top of daylight (fog's visibility is drawn per query).
CONDITION_LIGHT: dict[str, dict[str, float | list[float]]] = {
    "dusk": dict(
        sun_az=265.0,
        ambient=0.28,
        diffuse=0.45,
        colour=[1.0, 0.68, 0.42],
        sky_top=[0.18, 0.16, 0.42],
        sky_horizon=[0.98, 0.52, 0.28],
        haze=[0.55, 0.38, 0.36],
        haze_m=300.0,
        windows_lit=0.15,
        lamps=0.15,
    ),
    "night": dict(
        ambient=0.09,
        diffuse=0.0,
        colour=[0.65, 0.7, 1.0],
        sky_top=[0.01, 0.01, 0.04],
        sky_horizon=[0.07, 0.07, 0.13],
        haze=[0.04, 0.04, 0.07],
        haze_m=150.0,
        windows_lit=0.35,
        lamps=0.9,
    ),
    "fog": dict(haze=[0.78, 0.79, 0.8], sky_top=[0.78, 0.79, 0.8], sky_horizon=[0.78, 0.79, 0.8]),
}


def query_light(shift: QueryShift, key: int) -> Light:
    """Lighting of the queries: daylight, except the dusk, night and fog conditions."""
    light = day_light(np.arange(len(shift.condition)), key)
    for condition, fields in CONDITION_LIGHT.items():
        mask = shift.condition == CONDITIONS.index(condition)
        for field, value in fields.items():
            getattr(light, field)[mask] = np.asarray(value, dtype=getattr(light, field).dtype)
    fog = shift.condition == CONDITIONS.index("fog")
    light.haze_m[fog] = 20.0 + 40.0 * shift.strength.astype(np.float32)[fog]  # 20-60 m visibility
    return light


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of one ``(S, S, 3)`` image (edge-replicated borders)."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    S = img.shape[0]
    pad = np.pad(img, ((r, r), (0, 0), (0, 0)), mode="edge")
    img = sum(k[i] * pad[i : i + S] for i in range(2 * r + 1))
    pad = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="edge")
    return sum(k[i] * pad[:, i : i + S] for i in range(2 * r + 1))


def apply_post(rgb: np.ndarray, shift: QueryShift, rows: np.ndarray, seed: int, split_id: int) -> np.ndarray:
    """Apply the image-space shifts to rendered queries.

    Args:
        rgb: ``(V, S, S, 3)`` float32 in [0, 1], views ``rows`` of the split (modified copy returned).
        shift: the split's shifts; rows: ``(V,)`` query indices of ``rgb``'s views.
        seed, split_id: seed the per-query noise generators (independent of batching).
    """
    out = rgb.copy()
    S = rgb.shape[1]
    cond = shift.condition[rows]
    strength = shift.strength[rows]
    for name in ("cast", "blur", "noise", "occlusion"):
        for v in np.flatnonzero(cond == CONDITIONS.index(name)).tolist():  # a loop over images only
            q = int(rows[v])
            img = out[v]
            if name == "cast":
                img = np.clip(img * shift.cast[q], 0, 1) ** shift.gamma[q]
            elif name == "blur":
                img = _blur(img, 0.8 + 1.2 * strength[v])
            elif name == "noise":
                noise_rng = np.random.default_rng([seed, split_id, q])
                img = img + (0.03 + 0.07 * strength[v]) * noise_rng.standard_normal(img.shape, np.float32)
            else:
                x0, y0, x1, y1 = np.round(shift.box[q] * S).astype(int)
                img = img.copy()
                img[y0:y1, x0:x1] = shift.box_rgb[q]
                band = slice(y0 + max(1, (y1 - y0) // 6), y0 + max(2, (y1 - y0) // 3))
                img[band, x0 + 1 : x1 - 1] = shift.box_rgb[q] * 0.3 + 0.1  # a window band
            out[v] = img
    return np.clip(out, 0, 1)
