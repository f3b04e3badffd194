"""The descriptor store: extracted once per (retriever, database, precision), resumable after a
``kill -9``, reused whatever the index or classifier, split across torchrun ranks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from commands import index_build_args, run_args
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.contracts import NullProgress
from vprkit.data.standard import load_split
from vprkit.pipeline.descriptor_store import STORE_META, database_store, open_store
from vprkit.pipeline.models import load_model
from vprkit.runtime import Runtime

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
FLOAT32 = Runtime.resolve("cpu", "float32", threads=1)


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.steps: list[tuple[str, int, int]] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    def update(self, step: str, done: int, total: int, **fields: object) -> None:
        self.steps.append((step, done, total))


def _reference(retriever, database) -> np.ndarray:
    from vprkit.pipeline.bundle import _database_descriptors

    return _database_descriptors(retriever, database, 64, None, FLOAT32)


def test_a_store_is_extracted_once_and_holds_the_extraction(synthcity_tiny, tiny_model_dirs, tmp_path):
    retriever = load_model(tiny_model_dirs / "cosplace")
    database = load_split(synthcity_tiny, "test/database")
    first = Notes()
    store = database_store(retriever, database, FLOAT32, progress=first, shard_rows=16, cache=tmp_path)
    assert not first.notes and first.steps[-1] == ("database descriptors", len(database), len(database))
    np.testing.assert_array_equal(store.descriptors(verify=True), _reference(retriever, database))
    assert not (store.root / "shards").exists(), "shards are merged and removed"
    again = Notes()
    assert database_store(retriever, database, FLOAT32, progress=again, cache=tmp_path).root == store.root
    assert any("descriptor store reused" in n for n in again.notes) and not again.steps
    # another precision is another store (its descriptors differ in the last bits)
    bf16 = Runtime.resolve("cpu", "bfloat16", threads=1)
    assert database_store(retriever, database, bf16, cache=tmp_path).root != store.root


def test_a_damaged_store_file_is_refused_by_size_and_by_checksum(synthcity_tiny, tiny_model_dirs, tmp_path):
    from vprkit.pipeline.descriptor_store import StoreError

    retriever = load_model(tiny_model_dirs / "cosplace")
    database = load_split(synthcity_tiny, "test/database")
    store = database_store(retriever, database, FLOAT32, cache=tmp_path)
    path = store.root / "descriptors.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="checksum"):
        store.descriptors(verify=True)
    path.write_bytes(bytes(data[:-8]))
    with pytest.raises(StoreError, match="truncated"):
        open_store(store.root)


def test_rows_that_are_not_unit_vectors_never_complete_a_store(synthcity_tiny, tiny_model_dirs, tmp_path):
    from vprkit.errors import DataError

    retriever = load_model(tiny_model_dirs / "cosplace")
    retriever.encode = lambda x: 2 * type(retriever).encode(retriever, x)  # type: ignore[method-assign]
    database = load_split(synthcity_tiny, "test/database")
    with pytest.raises(DataError, match="not L2-normalised"):
        database_store(retriever, database, FLOAT32, cache=tmp_path)
    assert not list(tmp_path.glob(f"descriptors/*/{STORE_META}"))


_SLOW_EXTRACTION = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from vprkit.data.standard import load_split
    from vprkit.pipeline.descriptor_store import database_store
    from vprkit.pipeline.models import load_model
    from vprkit.runtime import Runtime

    torch.set_num_threads(1)
    retriever = load_model(sys.argv[1])
    encode = retriever.encode
    def slow(x):
        time.sleep(0.3)
        return encode(x)
    retriever.encode = slow
    database = load_split(sys.argv[2], "test/database")
    database_store(retriever, database, Runtime.resolve("cpu", "float32", threads=1),
                   batch_size=8, shard_rows=8, cache=Path(sys.argv[3]))
    """
)


def test_a_killed_extraction_resumes_with_the_missing_shards(synthcity_tiny, tiny_model_dirs, tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_EXTRACTION, str(tiny_model_dirs / "cosplace"), str(synthcity_tiny), str(cache)]
    )
    try:
        deadline = time.monotonic() + 120
        # [0-9]*: finished shards only (pathlib's * also matches the hidden temporary file of one being written)
        while len(list(cache.glob("descriptors/*/shards/[0-9]*.npy"))) < 2:
            assert proc.poll() is None, "the extraction ended before it was killed"
            assert time.monotonic() < deadline, "no shard was written in time"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    written = len(list(cache.glob("descriptors/*/shards/[0-9]*.npy")))
    assert not list(cache.glob(f"descriptors/*/{STORE_META}")), "a killed extraction is not a store"

    retriever = load_model(tiny_model_dirs / "cosplace")
    database = load_split(synthcity_tiny, "test/database")
    encoded = []
    encode = retriever.encode
    retriever.encode = lambda x: encoded.append(len(x)) or encode(x)  # type: ignore[method-assign]
    progress = Notes()
    store = database_store(retriever, database, FLOAT32, batch_size=8, shard_rows=999, progress=progress, cache=cache)
    assert any(n.startswith("resuming the extraction") for n in progress.notes)
    assert sum(encoded) == len(database) - 8 * written, "only the missing shards are extracted (plan kept)"
    np.testing.assert_array_equal(store.descriptors(), _reference(load_model(tiny_model_dirs / "cosplace"), database))


