"""``SynthCity``: build the city, render every split, write the standard layout.

Layout written under ``out_dir`` (splits are folders relative to ``out_dir/images``)::

    images/train/                dense training views (street-aligned headings)
    images/val/database/  val/queries/
    images/test/database/ test/queries/      queries carry their condition in the note field
    images/<split>_images_paths.txt          sorted paths relative to the split folder
    synthcity.json                           resolved config, counts, landmarks, conditions

Every file name is a standard '@' name (UTM zone, east/north, lat/lon, pano id = position index,
tile = heading index, heading, and for queries pitch and the condition). Everything derives from
the seed; two runs with the same config write byte-identical files, whatever the number of
worker processes (each view's pixels depend only on its own parameters).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vprkit.contracts import NullProgress, Progress
from vprkit.errors import DataError
from vprkit.fileio import atomic_write_json, atomic_write_text
from vprkit_synthcity.conditions import CONDITIONS, QueryShift, apply_post, day_light, query_light, query_shifts
from vprkit_synthcity.config import SynthCityConfig
from vprkit_synthcity.layout import CityPlan, build_plan
from vprkit_synthcity.poses import Poses, along_streets, random_on_streets
from vprkit_synthcity.raycast import cast
from vprkit_synthcity.render import Cameras, Light, render
from vprkit_synthcity.textures import StyleTable, make_styles

__all__ = ["SPLITS", "STEP", "SynthCity", "ViewBatch"]

#: Split names (folders relative to ``<root>/images``), in generation order.
SPLITS = ("train", "val/database", "val/queries", "test/database", "test/queries")
MIN_QUERY_OPEN_M = 6.0  # a query's central ray must run this far (metres) before meeting a wall
_STREAM = {"styles": 1, "plan": 2, **{s: 10 + i for i, s in enumerate(SPLITS)}}

#: the step :meth:`SynthCity.generate` reports its views under (:class:`vprkit.contracts.Progress`)
STEP = "generating synthcity"


@dataclass
class ViewBatch:
    """Rendered views ``rows`` of one split.

    Attributes:
        split: split name; rows: ``(V,)`` view indices within the split.
        names: ``(V,)`` standard file names; east, north: ``(V,)`` UTM metres; heading: ``(V,)``.
        images: ``(V, S, S, 3)`` uint8 RGB.
        condition: ``(V,)`` condition names (``"day"`` for database and training views).
    """

    split: str
    rows: np.ndarray
    names: np.ndarray
    east: np.ndarray
    north: np.ndarray
    heading: np.ndarray
    images: np.ndarray
    condition: np.ndarray


class SynthCity:
    """The synthcity generator (the ``synthcity`` dataset's factory).

    >>> city = SynthCity(SynthCityConfig(size="tiny", seed=1))   # doctest: +SKIP
    >>> city.generate(Path("data/synthcity-tiny"))               # doctest: +SKIP
    {'train': ..., 'val/database': ..., ...}
    """

    def __init__(self, config: SynthCityConfig | Mapping[str, Any] | None = None):
        if config is None:
            config = SynthCityConfig()
        elif not isinstance(config, SynthCityConfig):
            config = SynthCityConfig.model_validate(dict(config))
        self.config = config.resolved()

    def _rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, _STREAM[stream]])

    # --- the world ---------------------------------------------------------------------------
    @cached_property
    def styles(self) -> StyleTable:
        return make_styles(self._rng("styles"), self.config.n_styles)

    @cached_property
    def plan(self) -> CityPlan:
        return build_plan(self.config, self._rng("plan"), self.styles.ids)

    # --- the splits --------------------------------------------------------------------------
    @cached_property
    def _poses(self) -> dict[str, Poses]:
        c = self.config
        out = {
            "train": along_streets(
                self.plan, self._rng("train"), c.train_spacing_m, c.train_headings, street_aligned=True, jitter_deg=8.0
            ),
            "val/database": along_streets(
                self.plan, self._rng("val/database"), c.val_db_spacing_m, c.val_db_headings, street_aligned=False
            ),
            "test/database": along_streets(
                self.plan, self._rng("test/database"), c.db_spacing_m, c.db_headings, street_aligned=False
            ),
        }
        for split, n in (("val/queries", c.n_val_queries), ("test/queries", c.n_test_queries)):
            out[split] = self._query_poses(split, n)
        return out

    def _query_poses(self, split: str, n: int) -> Poses:
        """``n`` query poses anywhere on the streets, keeping only those whose central ray runs
        at least :data:`MIN_QUERY_OPEN_M` before meeting a wall: a photo of a blank wall from one
        metre away is no query a person would take, nor one any method could place."""
        candidates = random_on_streets(self.plan, self._rng(split), 4 * n + 16)
        hits = cast(
            self.plan,
            candidates.x,
            candidates.y,
            np.radians(candidates.heading),
            np.ones(len(candidates)),
            np.full(len(candidates), 1.8),
            max_dist=self.config.max_view_distance_m,
            max_hits=1,
        )
        keep = np.flatnonzero(hits.depth[:, 0] >= MIN_QUERY_OPEN_M)[:n]
        if len(keep) < n:
            raise DataError(
                f"synthcity: only {len(keep)} of {n} {split} query poses look along an open street; "
                "the city is too small for that many queries"
            )
        return Poses(
            x=candidates.x[keep],
            y=candidates.y[keep],
            heading=candidates.heading[keep],
            position=np.arange(n),
            tile=np.zeros(n, np.int64),
        )

    @cached_property
    def _shifts(self) -> dict[str, QueryShift]:
        out = {}
        for split in ("val/queries", "test/queries"):
            rng = np.random.default_rng([self.config.seed, _STREAM[split], 1])
            mix = self.config.query_mix if split == "test/queries" else "balanced"
            out[split] = query_shifts(len(self._poses[split]), rng, self.config.fov_deg, mix)
        return out

    @cached_property
    def _query_light(self) -> dict[str, Light]:
        return {s: query_light(sh, self.config.seed * 101 + _STREAM[s]) for s, sh in self._shifts.items()}

    def poses(self, split: str) -> Poses:
        """Camera poses of ``split`` (city frame; see :class:`~vprkit_synthcity.poses.Poses`)."""
        if split not in SPLITS:
            raise DataError(f"synthcity has no split {split!r}; splits: {', '.join(SPLITS)}")
        return self._poses[split]

    def counts(self) -> dict[str, int]:
        """Number of views per split."""
        return {s: len(self.poses(s)) for s in SPLITS}

    def utm(self, split: str, rows: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """UTM ``(east, north)`` metres of views ``rows`` of ``split``."""
        p = self.poses(split)
        return self.config.origin_east + p.x[rows], self.config.origin_north + p.y[rows]

    def _cameras_and_light(self, split: str, rows: np.ndarray) -> tuple[Cameras, Light]:
        p, c, n = self.poses(split), self.config, len(rows)
        if split.endswith("queries"):
            sh = self._shifts[split]
            cams = Cameras(
                x=p.x[rows],
                y=p.y[rows],
                heading=p.heading[rows],
                height=sh.height[rows],
                pitch=sh.pitch[rows],
                fov=sh.fov[rows],
            )
            return cams, self._query_light[split].take(rows)
        cams = Cameras(
            x=p.x[rows],
            y=p.y[rows],
            heading=p.heading[rows],
            height=np.full(n, c.camera_height_m),
            pitch=np.zeros(n),
            fov=np.full(n, c.fov_deg),
        )
        return cams, day_light(rows, c.seed * 101 + _STREAM[split])

    def render_rows(self, split: str, rows: np.ndarray) -> np.ndarray:
        """Render views ``rows`` of ``split``: ``(V, S, S, 3)`` uint8."""
        rows = np.asarray(rows, dtype=np.int64)
        cams, light = self._cameras_and_light(split, rows)
        rgb, _ = render(
            self.plan, self.styles, cams, light, self.config.image_size, max_dist=self.config.max_view_distance_m
        )
        if split.endswith("queries"):
            rgb = apply_post(rgb, self._shifts[split], rows, self.config.seed, _STREAM[split])
        return (rgb * 255.0 + 0.5).astype(np.uint8)

    def file_names(self, split: str, rows: np.ndarray) -> np.ndarray:
        """Standard '@' file names of views ``rows`` of ``split`` (``(V,)`` str)."""
        from vprkit.data.filenames import format_filenames
        from vprkit.geometry.utm import utm_to_latlon

        c, p = self.config, self.poses(split)
        rows = np.asarray(rows, dtype=np.int64)
        east, north = self.utm(split, rows)
        lat, lon = utm_to_latlon(east, north, f"{c.zone_number}{c.zone_letter}")
        where = (east, north, c.zone_number, c.zone_letter, lat, lon)
        ext = "." + c.image_format
        if split.endswith("queries"):
            sh = self._shifts[split]
            return format_filenames(
                *where,
                pano_id=np.char.zfill(rows.astype(str), 6),
                tile_num=0,
                heading=p.heading[rows],
                pitch=sh.pitch[rows],
                height=sh.height[rows],
                note=sh.names[rows],
                ext=ext,
            )
        return format_filenames(
            *where,
            pano_id=np.char.zfill(p.position[rows].astype(str), 7),
            tile_num=p.tile[rows],
            heading=p.heading[rows],
            pitch=0,
            height=c.camera_height_m,
            ext=ext,
        )

    def iter_views(
        self, split: str, chunk_views: Optional[int] = None, start: int = 0, stop: Optional[int] = None
    ) -> Iterator[ViewBatch]:
        """Render ``split`` batch by batch (only one batch of images in memory at a time).

        This is how the ``city`` size streams millions of views without writing them all.
        """
        n = len(self.poses(split))
        stop = n if stop is None else min(stop, n)
        step = chunk_views or self.config.chunk_views
        for lo in range(start, stop, step):
            rows = np.arange(lo, min(lo + step, stop))
            east, north = self.utm(split, rows)
            cond = self._shifts[split].names[rows] if split.endswith("queries") else np.full(len(rows), "day")
            yield ViewBatch(
                split=split,
                rows=rows,
                names=self.file_names(split, rows),
                east=east,
                north=north,
                heading=self.poses(split).heading[rows],
                images=self.render_rows(split, rows),
                condition=cond,
            )

    # --- writing -----------------------------------------------------------------------------
    def write_rows(self, folder: Path, split: str, rows: np.ndarray) -> int:
        """Render and write views ``rows`` of ``split`` into ``folder``; returns how many."""
        import io

        from PIL import Image

        images = self.render_rows(split, rows)
        names = self.file_names(split, rows)
        for name, img in zip(names.tolist(), images):  # one file per view (PIL encodes it)
            buf = io.BytesIO()  # encode in memory, then one write: far fewer system calls
            if self.config.image_format == "png":
                Image.fromarray(img).save(buf, format="PNG", compress_level=1)
            else:
                Image.fromarray(img).save(buf, format="JPEG", quality=92)
            (folder / name).write_bytes(buf.getvalue())
        return len(rows)

    def _workers(self) -> int:
        w = self.config.workers or 0
        return w if w > 0 else max(1, min(os.cpu_count() or 1, 8))

    def generate(
        self, out_dir: Path, progress: Optional[Progress] = None, *, overwrite: bool = False
    ) -> dict[str, int]:
        """Write the dataset under ``out_dir``; returns the number of images per split.

        Images are written into ``out_dir/images.partial`` and moved to ``out_dir/images`` when
        all are done, so an interrupted run never leaves a half dataset that looks complete.

        Args:
            out_dir: dataset root (created).
            progress: gets ``update(STEP, done, total)`` (views written so far and in all) after
                each batch of views.
            overwrite: replace an existing ``out_dir/images``; otherwise that is an error.
        """
        out_dir = Path(out_dir)
        final = out_dir / "images"
        if final.exists() and not overwrite:
            raise DataError(f"{final} already exists; choose another --out or pass overwrite=True to replace it")
        partial = out_dir / "images.partial"
        if partial.exists():
            shutil.rmtree(partial)
        counts = self.counts()
        total = sum(counts.values())
        jobs = []
        for split in SPLITS:
            (partial / split).mkdir(parents=True, exist_ok=True)
            for lo in range(0, counts[split], self.config.chunk_views):
                jobs.append((split, lo, min(lo + self.config.chunk_views, counts[split])))
        done = 0
        progress = progress or NullProgress()
        workers = min(self._workers(), max(1, len(jobs)))
        if workers == 1:
            for split, lo, hi in jobs:
                done += self.write_rows(partial / split, split, np.arange(lo, hi))
                progress.update(STEP, done, total)
        else:
            config = self.config.model_dump(mode="json")
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_write_job, config, str(partial / s), s, lo, hi) for s, lo, hi in jobs]
                for fut in futures:
                    done += fut.result()
                    progress.update(STEP, done, total)
        for split in SPLITS:
            names = sorted(self.file_names(split, np.arange(counts[split])).tolist())
            atomic_write_text(partial / f"{split}_images_paths.txt", "".join(n + "\n" for n in names))
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        atomic_write_json(out_dir / "synthcity.json", self.summary())
        return counts

    def summary(self) -> dict[str, Any]:
        """What ``synthcity.json`` holds: the resolved config, counts, landmarks and conditions."""
        p = self.plan
        landmarks = []
        for name, oid in p.landmarks:
            x0, y0, x1, y1 = p.box[oid].tolist()
            landmarks.append(
                {
                    "name": name,
                    "east": self.config.origin_east + (x0 + x1) / 2,
                    "north": self.config.origin_north + (y0 + y1) / 2,
                    "height_m": round(float(p.top[oid]), 2),
                }
            )
        q = {s: {c: int((self._shifts[s].names == c).sum()) for c in CONDITIONS} for s in self._shifts}
        balanced = self.config.query_mix == "balanced"
        return {
            "dataset": "synthcity",
            # the default mix is left out, so a balanced city's summary reads as before the option
            "config": self.config.model_dump(mode="json", exclude={"query_mix"} if balanced else None),
            "counts": self.counts(),
            "area_km2": round(p.width * p.height / 1e6, 4),
            "street_km": round(float(_street_length(p)) / 1000, 3),
            "landmarks": landmarks,
            "conditions": list(CONDITIONS),
            "queries_per_condition": q,
        }


def _street_length(plan: CityPlan) -> float:
    kept = plan.streets[plan.streets[:, 5] > 0]
    return float(np.where(kept[:, 0] > 0, kept[:, 4] - kept[:, 2], kept[:, 3] - kept[:, 1]).sum())


_WORKER_CITY: dict[str, SynthCity] = {}


def _write_job(config: dict, folder: str, split: str, lo: int, hi: int) -> int:
    """Worker process entry: build (once per process) the city of ``config`` and write a batch."""
    key = json.dumps(config, sort_keys=True)
    city = _WORKER_CITY.get(key)
    if city is None:
        _WORKER_CITY.clear()
        city = _WORKER_CITY[key] = SynthCity(SynthCityConfig.model_validate(config))
    return city.write_rows(Path(folder), split, np.arange(lo, hi))
