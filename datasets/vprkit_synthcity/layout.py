"""The procedural city plan: streets, blocks, lots, buildings, parks, squares and landmarks.

Everything lives on a 1 m raster in the *city frame*: ``x`` east and ``y`` north in metres from the
city's south-west corner (UTM = origin + frame; the grid is aligned with UTM north). Buildings
are axis-aligned boxes on whole metres, so the raster is exact and the ray caster's walls are the
raster's cell edges.

The plan: a grid of streets of varied width with jogs at some crossings and some interior
segments removed (superblocks, T-junctions); a ring of buildings around the network so every
view ends on a facade; blocks split into lots that carry buildings of varied footprint and height
whose facades come from a small palette reused city-wide; some blocks are parks with trees, some
squares with a statue; a few landmarks (tall towers, an obelisk, a red hall) with unique facades.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vprkit_synthcity.config import ResolvedSynthCityConfig

__all__ = ["CityPlan", "Ground", "Kind", "build_plan"]

LOT_MAX_M = 28  # lots are split until no side is longer than this
BORDER_M = 24  # depth of the ring of buildings around the street network
SIDEWALK_M = 2  # sidewalk strip along both edges of every street
STREET_WIDTHS = np.array([10, 12, 12, 14, 20])  # 20 m = avenue
JOGS = np.array([-4, -2, 0, 0, 0, 0, 0, 2, 4])


class Ground:
    """Ground codes of :attr:`CityPlan.ground` (what lies under a raster cell)."""

    BUILT = 0
    ROAD_NS = 1  # road of a north-south street (centre line along y)
    ROAD_EW = 2
    CROSSING = 3
    SIDEWALK = 4
    GRASS = 5
    PLAZA = 6
    MARK_NS = 7  # road cell that carries the dashed centre line
    MARK_EW = 8


class Kind:
    """Object kinds of :attr:`CityPlan.kind`."""

    BUILDING = 0
    TREE = 1
    STATUE = 2
    LANDMARK = 3


@dataclass
class CityPlan:
    """A city on a 1 m raster.

    Attributes:
        width, height: raster size in cells (= metres), x east and y north.
        bid: ``(height, width)`` int32 object id per cell, -1 on open ground.
        ground: ``(height, width)`` uint8 :class:`Ground` code per cell.
        box: ``(n, 4)`` int32 object footprints ``x0, y0, x1, y1`` (cells ``x0 <= x < x1``).
        top: ``(n,)`` float32 object heights in metres.
        style: ``(n,)`` int16 facade style (index into the style table of :mod:`.textures`).
        tint: ``(n,)`` float32 brightness factor of the object's facade (about 1).
        kind: ``(n,)`` uint8 :class:`Kind`.
        streets: ``(m, 6)`` float64 street segments ``vertical, x0, y0, x1, y1, kept`` (rects).
        landmarks: ``[(name, object id)]``.
        n_palette: styles ``[0, n_palette)`` are the shared palette; higher ones are special.
    """

    width: int
    height: int
    bid: np.ndarray
    ground: np.ndarray
    box: np.ndarray
    top: np.ndarray
    style: np.ndarray
    tint: np.ndarray
    kind: np.ndarray
    streets: np.ndarray
    n_palette: int
    landmarks: list[tuple[str, int]] = field(default_factory=list)

    @property
    def max_top(self) -> float:
        return float(self.top.max()) if len(self.top) else 0.0

    def street_mask(self) -> np.ndarray:
        """``(height, width)`` bool: cells where a camera may stand (roads, crossings, sidewalks)."""
        g = self.ground
        return (self.bid < 0) & (
            (g == Ground.ROAD_NS)
            | (g == Ground.ROAD_EW)
            | (g == Ground.CROSSING)
            | (g == Ground.SIDEWALK)
            | (g == Ground.MARK_NS)
            | (g == Ground.MARK_EW)
        )


def _street_positions(rng: np.random.Generator, extent: int, bmin: float, bmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Start coordinates and widths of the streets along one axis."""
    starts, widths = [], []
    x = BORDER_M
    while True:
        w = int(rng.choice(STREET_WIDTHS))
        if x + w > extent - BORDER_M:
            break
        starts.append(x)
        widths.append(w)
        x += w + round(rng.uniform(bmin, bmax))
    return np.array(starts, dtype=np.int64), np.array(widths, dtype=np.int64)


