"""Facade styles: a small palette of procedural textures shared by the whole city.

A style is a tile atlas (one tile for the ground floor, one repeated for every upper floor) plus
scalars: bay width and floor height (metres, how the tile repeats along and up a wall), the
ground-floor height and a trim band under the roof. The palette (``n_styles`` styles) is reused
city-wide, which is what makes synthcity hard: the same facades recur street after street, as
in real cities. Special styles (trees, the statue, landmark families) come after the palette.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["TILE", "StyleTable", "make_styles"]

TILE = 16  # texels per tile side

# Typical facade colours (linear RGB 0-1): cream, beige, grey, brick, brown, pale blue, white,
# sand, olive, pink, slate, terracotta.
_WALLS = np.array(
    [
        [0.86, 0.82, 0.70],
        [0.78, 0.70, 0.56],
        [0.62, 0.62, 0.62],
        [0.62, 0.30, 0.22],
        [0.48, 0.36, 0.28],
        [0.64, 0.74, 0.82],
        [0.90, 0.90, 0.88],
        [0.82, 0.72, 0.50],
        [0.56, 0.58, 0.42],
        [0.86, 0.66, 0.66],
        [0.40, 0.44, 0.50],
        [0.74, 0.44, 0.30],
    ]
)
_AWNINGS = np.array([[0.7, 0.1, 0.1], [0.1, 0.4, 0.2], [0.1, 0.2, 0.6], [0.8, 0.6, 0.1], [0.3, 0.3, 0.3]])

# Special families: (name, count). Their ids follow the palette in this order.
SPECIAL = (("tree", 1), ("statue", 1), ("tower", 3), ("obelisk", 3), ("hall", 3))


@dataclass
class StyleTable:
    """All styles, indexed by style id.

    Attributes:
        atlas: ``(S, 2, TILE, TILE, 3)`` float32 colours; tile 0 = ground floor, 1 = upper floors;
            texel row 0 is the *top* of the tile.
        window: ``(S, 2, TILE, TILE)`` bool, texels that are glass (lit at night).
        mean: ``(S, 3)`` float32 mean facade colour (what a far wall fades to).
        bay_w, floor_h, ground_h, trim_h: ``(S,)`` float32 metres.
        trim: ``(S, 3)`` float32 colour of the band under the roof.
        ids: family name → first style id (``"tree"``, ``"statue"``, ``"tower"``...), and
            ``"<family>_count"`` → number of styles in the family.
    """

    atlas: np.ndarray
    window: np.ndarray
    mean: np.ndarray
    bay_w: np.ndarray
    floor_h: np.ndarray
    ground_h: np.ndarray
    trim_h: np.ndarray
    trim: np.ndarray
    ids: dict[str, int]


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Texel centres ``(v, u)`` in [0, 1), v = 0 at the top of the tile."""
    c = (np.arange(TILE) + 0.5) / TILE
    return np.meshgrid(c, c, indexing="ij")


def _rect(v: np.ndarray, u: np.ndarray, v0: float, v1: float, u0: float, u1: float) -> np.ndarray:
    return (v >= v0) & (v < v1) & (u >= u0) & (u < u1)


