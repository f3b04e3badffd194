"""Issue #14, map bundles: nothing lost, nothing stale, under faults and concurrency.

Each test reproduces one reported case with real files and real processes: a bundle target that
holds its source models, two `vprkit run` racing on a fresh cache, a `kill -9` mid-build, a
flipped bit in a cached bundle, a failed rebuild, a full disk (a 1 MiB tmpfs), changed pixels
under the same names, `--bundle` with conflicting options, edited manifest fields, NaN queries.
Issue #15: unknown index options refused alike, a bundle written before the store became the
``flat`` index still loads, a missing ``index/`` folder is named, a build returns what a load reads.
Issue #16: the database paths in their own text file, a bundle from before that still loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from commands import index_build_args, run_args
from PIL import Image

from vprkit import create_classifier, create_partitioner
from vprkit.data.standard import load_split
from vprkit.errors import ConfigError, DataError
from vprkit.pipeline.bundle import BundleError, MapBundle, build_bundle
from vprkit.pipeline.models import load_model


@pytest.fixture
def models(tiny_model_dirs):
    return tiny_model_dirs


@pytest.fixture
def city(synthcity_tiny, tmp_path):
    """A private copy of synthcity tiny (tests change its files)."""
    root = tmp_path / "city"
    shutil.copytree(synthcity_tiny, root)
    return root


def vprkit(*args: str, cache: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "vprkit", *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_two_stages(city: Path, models: Path, *extra: str) -> list[str]:
    return run_args(models / "dnc", models / "cosplace", city, "--topn", "3", "--json", *extra)


def bundles(cache: Path) -> list[Path]:
    folder = cache / "bundles"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_a_bundle_target_holding_its_models_is_refused_and_nothing_is_deleted(city, models, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(models / "dnc", out / "classifier")
    (out / "classifier" / "training").mkdir()
    (out / "classifier" / "training" / "last.pt").write_bytes(b"state")
    proc = vprkit(*index_build_args(out, out / "classifier", "none", city), cache=tmp_path / "cache", check=False)
    assert proc.returncode == 1 and "holds the model folder" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "classifier" / "training" / "last.pt").read_bytes() == b"state"
    model = tmp_path / "model"
    shutil.copytree(models / "dnc", model)
    proc = vprkit(*index_build_args(model, model, "none", city), cache=tmp_path / "cache", check=False)
    assert proc.returncode == 1 and "holds the model folder" in proc.stderr
    load_model(model, "classifier")  # still a model


def test_two_runs_racing_on_a_fresh_cache_build_one_bundle(city, models, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "vprkit", *run_two_stages(city, models)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    reports = [json.loads(o[0])[0] for o in outs]
    assert reports[0]["config"]["bundle"] == reports[1]["config"]["bundle"]
    assert reports[0]["lr"] == reports[1]["lr"]
    assert len(bundles(cache)) == 1 and not list((cache / "bundles").glob(".*build-*"))
    MapBundle.load(bundles(cache)[0])


# The builder, slowed down after its classifier is staged: the store makes the rest of a tiny build
# take milliseconds, so without the pause the kill could land after the rename (CI saw it).
_SLOW_BUILD = """
import sys, time
from vprkit.cli import main
import vprkit.pipeline.bundle as bundle
save = bundle._save_database
def slow(*args, **kwargs):
    time.sleep(30)
    return save(*args, **kwargs)