def _split_lots(rects: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``(n, 4)`` rects ``x0, y0, x1, y1`` until no side exceeds :data:`LOT_MAX_M`.

    Vectorised by generation: every rect that is too long is cut across its longer side at a
    random 35-65 % point (whole metres), until none is.
    """
    done = []
    todo = rects.astype(np.int64)
    while len(todo):
        w = todo[:, 2] - todo[:, 0]
        h = todo[:, 3] - todo[:, 1]
        big = np.maximum(w, h) > LOT_MAX_M
        done.append(todo[~big])
        todo = todo[big]
        if not len(todo):
            break
        w, h = w[big], h[big]
        along_x = w >= h
        side = np.where(along_x, w, h)
        cut = np.clip(np.round(side * rng.uniform(0.35, 0.65, len(todo))), 1, side - 1).astype(np.int64)
        a, b = todo.copy(), todo.copy()
        # along x: a = [x0, x0+cut), b = [x0+cut, x1); along y the same on y.
        a[along_x, 2] = todo[along_x, 0] + cut[along_x]
        b[along_x, 0] = a[along_x, 2]
        a[~along_x, 3] = todo[~along_x, 1] + cut[~along_x]
        b[~along_x, 1] = a[~along_x, 3]
        todo = np.concatenate([a, b])
    out = np.concatenate(done) if done else np.zeros((0, 4), np.int64)
    keep = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out[keep]


def _height_field(
    rng: np.random.Generator, extent: int, n_centres: int
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A smooth 'downtown' factor in [0.6, 1.9] as a function of (x, y) in metres."""
    centres = rng.uniform(0.15 * extent, 0.85 * extent, size=(n_centres, 2))
    radius = rng.uniform(0.12, 0.3, size=n_centres) * extent
    gain = rng.uniform(0.5, 1.0, size=n_centres)

    def factor(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d2 = (x[:, None] - centres[:, 0]) ** 2 + (y[:, None] - centres[:, 1]) ** 2
        bump = (gain * np.exp(-d2 / (2 * radius**2))).sum(axis=1)
        return 0.6 + 1.3 * np.clip(bump, 0, 1)

    return factor


def _paint(raster: np.ndarray, boxes: np.ndarray, values: np.ndarray) -> None:
    """``raster[y0:y1, x0:x1] = value`` for each box (later boxes win).

    A loop over boxes (thousands), each a vectorised slice assignment, never over pixels.
    """
    for (x0, y0, x1, y1), v in zip(boxes.tolist(), np.asarray(values).tolist()):
        raster[y0:y1, x0:x1] = v


def build_plan(cfg: ResolvedSynthCityConfig, rng: np.random.Generator, n_special_styles: dict[str, int]) -> CityPlan:
    """Lay out the city of a resolved config.

    Args:
        cfg: a resolved :class:`SynthCityConfig` (:meth:`~SynthCityConfig.resolved`).
        rng: the layout's random generator (the plan depends on nothing else).
        n_special_styles: style ids of the non-palette styles: ``tree``, ``statue`` and the
            landmark styles ``tower``, ``obelisk``, ``hall`` (first id of each family; landmark
            ``k`` of a family uses ``id + k % family size`` as given by :mod:`.textures`).
    """
    extent = round(cfg.extent_m)
    xs, wxs = _street_positions(rng, extent, cfg.block_min_m, cfg.block_max_m)
    ys, wys = _street_positions(rng, extent, cfg.block_min_m, cfg.block_max_m)
    nx, ny = len(xs), len(ys)
    if nx < 2 or ny < 2:
        from vprkit.errors import ConfigError

        raise ConfigError(f"synthcity: extent_m={cfg.extent_m} leaves fewer than 2 streets per axis")
    # jogs: vertical street i shifts by dx[i, j] between horizontal streets j and j+1 (and v.v.);
    # the perimeter loop stays straight.
    dx = rng.choice(JOGS, size=(nx, ny - 1))
    dy = rng.choice(JOGS, size=(ny, nx - 1))
    dx[[0, -1]] = 0
    dy[[0, -1]] = 0

    seg_rows = []
    for i in range(nx):  # vertical segments
        for j in range(ny - 1):
            cols = [c for c in (i - 1, i) if 0 <= c < nx - 1]
            y0 = min(ys[j] + dy[j, c] for c in cols)
            y1 = max(ys[j + 1] + dy[j + 1, c] for c in cols) + wys[j + 1]
            x0 = xs[i] + dx[i, j]
            seg_rows.append((1, x0, y0, x0 + wxs[i], y1, 0 < i < nx - 1))
    for j in range(ny):  # horizontal segments
        for i in range(nx - 1):
            rows = [r for r in (j - 1, j) if 0 <= r < ny - 1]
            x0 = min(xs[i] + dx[i, r] for r in rows)
            x1 = max(xs[i + 1] + dx[i + 1, r] for r in rows) + wxs[i + 1]
            y0 = ys[j] + dy[j, i]
            seg_rows.append((0, x0, y0, x1, y0 + wys[j], 0 < j < ny - 1))
    streets = np.array(seg_rows, dtype=np.float64)
    interior = streets[:, 5] > 0
    dropped = interior & (rng.random(len(streets)) < cfg.drop_street_fraction)
    streets[:, 5] = (~dropped).astype(np.float64)

    # blocks between streets, the ring around the network, and dropped segments are all built on
    block_rects: list[tuple[int, int, int, int]] = []
    for i in range(nx - 1):
        for j in range(ny - 1):
            block_rects.append(
                (
                    xs[i] + dx[i, j] + wxs[i],
                    ys[j] + dy[j, i] + wys[j],
                    xs[i + 1] + dx[i + 1, j],
                    ys[j + 1] + dy[j + 1, i],
                )
            )
    blocks = np.array(block_rects, dtype=np.int64).reshape(-1, 4)
    x_lo, x_hi = xs[0], xs[-1] + wxs[-1]
    y_lo, y_hi = ys[0], ys[-1] + wys[-1]
    ring = np.array(
        [(0, 0, extent, y_lo), (0, y_hi, extent, extent), (0, y_lo, x_lo, y_hi), (x_hi, y_lo, extent, y_hi)],
        dtype=np.int64,
    )
    infill = streets[dropped, 1:5].astype(np.int64)

    # block use: parks and squares among the interior blocks, the rest built up
    use = rng.random(len(blocks))
    is_park = use < cfg.park_fraction
    is_square = (use >= cfg.park_fraction) & (use < cfg.park_fraction + cfg.square_fraction)
    block_styles = rng.integers(0, cfg.n_styles, size=(len(blocks), 2))  # two dominant styles per block

    built = np.concatenate([blocks[~(is_park | is_square)], ring, infill])
    built_styles = np.concatenate(
        [
            block_styles[~(is_park | is_square)],
            rng.integers(0, cfg.n_styles, size=(len(ring) + len(infill), 2)),
        ]
    )
    lots = _split_lots(built, rng)
    # which built rect each lot came from: the rect containing its first cell
    owner = np.zeros(len(lots), dtype=np.int64)
    for k, (x0, y0, x1, y1) in enumerate(built.tolist()):
        inside = (lots[:, 0] >= x0) & (lots[:, 2] <= x1) & (lots[:, 1] >= y0) & (lots[:, 3] <= y1)
        owner[inside] = k
    keep = rng.random(len(lots)) >= 0.04  # a few vacant lots
    lots, owner = lots[keep], owner[keep]
    pick = rng.random(len(lots))
    lot_style = np.where(
        pick < 0.45,
        built_styles[owner, 0],
        np.where(pick < 0.75, built_styles[owner, 1], rng.integers(0, cfg.n_styles, len(lots))),
    )
    factor = _height_field(rng, extent, max(1, extent // 400))
    cx = (lots[:, 0] + lots[:, 2]) / 2
    cy = (lots[:, 1] + lots[:, 3]) / 2
    floors = np.clip(np.round(rng.gamma(4.0, 1.1, len(lots)) * factor(cx, cy)), 2, 13)
    floor_h = 3.0 + 0.25 * (lot_style % 4)  # keep in step with textures.floor_height
    top = floors * floor_h + 0.8
    tint = rng.uniform(0.9, 1.1, len(lots))
    kind = np.full(len(lots), Kind.BUILDING)

    objects = [(lots, top, lot_style, tint, kind)]

    # parks: trees on a jittered 8 m grid, about 60 % kept
    park_boxes = []
    for x0, y0, x1, y1 in blocks[is_park].tolist():
        grid_x, grid_y = np.meshgrid(np.arange(x0 + 3, x1 - 5, 8), np.arange(y0 + 3, y1 - 5, 8))
        gx, gy = grid_x.ravel(), grid_y.ravel()
        sel = rng.random(len(gx)) < 0.6
        jx = rng.integers(0, 3, len(gx))
        jy = rng.integers(0, 3, len(gx))
        s = rng.integers(2, 4, len(gx))
        park_boxes.append(np.stack([gx + jx, gy + jy, gx + jx + s, gy + jy + s], 1)[sel])
    if park_boxes:
        trees = np.concatenate(park_boxes).astype(np.int64)
        objects.append(
            (
                trees,
                rng.uniform(5, 10, len(trees)),
                np.full(len(trees), n_special_styles["tree"]),
                rng.uniform(0.85, 1.15, len(trees)),
                np.full(len(trees), Kind.TREE),
            )
        )

    # squares: a statue in the middle (the same statue everywhere: more aliasing)
    squares = blocks[is_square]
    sq_cx = (squares[:, 0] + squares[:, 2]) // 2
    sq_cy = (squares[:, 1] + squares[:, 3]) // 2
    statues = np.stack([sq_cx - 1, sq_cy - 1, sq_cx + 2, sq_cy + 2], 1).reshape(-1, 4)
    objects.append(
        (
            statues,
            np.full(len(statues), 5.0),
            np.full(len(statues), n_special_styles["statue"]),
            np.ones(len(statues)),
            np.full(len(statues), Kind.STATUE),
        )
    )

    box = np.concatenate([o[0] for o in objects]).astype(np.int32)
    top = np.concatenate([o[1] for o in objects]).astype(np.float32)
    style = np.concatenate([o[2] for o in objects]).astype(np.int16)
    tint = np.concatenate([o[3] for o in objects]).astype(np.float32)
    kind = np.concatenate([o[4] for o in objects]).astype(np.uint8)

    # landmarks: towers and halls replace street-front lots, obelisks replace a square's statue
    landmarks: list[tuple[str, int]] = []
    n_statue = len(statues)
    statue_ids = np.flatnonzero(kind == Kind.STATUE)
    lot_ids = np.flatnonzero(kind == Kind.BUILDING)
    interior_lot = (
        (box[lot_ids, 0] >= x_lo) & (box[lot_ids, 2] <= x_hi) & (box[lot_ids, 1] >= y_lo) & (box[lot_ids, 3] <= y_hi)
    )
    candidates = rng.permutation(lot_ids[interior_lot])
    families = ["tower", "obelisk", "hall"]
    counts = {f: 0 for f in families}
    used_statues = 0
    for k in range(cfg.n_landmarks):
        fam = families[k % 3]
        if fam == "obelisk" and used_statues >= n_statue:
            fam = "tower"
        sid = n_special_styles[fam] + counts[fam] % n_special_styles[f"{fam}_count"]
        counts[fam] += 1
        if fam == "obelisk":
            oid = int(statue_ids[used_statues])
            used_statues += 1
            top[oid] = rng.uniform(22, 28)
        else:
            if k >= len(candidates):
                break
            oid = int(candidates[k])
            top[oid] = rng.uniform(80, 120) if fam == "tower" else rng.uniform(16, 20)
        style[oid] = sid
        kind[oid] = Kind.LANDMARK
        tint[oid] = 1.0
        landmarks.append((f"{fam}-{counts[fam]}", oid))

    bid = np.full((extent, extent), -1, dtype=np.int32)
    ground = np.full((extent, extent), Ground.PLAZA, dtype=np.uint8)
    _paint(ground, blocks[is_park], np.full(int(is_park.sum()), Ground.GRASS))
    _paint(bid, box, np.arange(len(box)))
    ground[bid >= 0] = Ground.BUILT

    kept = streets[streets[:, 5] > 0]
    rects = kept[:, 1:5].astype(np.int64)
    vertical = kept[:, 0] > 0
    road_v = np.zeros_like(bid, dtype=bool)
    road_h = np.zeros_like(bid, dtype=bool)
    side = np.zeros_like(bid, dtype=bool)
    mark_v = np.zeros_like(bid, dtype=bool)
    mark_h = np.zeros_like(bid, dtype=bool)
    _paint(road_v, rects[vertical], np.ones(int(vertical.sum()), bool))
    _paint(road_h, rects[~vertical], np.ones(int((~vertical).sum()), bool))
    sw = SIDEWALK_M
    for (x0, y0, x1, y1), v in zip(rects.tolist(), vertical.tolist()):
        if v:
            side[y0:y1, x0 : x0 + sw] = True
            side[y0:y1, x1 - sw : x1] = True
            mark_v[y0:y1, (x0 + x1) // 2] = True
        else:
            side[y0 : y0 + sw, x0:x1] = True
            side[y1 - sw : y1, x0:x1] = True
            mark_h[(y0 + y1) // 2, x0:x1] = True
    road = road_v | road_h
    cross = road_v & road_h
    ground[road_v] = Ground.ROAD_NS
    ground[road_h] = Ground.ROAD_EW
    ground[road & side] = Ground.SIDEWALK
    ground[road_v & mark_v & ~side] = Ground.MARK_NS
    ground[road_h & mark_h & ~side] = Ground.MARK_EW
    ground[cross] = Ground.CROSSING
    bid[road] = -1  # streets are always open, whatever a lot or tree overlapped

    return CityPlan(
        width=extent,
        height=extent,
        bid=bid,
        ground=ground,
        box=box,
        top=top,
        style=style,
        tint=tint,
        kind=kind,
        streets=streets,
        n_palette=cfg.n_styles,
        landmarks=landmarks,
    )
