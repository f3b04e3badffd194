"""`vprkit export hloc` and `vprkit export npy`: the layouts hloc and VPR-methods-evaluation read,
the values of the bundle's store and of its retriever, and pairs equal to the pipeline's top-K."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.data.standard import load_split
from vprkit.errors import ConfigError, DataError
from vprkit.export.hloc import export_hloc
from vprkit.export.npy import export_npy
from vprkit.models.extract import extract_descriptors
from vprkit.pipeline.bundle import MapBundle
from vprkit.pipeline.descriptor_store import open_store
from vprkit.pipeline.run import RunConfig, build_dataset_bundle, run_pipeline
from vprkit.runtime import Runtime

FLOAT32 = Runtime.resolve("cpu", "float32", threads=1)
K, TOPN = 5, 3


@pytest.fixture(scope="module")
def bundle_dir(synthcity_tiny, tiny_model_dirs, tmp_path_factory):
    """A D&C + CosPlace bundle of synthcity tiny built as `vprkit index build` builds it (its
    manifest names the descriptor store it was made from)."""
    out = tmp_path_factory.mktemp("export_bundle") / "bundle"
    build_dataset_bundle(
        out,
        classifier=str(tiny_model_dirs / "dnc"),
        retriever=str(tiny_model_dirs / "cosplace"),
        dataset=synthcity_tiny,
        runtime=FLOAT32,
    )
    return out


def _h5_names(path):
    """Image names as hloc lists them: the group above every dataset."""
    names, keys = [], set()
    with h5py.File(path, "r") as f:

        def visit(_, obj):
            if isinstance(obj, h5py.Dataset):
                names.append(obj.parent.name.strip("/"))
                keys.add(obj.name.rsplit("/", 1)[1])

        f.visititems(visit)
    return names, keys


def _read_pairs(path):
    """The pairs file as hloc parses it: ``query -> [database images]`` in file order."""
    retrieval = defaultdict(list)
    for line in path.read_text().rstrip("\n").split("\n"):
        q, r = line.split(" ")
        retrieval[q].append(r)
    return dict(retrieval)


def test_hloc_export_is_the_layout_hloc_reads_with_the_store_rows_and_the_pipelines_pairs(
    bundle_dir, synthcity_tiny, tmp_path
):
    out = tmp_path / "hloc"
    exported = export_hloc(bundle_dir, out, k=K, topn=TOPN, runtime=FLOAT32)
    bundle = MapBundle.load(bundle_dir)
    split = synthcity_tiny / "images" / "test"
    db_paths = bundle.database.paths.tolist()
    queries = load_split(synthcity_tiny, "test/queries")
    q_paths = queries.paths.tolist()

    names, keys = _h5_names(out / "global-feats.h5")
    assert keys == {"global_descriptor"}
    assert sorted(names) == sorted([f"database/{p}" for p in db_paths] + [f"queries/{p}" for p in q_paths])
    assert all((split / name).is_file() for name in names)  # names are relative to the split folder

    # database rows: the descriptor store's (row order), never extracted again
    store = open_store(bundle.manifest["descriptors"]["store"]).descriptors()
    # queries: the bundle's retriever
    expected_q = extract_descriptors(bundle.retriever.encode, queries, bundle.retriever.transform)
    with h5py.File(out / "global-feats.h5", "r") as f:
        got_db = np.stack([f[f"database/{p}"]["global_descriptor"][()] for p in db_paths])
        got_q = np.stack([f[f"queries/{p}"]["global_descriptor"][()] for p in q_paths])
        d = f[f"database/{db_paths[0]}"]["global_descriptor"]
        assert d.dtype == np.float32 and d.shape == (bundle.retriever.descriptor_dim,)
    np.testing.assert_array_equal(got_db, store)
    np.testing.assert_allclose(got_q, expected_q, atol=1e-5)

    # pairs: K per query, existing database images, equal to `vprkit run`'s top-K
    pairs = _read_pairs(out / "pairs-queries.txt")
    assert list(pairs) == [f"queries/{p}" for p in q_paths]
    assert all(len(v) == K for v in pairs.values())
    assert all(r.startswith("database/") and (split / r).is_file() for v in pairs.values() for r in v)
    predictions = tmp_path / "predictions.json"
    run_pipeline(
        RunConfig(
            bundle=bundle_dir, topn=TOPN, k=K, predictions=predictions, device="cpu", precision="float32", threads=1
        )
    )
    ranked = {
        f"queries/{rec['query']}": [f"database/{p['database_image']}" for p in rec["places"] if p["database_image"]]
        for rec in json.loads(predictions.read_text())
    }
    assert pairs == ranked

    manifest = json.loads((out / "export.json").read_text())
    assert exported.files[-1] == out / "export.json" and manifest == json.loads(json.dumps(exported.manifest))
    assert manifest["pipeline"] == "classify → retrieve" and manifest["topn"] == TOPN and manifest["k"] == K
    assert manifest["query_sets"][0]["pairs"] == K * len(q_paths)


def test_hloc_retrieval_only_pairs_from_a_folder_of_query_images_are_the_exhaustive_top_k(
    bundle_dir, synthcity_tiny, tmp_path
):
    folder = tmp_path / "my_photos"
    folder.mkdir()
    for src in sorted((synthcity_tiny / "images" / "test" / "queries").glob("*.png"))[:3]:
        shutil.copy(src, folder / f"photo_{len(list(folder.iterdir()))}.png")
    out = tmp_path / "hloc"
    export_hloc(bundle_dir, out, query_images=folder, k=K, use_classifier=False, runtime=FLOAT32)
    bundle = MapBundle.load(bundle_dir)
    db = np.empty_like(bundle.store.descriptors)
    db[bundle.store.row_ids] = bundle.store.descriptors
    with h5py.File(out / "global-feats.h5", "r") as f:
        q = np.stack([f[f"my_photos/photo_{i}.png"]["global_descriptor"][()] for i in range(3)])
    top = np.argsort(-(q @ db.T), axis=1, kind="stable")[:, :K]
    pairs = _read_pairs(out / "pairs-my_photos.txt")
    assert pairs == {
        f"my_photos/photo_{i}.png": [f"database/{bundle.database.paths[j]}" for j in top[i]] for i in range(3)
    }
    assert json.loads((out / "export.json").read_text())["pipeline"] == "retrieve"


def test_export_refusals_are_one_line_and_write_nothing(bundle_dir, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataError, match="no query set 'night'.*queries"):
        export_hloc(bundle_dir, out, queries=["night"])
    spaced = tmp_path / "spaced"
    spaced.mkdir()
    shutil.copy(next((MapBundle.load(bundle_dir).database.root).glob("*.png")), spaced / "a b.png")
    with pytest.raises(DataError, match="white space"):
        export_hloc(bundle_dir, out, query_images=spaced)
    with pytest.raises(ConfigError, match="--queries and --query-images"):
        export_npy(bundle_dir, out, queries="queries", query_images=spaced)
    assert not out.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        export_npy(bundle_dir, afile)
    with pytest.raises(DataError, match="not a map bundle"):
        export_hloc(tmp_path, out)


@pytest.fixture
def two_query_sets(synthcity_tiny, tmp_path, build_tiny_bundle):
    """A copy of synthcity tiny's test split with a second query set, and its bundle (built by
    `build_bundle` itself: its manifest names no descriptor store)."""
    root = tmp_path / "city"
    test = root / "images" / "test"
    shutil.copytree(synthcity_tiny / "images" / "test", test)
    shutil.copytree(test / "queries", test / "queries_night")
    shutil.copy(test / "queries_images_paths.txt", test / "queries_night_images_paths.txt")
    build_tiny_bundle(tmp_path / "bundle", root)
    return root, tmp_path / "bundle"


def test_several_query_sets_one_hloc_file_a_pairs_file_each_and_one_npy_set_at_a_time(two_query_sets, tmp_path):
    root, bundle_dir = two_query_sets
    export_hloc(bundle_dir, tmp_path / "hloc", k=K, topn=TOPN, runtime=FLOAT32)
    names, _ = _h5_names(tmp_path / "hloc" / "global-feats.h5")
    assert len(names) == len(set(names))  # database and both query sets: unique names
    day = _read_pairs(tmp_path / "hloc" / "pairs-queries.txt")
    night = _read_pairs(tmp_path / "hloc" / "pairs-queries_night.txt")
    assert [q.split("/", 1)[1] for q in day] == [q.split("/", 1)[1] for q in night]
    assert list(day.values()) == list(night.values())  # the same images, the same pairs

    with pytest.raises(ConfigError, match=r"2 query sets \(queries, queries_night\).*--queries NAME"):
        export_npy(bundle_dir, tmp_path / "npy")
    exported = export_npy(bundle_dir, tmp_path / "npy", queries="night", runtime=FLOAT32)
    out = tmp_path / "npy"
    bundle = MapBundle.load(bundle_dir)
    db = np.load(out / "database_descriptors.npy", allow_pickle=False)
    q = np.load(out / "queries_descriptors.npy", allow_pickle=False)
    assert db.dtype == q.dtype == np.float32
    assert db.shape == (len(bundle.database), bundle.retriever.descriptor_dim) and q.shape[1] == db.shape[1]
    in_rows = np.empty_like(bundle.store.descriptors)
    in_rows[bundle.store.row_ids] = bundle.store.descriptors
    np.testing.assert_array_equal(db, in_rows)
    assert (out / "database_images_paths.txt").read_text().splitlines() == bundle.database.paths.tolist()
    night_paths = load_split(root, "test/queries_night").paths.tolist()
    assert (out / "queries_images_paths.txt").read_text().splitlines() == night_paths
    with h5py.File(tmp_path / "hloc" / "global-feats.h5", "r") as f:
        hloc_q = np.stack([f[f"queries_night/{p}"]["global_descriptor"][()] for p in night_paths])
    np.testing.assert_allclose(q, hloc_q, atol=1e-5)
    assert exported.manifest["queries"] == {
        "name": "queries_night",
        "folder": str(root / "images" / "test" / "queries_night"),
        "count": len(night_paths),
    }


def test_the_export_commands_write_their_files_and_print_json(bundle_dir, tmp_path):
    runner = CliRunner()
    common = ["--device", "cpu", "--precision", "float32", "--threads", "1", "--json"]
    result = runner.invoke(
        build_app(),
        [
            "export",
            "hloc",
            "--bundle",
            str(bundle_dir),
            "--out",
            str(tmp_path / "h"),
            "--topn",
            "3",
            "--k",
            "2",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p.rsplit("/", 1)[1] for p in doc["files"]] == ["global-feats.h5", "pairs-queries.txt", "export.json"]
    assert doc["manifest"]["k"] == 2
    result = runner.invoke(
        build_app(), ["export", "npy", "--bundle", str(bundle_dir), "--out", str(tmp_path / "n"), *common]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["manifest"]["format"] == "vpr-methods-evaluation"
    result = runner.invoke(build_app(), ["export", "npy", "--bundle", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "not a map bundle" in str(result.exception)