def test_switching_index_or_classifier_extracts_nothing(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    base = run_args(tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace", synthcity_tiny, "--topn", "3")
    first = runner.invoke(build_app(), base)
    assert first.exit_code == 0, first.output
    assert "descriptor store reused" not in first.stderr
    for extra in (["--index", "hnsw", "--set", "M=8"], ["--index", "ivfpq", "--set", "nlist=4", "--set", "m=8"]):
        result = runner.invoke(build_app(), [*base, *extra])
        assert result.exit_code == 0, result.output
        assert "descriptor store reused" in result.stderr and "database descriptors" not in result.stderr
    retrieval_only = runner.invoke(
        build_app(), run_args("none", tiny_model_dirs / "cosplace", synthcity_tiny, "--json", "--k", "5")
    )
    assert retrieval_only.exit_code == 0, retrieval_only.output
    assert len(list((tmp_path / "cache" / "descriptors").glob("[!.]*"))) == 1, "one store for all four bundles"
    assert len(list((tmp_path / "cache" / "bundles").glob("[!.]*"))) == 4


def test_a_bad_index_option_is_refused_before_any_extraction(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    args = run_args(tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace", synthcity_tiny, "--index", "hnsw")
    result = CliRunner().invoke(build_app(), [*args, "--set", "no_such_option=1"])
    assert result.exit_code != 0 and "no_such_option" in str(result.exception)
    assert not (tmp_path / "cache" / "descriptors").exists()


def test_cache_list_and_clean(synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch):
    from filelock import FileLock

    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    assert runner.invoke(build_app(), run_args("none", tiny_model_dirs / "cosplace", synthcity_tiny)).exit_code == 0
    listed = json.loads(runner.invoke(build_app(), ["cache", "list", "--json"]).stdout)
    assert {e["kind"] for e in listed} >= {"descriptors", "bundles"}
    [store] = [e for e in listed if e["kind"] == "descriptors"]
    assert "cosplace" in store["what"] and store["size_bytes"] > 0

    assert runner.invoke(build_app(), ["cache", "clean"]).exit_code != 0, "clean needs --older-than or --all"
    kept = json.loads(runner.invoke(build_app(), ["cache", "clean", "--older-than", "1h", "--json"]).stdout)
    assert kept["removed"] == []
    dry = json.loads(runner.invoke(build_app(), ["cache", "clean", "--all", "--dry-run", "--json"]).stdout)
    assert len(dry["removed"]) == len(listed)
    assert len(json.loads(runner.invoke(build_app(), ["cache", "list", "--json"]).stdout)) == len(listed)

    folder = tmp_path / "cache" / "descriptors" / store["path"].rsplit("/", 1)[-1]
    with FileLock(str(folder.parent / f".{folder.name}.lock")):  # another command is using it
        out = json.loads(
            runner.invoke(build_app(), ["cache", "clean", "--all", "--kind", "descriptors", "--json"]).stdout
        )
    assert [e["path"] for e in out["skipped"]] == [str(folder)] and folder.is_dir()
    out = json.loads(runner.invoke(build_app(), ["cache", "clean", "--all", "--kind", "descriptors", "--json"]).stdout)
    assert len(out["removed"]) == 1 and not folder.exists()
    assert {e["kind"] for e in json.loads(runner.invoke(build_app(), ["cache", "list", "--json"]).stdout)} >= {
        "bundles"
    }


def test_torchrun_extraction_on_two_processes_equals_one(synthcity_tiny, tiny_model_dirs, tmp_path):
    """``torchrun --nproc_per_node 2 -m vprkit index build``: two gloo ranks share the shards;
    the merged store and the bundle equal a single-process build's, byte for byte."""
    pytest.importorskip("torch.distributed.run")
    common = ["--device", "cpu", "--precision", "float32", "--threads", "1", "--shard-rows", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = index_build_args(tmp_path / "two", tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace", synthcity_tiny)
    two = subprocess.run(
        [*TORCHRUN, "-m", "vprkit", *args, *common],
        env={**env, "VPRKIT_CACHE_DIR": str(tmp_path / "cache_two")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    args = index_build_args(tmp_path / "one", tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace", synthcity_tiny)
    one = subprocess.run(
        [sys.executable, "-m", "vprkit", *args, *common],
        env={**env, "VPRKIT_CACHE_DIR": str(tmp_path / "cache_one")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    [store_two] = (tmp_path / "cache_two" / "descriptors").glob("[!.]*")
    [store_one] = (tmp_path / "cache_one" / "descriptors").glob("[!.]*")
    meta_two, meta_one = (json.loads((s / STORE_META).read_text()) for s in (store_two, store_one))
    assert meta_two["ranks"] == 2 and meta_one["ranks"] == 1
    assert meta_two["checksum"] == meta_one["checksum"], "the merged store equals one process's extraction"
    for name in ("descriptors.npy", "row_ids.npy", "offsets.npy"):
        assert (tmp_path / "two" / "store" / name).read_bytes() == (tmp_path / "one" / "store" / name).read_bytes()
    assert two.stderr.count("bundle written") == 1, "rank 0 alone writes and reports the bundle"
