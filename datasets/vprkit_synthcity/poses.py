"""Where the cameras stand: positions along the streets and headings, for every split.

Database-like splits (train, val and test databases) are sampled along the centre region of every
street segment at a fixed spacing, with a random lateral offset inside the roadway, like a car
driving along the streets. Training views look along and across the street (street-aligned
headings, as a camera rig on a car); database views use evenly spaced headings with a random
rotation per position, so every query direction has a database view within half a step.
Queries stand anywhere on the street (pedestrian height, random heading and pitch).

Positions are rounded to 1 cm and headings to 0.01 degree, the precision of the file names, so
the names parse back to exactly the poses that were rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vprkit.geometry.points import RowArrays
from vprkit_synthcity.layout import CityPlan

__all__ = ["Poses", "along_streets", "random_on_streets"]


@dataclass
class Poses(RowArrays):
    """``n`` camera poses (city frame). All fields ``(n,)``.

    Attributes:
        x, y: metres east / north of the city's south-west corner.
        heading: degrees clockwise from north in [0, 360).
        position: index of the position (views of one position share it: the pano id).
        tile: index of the view among its position's headings.
    """

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    position: np.ndarray
    tile: np.ndarray


def _segments(plan: CityPlan) -> tuple[np.ndarray, np.ndarray]:
    """Kept street segments as ``(m, 4)`` rects and ``(m,)`` bool 'runs north-south'."""
    kept = plan.streets[plan.streets[:, 5] > 0]
    return kept[:, 1:5], kept[:, 0] > 0


def _on_street(plan: CityPlan, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ix = np.clip(np.floor(x).astype(np.int64), 0, plan.width - 1)
    iy = np.clip(np.floor(y).astype(np.int64), 0, plan.height - 1)
    return plan.street_mask()[iy, ix]


def along_streets(
    plan: CityPlan,
    rng: np.random.Generator,
    spacing: float,
    headings: int,
    street_aligned: bool,
    jitter_deg: float = 0.0,
) -> Poses:
    """Positions every ``spacing`` metres along every street, ``headings`` views each.

    Args:
        street_aligned: headings start along the street (0/90/180/270 for 4 views); otherwise a
            random rotation per position.
        jitter_deg: uniform heading jitter (+-) added per view.
    """
    rects, vertical = _segments(plan)
    length = np.where(vertical, rects[:, 3] - rects[:, 1], rects[:, 2] - rects[:, 0])
    width = np.where(vertical, rects[:, 2] - rects[:, 0], rects[:, 3] - rects[:, 1])
    start = rng.uniform(0, spacing, len(rects))
    counts = np.maximum(0, np.floor((length - start) / spacing).astype(np.int64) + 1)
    seg = np.repeat(np.arange(len(rects)), counts)
    first = np.cumsum(counts) - counts
    along = start[seg] + spacing * (np.arange(counts.sum()) - first[seg])
    half = np.maximum(width[seg] / 2 - 1.0, 0.5)
    lateral = rng.uniform(-1, 1, len(seg)) * half
    centre_x = (rects[seg, 0] + rects[seg, 2]) / 2
    centre_y = (rects[seg, 1] + rects[seg, 3]) / 2
    v = vertical[seg]
    x = np.where(v, centre_x + lateral, rects[seg, 0] + along)
    y = np.where(v, rects[seg, 1] + along, centre_y + lateral)
    x, y = np.round(x, 2), np.round(y, 2)
    ok = _on_street(plan, x, y)
    x, y, v = x[ok], y[ok], v[ok]
    n = len(x)
    base = np.where(v, 0.0, 90.0) if street_aligned else rng.uniform(0, 360, n)
    k = np.arange(headings)
    heading = base[:, None] + k[None, :] * (360.0 / headings)
    heading = heading + rng.uniform(-jitter_deg, jitter_deg, heading.shape)
    heading = np.round(np.mod(heading, 360.0), 2) % 360.0
    return Poses(
        x=np.repeat(x, headings),
        y=np.repeat(y, headings),
        heading=heading.ravel(),
        position=np.repeat(np.arange(n), headings),
        tile=np.tile(k, n),
    )


def random_on_streets(plan: CityPlan, rng: np.random.Generator, n: int) -> Poses:
    """``n`` positions uniformly along the streets (anywhere across the street), random headings."""
    rects, vertical = _segments(plan)
    length = np.where(vertical, rects[:, 3] - rects[:, 1], rects[:, 2] - rects[:, 0])
    xs, ys = [], []
    need = n
    while need > 0:  # a few rounds at most: rejection of the rare points off the street
        m = 2 * need + 8
        seg = rng.choice(len(rects), size=m, p=length / length.sum())
        fx, fy = rng.random(m), rng.random(m)
        x = np.round(rects[seg, 0] + fx * (rects[seg, 2] - rects[seg, 0]), 2)
        y = np.round(rects[seg, 1] + fy * (rects[seg, 3] - rects[seg, 1]), 2)
        ok = _on_street(plan, x, y)
        xs.append(x[ok][:need])
        ys.append(y[ok][:need])
        need -= len(xs[-1])
    heading = np.round(rng.uniform(0, 360, n), 2) % 360.0
    return Poses(
        x=np.concatenate(xs), y=np.concatenate(ys), heading=heading, position=np.arange(n), tile=np.zeros(n, np.int64)
    )
