"""synthcity content: query shifts, training density for D&C, the city stream, plugin and pictures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from vprkit_synthcity.conditions import CONDITIONS
from vprkit_synthcity.config import SynthCityConfig
from vprkit_synthcity.generate import SynthCity
from vprkit_synthcity.layout import Kind

from vprkit.data.dataset_protocol import make_dataset
from vprkit.data.filenames import parse_filenames
from vprkit.data.standard import load_split, split_folder
from vprkit.registry import create_dataset, get_dataset_spec


def _mean_brightness(root, split, note):
    images = load_split(root, split)
    rows = np.flatnonzero(images.extra["note"] == note)
    folder = split_folder(root, split)
    return np.mean([np.asarray(Image.open(folder / p), np.float32).mean() for p in images.paths[rows]])


def test_every_query_condition_is_present_and_recorded(synthcity_tiny):
    for split in ("test/queries", "val/queries"):
        notes = load_split(synthcity_tiny, split).extra["note"]
        assert set(notes.tolist()) == set(CONDITIONS)
    # databases carry no condition; night and dusk queries are darker than clean ones
    assert "note" not in load_split(synthcity_tiny, "test/database").extra
    clean = _mean_brightness(synthcity_tiny, "test/queries", "clean")
    assert _mean_brightness(synthcity_tiny, "test/queries", "night") < 0.35 * clean
    assert _mean_brightness(synthcity_tiny, "test/queries", "dusk") < 0.8 * clean


def test_query_shifts_change_the_image_but_not_the_pose():
    city = SynthCity(SynthCityConfig(size="tiny", seed=2))
    shift = city._shifts["test/queries"]
    fov = shift.fov[shift.names == "fov"]
    assert ((fov < 70) | (fov > 105)).all()
    assert (shift.fov[shift.names != "fov"] == city.config.fov_deg).all()
    # no query stares at a wall from close by: the central ray runs >= 6 m before a facade
    from vprkit_synthcity.raycast import cast

    q = city.poses("test/queries")
    hits = cast(city.plan, q.x, q.y, np.radians(q.heading), np.ones(len(q)), shift.height, max_dist=250)
    assert (hits.depth[:, 0] >= 6.0).all()
    # a query camera placed exactly on a database pose, daylight, no shift: the same picture
    db = city.poses("test/database")
    from vprkit_synthcity.conditions import day_light
    from vprkit_synthcity.render import Cameras, render

    cams = Cameras(
        x=db.x[:4],
        y=db.y[:4],
        heading=db.heading[:4],
        height=np.full(4, city.config.camera_height_m),
        pitch=np.zeros(4),
        fov=np.full(4, city.config.fov_deg),
    )
    same, _ = render(city.plan, city.styles, cams, day_light(np.arange(4), 0), city.config.image_size)
    stored = city.render_rows("test/database", np.arange(4)).astype(np.float32) / 255
    assert np.abs(same - stored).mean() < 0.03  # only the per-view daylight brightness differs


def test_training_density_meets_dnc_defaults_on_the_small_city():
    """D&C: M = 20 m cells need >= 10 training images; most street cells of `small` must qualify."""
    city = SynthCity(SynthCityConfig(size="small", seed=0))
    p = city.poses("train")
    east, north = city.utm("train")
    cells = np.stack([np.floor(east / 20), np.floor(north / 20)], 1).astype(np.int64)
    _, inverse, per_cell = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    assert (per_cell >= 10).mean() > 0.85  # cells that only graze a street corner hold fewer
    assert (per_cell[inverse.ravel()] >= 10).mean() > 0.95  # D&C keeps nearly every training image
    # and the streets are covered: most 20 m cells that contain street hold >= 10 images
    ys, xs = np.nonzero(city.plan.street_mask())
    street_cells = np.unique(
        np.stack(
            [np.floor((xs + city.config.origin_east) / 20), np.floor((ys + city.config.origin_north) / 20)], 1
        ).astype(np.int64),
        axis=0,
    )
    counted = {tuple(c) for c, n in zip(np.unique(cells, axis=0), per_cell) if n >= 10}
    covered = np.mean([tuple(c) in counted for c in street_cells.tolist()])
    assert covered > 0.75
    # N = 2 groups: cells alternate in each axis, so all four (e mod 2, n mod 2) groups are populated
    groups = {(e % 2, n % 2) for e, n in np.unique(cells, axis=0).tolist()}
    assert len(groups) == 4
    assert 15_000 < len(p) < 22_000  # ~18k views as in the calibration synthcity was designed against


def test_city_streams_its_first_chunk():
    city = SynthCity(SynthCityConfig(size="city", seed=0))
    counts = city.counts()
    assert sum(counts.values()) > 1_000_000
    batch = next(city.iter_views("train", chunk_views=32))
    assert batch.images.shape == (32, 64, 64, 3) and batch.images.dtype == np.uint8
    parsed = parse_filenames(batch.names)
    np.testing.assert_allclose(parsed["east"], batch.east, atol=0.006)
    assert batch.images.std() > 10  # a real picture, not a blank
    assert len([k for k in city.plan.kind if k == Kind.LANDMARK]) >= 10


def test_plugin_spec_factory_and_make_protocol(tmp_path, fresh_plugins):
    spec = get_dataset_spec("synthcity")
    assert spec.config is SynthCityConfig
    assert set(spec.splits) == {"train", "val/database", "val/queries", "test/database", "test/queries"}
    city = create_dataset("synthcity", size="tiny", seed=5)
    assert isinstance(city, SynthCity) and city.config.seed == 5
    counts = make_dataset(
        "synthcity",
        tmp_path / "made",
        size="tiny",
        seed=0,
        overrides={
            "n_test_queries": 9,
            "n_val_queries": 9,
            "extent_m": 200,
            "workers": 1,
            "train_spacing_m": 20,
            "db_spacing_m": 40,
            "val_db_spacing_m": 60,
        },
    )
    assert counts["test/queries"] == 9
    assert len(load_split(tmp_path / "made", "test/queries")) == 9


def test_contact_sheet_and_city_map(synthcity_tiny, tmp_path):
    from vprkit_synthcity.preview import city_map, contact_sheet

    sheet = contact_sheet(synthcity_tiny, tmp_path / "sheet.png", per_row=4)
    with Image.open(sheet) as im:
        assert im.size[1] >= (1 + len(CONDITIONS)) * 64  # database row + one per condition
    with Image.open(city_map(synthcity_tiny, tmp_path / "map.png")) as im:
        assert im.size[0] > 300


def test_thumbnail_baseline_runs_on_tiny(synthcity_tiny):
    pytest.importorskip("faiss")
    from vprkit_synthcity.baseline import thumbnail_baseline

    result = thumbnail_baseline(synthcity_tiny, size=8)
    assert 0.0 <= result["lr1"] <= 1.0
    assert set(result["by_condition"]) == set(CONDITIONS)
    assert sum(n for _, n in result["by_condition"].values()) == result["n_queries"]


def test_lighting_query_mix_changes_only_the_test_query_conditions():
    balanced = SynthCity(SynthCityConfig(size="tiny", seed=1))
    lighting = SynthCity(SynthCityConfig(size="tiny", seed=1, query_mix="lighting"))
    names = lighting._shifts["test/queries"].names
    n = len(names)
    counts = {c: int((names == c).sum()) for c in CONDITIONS}
    assert counts["clean"] in (n // 10, n // 10 + 1)
    for condition in ("dusk", "night", "cast"):
        assert abs(counts[condition] - 0.3 * n) <= 1
    assert sum(counts.values()) == n
    # the same queries (poses, shift parameters), the same validation queries and database
    for split in ("test/queries", "val/queries", "test/database"):
        a, b = balanced.poses(split), lighting.poses(split)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.heading, b.heading)
    for field in ("height", "pitch", "strength", "cast"):
        assert np.array_equal(
            getattr(balanced._shifts["test/queries"], field), getattr(lighting._shifts["test/queries"], field)
        )
    assert np.array_equal(balanced._shifts["val/queries"].condition, lighting._shifts["val/queries"].condition)
    # a balanced city's summary is what it was before the option existed; a lighting one says so
    assert "query_mix" not in balanced.summary()["config"]
    assert lighting.summary()["config"]["query_mix"] == "lighting"
    assert lighting.summary()["queries_per_condition"]["test/queries"] == counts


def test_lighting_mix_is_an_embedded_dataset_name(tmp_path, monkeypatch):
    from vprkit.data import resolve

    made = []
    monkeypatch.setattr(
        "vprkit.data.dataset_protocol.make_dataset",
        lambda name, root, **kw: made.append((name, root.name, kw["overrides"])) or root.mkdir(parents=True),
    )
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path))
    root, shipped_checkpoints_apply = resolve.resolve_dataset("synthcity-lighting")
    assert shipped_checkpoints_apply and root.name == "synthcity-small-seed0-lighting"
    assert made == [("synthcity", "synthcity-small-seed0-lighting", {"query_mix": "lighting"})]
    with pytest.raises(Exception, match="'synthcity' or 'synthcity-lighting'"):
        resolve.resolve_dataset(str(tmp_path / "missing"))