bundle._save_database = slow
sys.argv = ["vprkit", *sys.argv[1:]]
main()
"""


def test_kill_9_mid_build_leaves_no_half_bundle_and_the_next_run_builds_it(city, models, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_BUILD, *run_two_stages(city, models)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((cache / "bundles").glob(".*.build-*/retriever")):
            assert proc.poll() is None, "the build ended before it was killed"
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.02)  # the staging folder holds the models: the build is under way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert list((cache / "bundles").glob(".*.build-*")), "the kill landed mid-build"
    assert bundles(cache) == []  # nothing half-built at the target
    report = json.loads(vprkit(*run_two_stages(city, models), cache=cache).stdout)[0]
    assert report["queries"] == 40 and len(bundles(cache)) == 1
    assert not list((cache / "bundles").glob(".*.build-*"))  # the dead builder's staging was cleared


@pytest.mark.parametrize(
    "part", ["store/descriptors.npy", "classifier/weights.safetensors", "manifest.json", "database_paths.txt"]
)
def test_a_damaged_cached_bundle_is_rebuilt(city, models, tmp_path, part):
    cache = tmp_path / "cache"
    first = json.loads(vprkit(*run_two_stages(city, models), cache=cache).stdout)[0]
    target = Path(first["config"]["bundle"]) / part
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit
    target.write_bytes(bytes(data))
    again = json.loads(vprkit(*run_two_stages(city, models), cache=cache).stdout)[0]
    assert again["lr"] == first["lr"] and again["config"]["bundle"] == first["config"]["bundle"]
    MapBundle.load(again["config"]["bundle"])


def test_a_failed_rebuild_keeps_the_working_bundle(city, models, tmp_path):
    out = tmp_path / "bundle"
    database = load_split(city, "test/database")
    classifier, retriever = load_model(models / "dnc"), load_model(models / "cosplace")
    build_bundle(out, database, classifier=classifier, retriever=retriever)
    before = (out / "manifest.json").read_text()
    bad = city / "images" / "test" / "database" / str(database.paths[5])
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot be read|cannot read"):
        build_bundle(out, database, classifier=classifier, retriever=retriever)
    assert (out / "manifest.json").read_text() == before
    MapBundle.load(out)
    assert not list(tmp_path.glob(".bundle.build-*")) and not list(tmp_path.glob(".bundle.old-*"))


@contextlib.contextmanager
def tmpfs(mount: Path, options: str):
    """A real small (or read-only) file system at ``mount``; skips the test where none can be mounted."""
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True).returncode
        != 0
    ):
        pytest.skip(f"needs root to mount a tmpfs ({options})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_leaves_nothing(city, models, tmp_path):
    with tmpfs(tmp_path / "full", "size=1M") as mount:  # a 1 MiB disk: the store does not fit
        proc = vprkit(
            *index_build_args(mount / "bundle", models / "dnc", models / "cosplace", city),
            cache=tmp_path / "cache",
            check=False,
        )
        assert proc.returncode == 1 and "no space left on the device" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert [p.name for p in mount.iterdir() if not p.name.endswith(".lock")] == []


def test_a_read_only_cache_is_one_line(city, models, tmp_path):
    with tmpfs(tmp_path / "readonly", "ro,size=1M") as mount:
        proc = vprkit(*run_two_stages(city, models), cache=mount / "cache", check=False)
        assert proc.returncode == 1 and "Read-only file system" in proc.stderr and "VPRKIT_CACHE_DIR" in proc.stderr
        assert "Traceback" not in proc.stderr
        proc = vprkit(
            "train",
            "classifier",
            "dnc",
            "--dataset",
            str(city),
            "--out",
            str(mount / "run"),
            cache=tmp_path / "cache",
            check=False,
        )
        assert proc.returncode == 1 and "cannot write in --out" in proc.stderr and "Traceback" not in proc.stderr


def test_changed_pixels_under_the_same_names_rebuild_the_bundle(city, models, tmp_path):
    cache = tmp_path / "cache"
    first = json.loads(vprkit(*run_two_stages(city, models), cache=cache).stdout)[0]
    folder = city / "images" / "test" / "database"
    rng = np.random.default_rng(0)
    for path in sorted(folder.glob("*.png"))[:100]:
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later mtime even on coarse clocks
    again = json.loads(vprkit(*run_two_stages(city, models), cache=cache).stdout)[0]
    assert again["config"]["bundle"] != first["config"]["bundle"]
    # --verify-content keys by the bytes: a copy with new times still finds the same bundle
    paranoid = json.loads(vprkit(*run_two_stages(city, models, "--verify-content"), cache=cache).stdout)[0]
    for path in folder.glob("*.png"):
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    again = json.loads(vprkit(*run_two_stages(city, models, "--verify-content"), cache=cache).stdout)[0]
    assert again["config"]["bundle"] == paranoid["config"]["bundle"]


def test_a_listing_out_of_step_with_its_folder_is_refused(city, models, tmp_path):
    folder = city / "images" / "test" / "database"
    listing = folder.parent / "database_images_paths.txt"
    names = listing.read_text().splitlines()
    listing.write_text("\n".join(names[:-3]) + "\n")  # three images on disk are not listed
    proc = vprkit(*run_two_stages(city, models), cache=tmp_path / "cache", check=False)
    assert proc.returncode == 1 and "not listed" in proc.stderr and "Traceback" not in proc.stderr


def test_bundle_with_conflicting_options_is_refused(city, models, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "bundle"
    vprkit(*index_build_args(out, models / "dnc", models / "cosplace", city), cache=cache)
    other = tmp_path / "other_dnc"
    train = load_split(city, "train")
    torch.manual_seed(7)
    create_classifier("dnc", backbone="tinycnn").build(
        create_partitioner("dnc", min_images_per_class=1).fit(train.east, train.north)
    ).save(other)
    for option, expected in (
        (["--classifier", str(other)], "not the classifier the bundle holds"),
        (["--index", "hnsw"], "built with index 'flat'"),
        (["--split", "val"], "the 'test' split"),
    ):
        proc = vprkit("run", "--bundle", str(out), *option, cache=cache, check=False)
        assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
    # no options: the bundle's own dataset and split
    report = json.loads(vprkit("run", "--bundle", str(out), "--topn", "3", "--json", cache=cache).stdout)[0]
    assert report["config"]["split"] == "test" and report["queries"] == 40
    # switching a stage off is not a conflict
    vprkit("run", "--bundle", str(out), "--retriever", "none", "--json", cache=cache)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("utm_zone", "33T", "utm_zone"),
        ("retriever.dim", 7, "retriever.dim"),
        ("classifier.num_classes", 3, "classifier.num_classes"),
    ],
)
def test_edited_manifest_fields_are_refused(city, build_tiny_bundle, tmp_path, field, value, message):
    out = tmp_path / "bundle"
    build_tiny_bundle(out, city)
    manifest = json.loads((out / "manifest.json").read_text())
    node = manifest
    *parents, leaf = field.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        MapBundle.load(out)


def test_manifest_that_is_a_list_and_damaged_weights_are_one_line(city, build_tiny_bundle, models, tmp_path):
    out = tmp_path / "bundle"
    build_tiny_bundle(out, city)
    model = tmp_path / "model"
    shutil.copytree(models / "cosplace", model)
    (model / "weights.safetensors").write_bytes(b"\x00" * 16)
    proc = vprkit(*index_build_args(tmp_path / "b2", "none", model, city), cache=tmp_path / "cache", check=False)
    assert proc.returncode == 1 and "is damaged" in proc.stderr and "Traceback" not in proc.stderr
    (out / "manifest.json").write_text("[1, 2]")
    proc = vprkit(
        "localize",
        str(next((city / "images" / "test" / "queries").glob("*.png"))),
        "--bundle",
        str(out),
        cache=tmp_path / "cache",
        check=False,
    )
    assert proc.returncode == 1 and "not an object" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivfpq"])
def test_nan_queries_are_refused_by_every_index(index):
    from vprkit.registry import create_index

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    config = {"nlist": 4, "m": 4, "min_points_per_list": 1} if index == "ivfpq" else {}
    ann = create_index(index, config)
    ann.build(x)
    q = x[:2].copy()
    q[1, 3] = np.nan
    with pytest.raises(DataError, match="row 1 is not finite"):
        ann.search(q, 5)
    with pytest.raises(DataError, match="not finite"):
        ann.search_rows(q, np.arange(50), 5)


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_unknown_index_options_are_refused_alike_before_extraction(city, models, tmp_path, index):
    out = tmp_path / "bundle"
    with pytest.raises(ConfigError, match="no_such_option"):
        build_bundle(
            out,
            load_split(city, "test/database"),
            retriever=load_model(models / "cosplace"),
            index=index,
            index_config={"no_such_option": 1},
        )
    assert not out.exists()


def test_a_build_returns_what_a_load_reads(city, build_tiny_bundle, tmp_path):
    out = tmp_path / "bundle"
    built = build_tiny_bundle(out, city)
    loaded = MapBundle.load(out)
    assert built.root == loaded.root and built.manifest == loaded.manifest and built.index is built.store
    assert built.database.root == loaded.database.root and built.database.paths.dtype == loaded.database.paths.dtype
    for name in ("paths", "east", "north", "lat", "lon", "heading"):
        np.testing.assert_array_equal(getattr(built.database, name), getattr(loaded.database, name))
    for name in ("descriptors", "row_ids", "offsets"):
        np.testing.assert_array_equal(getattr(built.store, name), getattr(loaded.store, name))
    assert built.store.config == loaded.store.config and built.memory_bytes() == loaded.memory_bytes()


def test_database_paths_are_a_text_file_and_the_older_layout_still_loads(city, build_tiny_bundle, tmp_path):
    out = tmp_path / "bundle"
    built = build_tiny_bundle(out, city)
    names = built.database.paths.tolist()
    assert (out / "database_paths.txt").read_text(encoding="utf-8") == "".join(p + "\n" for p in names)
    with np.load(out / "database.npz") as z:
        assert "paths" not in z.files
        columns = {k: z[k] for k in z.files}
    mapped = MapBundle.load(out, mmap=True).database
    assert isinstance(mapped.packed_paths.data, np.memmap) and mapped.path_at(3) == names[3]
    # the layout before: the paths as a str array inside database.npz, no text file
    np.savez(out / "database.npz", paths=np.array(names), **columns)
    (out / "database_paths.txt").unlink()
    old = MapBundle.load(out, mmap=True).database
    assert old.paths.tolist() == names and old.fingerprint() == built.database.fingerprint()
    np.savez(out / "database.npz", **columns)
    with pytest.raises(BundleError, match=r"database_paths.txt' cannot be read .*rebuild it") as err:
        MapBundle.load(out)
    assert "\n" not in str(err.value)


def test_a_bundle_from_before_the_flat_rename_loads_and_a_missing_index_is_named(city, models, tmp_path):
    out = tmp_path / "bundle"
    database, retriever = load_split(city, "test/database"), load_model(models / "cosplace")
    build_bundle(out, database, retriever=retriever)
    meta = json.loads((out / "store" / "index.json").read_text())
    assert meta["index"] == "flat"
    meta.update(index="cell_sorted", config={})  # the store as vprkit wrote it before #15
    (out / "store" / "index.json").write_text(json.dumps(meta))
    old = MapBundle.load(out)
    assert old.index is old.store and old.index_name == "flat" and old.store.name == "flat"
    other = tmp_path / "hnsw"
    build_bundle(other, database, retriever=retriever, index="hnsw", index_config={"M": 8})
    assert MapBundle.load(other).index.name == "hnsw"
    shutil.rmtree(other / "index")
    with pytest.raises(BundleError, match="names index 'hnsw' but no index/ folder"):
        MapBundle.load(other)