def _palette_style(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    v, u = _grid()
    wall = np.clip(_WALLS[rng.integers(len(_WALLS))] * rng.uniform(0.9, 1.1, 3), 0, 1)
    glass = np.array([0.16, 0.2, 0.26]) * rng.uniform(0.8, 1.4)
    frame = np.clip(wall * rng.choice([0.7, 1.2]), 0, 1)
    ww = rng.uniform(0.35, 0.7)
    wh = rng.uniform(0.4, 0.65)
    top_margin = rng.uniform(0.15, 0.3)
    upper = np.broadcast_to(wall, (TILE, TILE, 3)).copy()
    u0, u1 = 0.5 - ww / 2, 0.5 + ww / 2
    f = 1.0 / TILE
    upper[_rect(v, u, top_margin - f, top_margin + wh + f, u0 - f, u1 + f)] = frame
    win_up = _rect(v, u, top_margin, top_margin + wh, u0, u1)
    upper[win_up] = glass
    if rng.random() < 0.5:  # string course under the windows
        upper[v > 0.92] = frame
    ground = np.broadcast_to(wall * 0.85, (TILE, TILE, 3)).copy()
    if rng.random() < 0.6:  # shop front: wide glass under a coloured awning
        awning = _AWNINGS[rng.integers(len(_AWNINGS))]
        ground[v < 0.22] = awning
        win_g = _rect(v, u, 0.3, 0.95, 0.08, 0.92)
    else:  # door and a window
        win_g = _rect(v, u, 0.3, 0.7, 0.55, 0.9)
        ground[_rect(v, u, 0.25, 1.0, 0.12, 0.42)] = wall * 0.35
    ground[win_g] = glass * 1.2
    params = dict(
        bay_w=float(rng.uniform(2.6, 4.4)),
        floor_h=3.0 + 0.25 * (k % 4),  # layout.py uses the same formula for building heights
        trim_h=float(rng.uniform(0.5, 1.2)),
        trim=np.clip(frame * 0.9, 0, 1),
    )
    params["ground_h"] = params["floor_h"] * 1.3
    return np.stack([ground, upper]), np.stack([win_g, win_up]), params


def _plain(
    colour: ArrayLike,
    noise_rng: np.random.Generator | None = None,
    amount: float = 0.0,
    stripes: tuple[ArrayLike, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A windowless tile: flat ``colour`` with optional noise and horizontal stripes."""
    v, _ = _grid()
    tile = np.broadcast_to(np.asarray(colour, float), (TILE, TILE, 3)).copy()
    if noise_rng is not None and amount:
        tile *= 1 + amount * noise_rng.standard_normal((TILE, TILE, 1))
    if stripes is not None:
        colour2, period = stripes
        tile[(np.floor(v * period) % 2) == 1] = colour2
    tile = np.clip(tile, 0, 1)
    return np.stack([tile, tile]), np.zeros((2, TILE, TILE), bool)


def _special_styles(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]:
    """(name, atlas, window, params) of the special styles in :data:`SPECIAL` order."""
    v, u = _grid()
    out = []
    # tree: mottled green foliage, darker at the bottom
    atlas, win = _plain([0.20, 0.42, 0.16], rng, 0.25)
    atlas[0] *= 0.7
    out.append(("tree", atlas, win, dict(bay_w=2.0, floor_h=2.5, ground_h=2.0, trim_h=0.0, trim=[0, 0, 0])))
    atlas, win = _plain([0.45, 0.34, 0.2], rng, 0.1)  # statue: bronze
    out.append(("statue", atlas, win, dict(bay_w=1.0, floor_h=1.0, ground_h=1.5, trim_h=0.0, trim=[0, 0, 0])))
    # towers: glass curtain walls with coloured crowns
    for glass, band, crown in (
        ([0.25, 0.45, 0.7], [0.9, 0.9, 0.9], [0.85, 0.1, 0.1]),
        ([0.12, 0.14, 0.18], [0.7, 0.6, 0.2], [0.9, 0.75, 0.2]),
        ([0.85, 0.85, 0.8], [0.3, 0.3, 0.35], [0.1, 0.5, 0.6]),
    ):
        tile = np.broadcast_to(np.asarray(glass), (TILE, TILE, 3)).copy()
        tile[v > 0.8] = band
        w = v <= 0.8
        out.append(
            (
                "tower",
                np.stack([tile, tile]),
                np.stack([w, w]),
                dict(bay_w=1.5, floor_h=4.0, ground_h=4.0, trim_h=10.0, trim=crown),
            )
        )
    for colour, crown in (
        ([0.95, 0.75, 0.15], [1.0, 0.95, 0.6]),  # obelisks: gold, marble, red
        ([0.92, 0.92, 0.9], [0.6, 0.6, 0.6]),
        ([0.8, 0.12, 0.12], [0.95, 0.85, 0.2]),
    ):
        atlas, win = _plain(colour, rng, 0.04)
        out.append(("obelisk", atlas, win, dict(bay_w=3.0, floor_h=3.0, ground_h=3.0, trim_h=3.0, trim=crown)))
    for wall, arch in (
        ([0.75, 0.18, 0.12], [0.95, 0.95, 0.9]),  # halls: arched windows
        ([0.2, 0.55, 0.55], [0.95, 0.9, 0.8]),
        ([0.55, 0.25, 0.6], [0.95, 0.95, 0.5]),
    ):
        tile = np.broadcast_to(np.asarray(wall), (TILE, TILE, 3)).copy()
        arch_mask = ((u - 0.5) ** 2 / 0.09 + (v - 0.45) ** 2 / 0.16 < 1) & (v > 0.15)
        tile[arch_mask] = arch
        glass_mask = ((u - 0.5) ** 2 / 0.05 + (v - 0.5) ** 2 / 0.1 < 1) & (v > 0.25)
        tile[glass_mask] = [0.25, 0.22, 0.2]
        out.append(
            (
                "hall",
                np.stack([tile, tile]),
                np.stack([glass_mask, glass_mask]),
                dict(bay_w=4.0, floor_h=6.0, ground_h=6.0, trim_h=1.5, trim=arch),
            )
        )
    return out


def make_styles(rng: np.random.Generator, n_styles: int) -> StyleTable:
    """The palette of ``n_styles`` facade styles followed by the special styles."""
    atlases, windows, params = [], [], []
    for k in range(n_styles):
        a, w, p = _palette_style(rng, k)
        atlases.append(a)
        windows.append(w)
        params.append(p)
    ids: dict[str, int] = {}
    for name, a, w, p in _special_styles(rng):
        ids.setdefault(name, len(atlases))
        ids[f"{name}_count"] = ids.get(f"{name}_count", 0) + 1
        atlases.append(a)
        windows.append(w)
        params.append(p)
    atlas = np.stack(atlases).astype(np.float32)

    def col(key: str) -> np.ndarray:
        return np.array([p[key] for p in params], dtype=np.float32)

    return StyleTable(
        atlas=atlas,
        window=np.stack(windows),
        mean=atlas.reshape(len(atlas), -1, 3)[:, TILE * TILE :].mean(axis=1),
        bay_w=col("bay_w"),
        floor_h=col("floor_h"),
        ground_h=col("ground_h"),
        trim_h=col("trim_h"),
        trim=np.array([p["trim"] for p in params], dtype=np.float32),
        ids=ids,
    )
