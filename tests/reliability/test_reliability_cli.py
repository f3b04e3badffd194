"""Issue #14, the command line: one clear line where a traceback was, validation before expensive
work, Ctrl-C said, plugins that misbehave named, `localize` streaming in bounded batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from commands import index_build_args
from PIL import Image

from vprkit import (
    PartitionerSpec,
    create_classifier,
    hookimpl,
)
from vprkit.errors import ConfigError, PluginConflictError, PluginError


def vprkit(*args: str, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vprkit", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def models(tiny_model_dirs):
    return tiny_model_dirs


def test_names_and_files_are_refused_before_synthcity_is_generated(tmp_path):
    cache = tmp_path / "cache"
    assert "unknown classifier 'dcn'" in one_line_error(vprkit("run", "--classifier", "dcn", cache=cache))
    assert "unknown index 'hsnw'" in one_line_error(vprkit("run", "--index", "hsnw", cache=cache))
    weights = tmp_path / "ResNet18_512_cosplace.pth"
    weights.write_bytes(b"x")
    line = one_line_error(vprkit("run", "--retriever", str(weights), cache=cache))
    assert "is a file, not a model folder" in line and "vprkit models import" in line
    assert not (cache / "datasets").exists()  # nothing was generated


def test_a_misspelt_nested_option_is_named_with_its_section(tmp_path):
    line = one_line_error(
        vprkit(
            "train",
            "classifier",
            "dnc",
            "--dataset",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "training.epoch=3",
            cache=tmp_path / "cache",
        )
    )
    assert "did you mean training.epochs?" in line and "valid options of training:" in line


def test_an_unwritable_cache_is_one_line(synthcity_tiny, models, tmp_path):
    cache = tmp_path / "not_a_folder"
    cache.write_text("a file where the cache folder should be")
    line = one_line_error(
        vprkit(
            "run",
            "--classifier",
            str(models / "dnc"),
            "--retriever",
            str(models / "cosplace"),
            "--dataset",
            str(synthcity_tiny),
            cache=cache,
        )
    )
    assert "VPRKIT_CACHE_DIR" in line
    line = one_line_error(vprkit("run", cache=cache))  # the embedded dataset's first use
    assert "VPRKIT_CACHE_DIR" in line


def _cpu_ticks(pid: int) -> int:
    """User + system CPU ticks of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _wait_until_idle(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the process, having started up, spends no CPU: it is waiting (here: on a lock)."""
    deadline, last = time.time() + timeout, -1
    while time.time() < deadline and proc.poll() is None:
        ticks = _cpu_ticks(proc.pid)
        if ticks >= 30 and ticks - last <= 2:  # started (imports done) and idle for the last 0.5 s
            return
        last = ticks
        time.sleep(0.5)


def _sigint_by_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_is_said_and_exits_130(synthcity_tiny, models, tmp_path):
    from filelock import FileLock

    out = tmp_path / "bundle"
    env = {**os.environ, "VPRKIT_CACHE_DIR": str(tmp_path / "cache")}
    with FileLock(str(tmp_path / ".bundle.lock")):  # the command will wait for this lock
        command = [sys.executable, "-m", "vprkit", *index_build_args(out, models / "dnc", "none", synthcity_tiny)]
        # a Ctrl-C from a terminal reaches the command; pytest started as a background job of a
        # non-interactive shell ignores SIGINT, and its children would inherit that
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_sigint_by_default)
        _wait_until_idle(proc)  # it has reached the lock (not still importing, however loaded the box)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr


def _plugin(**hooks) -> types.ModuleType:
    module = types.ModuleType("runtime_test_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def test_a_plugin_whose_commands_hook_raises_is_named(fresh_plugins):
    from vprkit.cli import build_app
    from vprkit.plugins import get_plugin_manager

    def vprkit_commands(app):
        raise RuntimeError("boom")

    get_plugin_manager().register(_plugin(vprkit_commands=vprkit_commands), name="exploding")
    with pytest.raises(PluginError, match="'exploding'.*vprkit_commands\\(\\): RuntimeError: boom"):
        build_app()


def test_a_plugin_command_may_not_replace_a_built_in_one(fresh_plugins):
    from vprkit.cli import build_app
    from vprkit.plugins import get_plugin_manager

    def vprkit_commands(app):
        @app.command("run")
        def run() -> None:
            """A plugin's own run."""

    get_plugin_manager().register(_plugin(vprkit_commands=vprkit_commands), name="shadowing")
    with pytest.raises(PluginConflictError, match="'shadowing'.*\\['run'\\]"):
        build_app()


def test_a_factory_returning_the_wrong_object_is_named(fresh_plugins):
    from pydantic import BaseModel

    from vprkit.plugins import get_plugin_manager
    from vprkit.registry import create_partitioner as create

    class NoConfig(BaseModel):
        pass

    def vprkit_partitioners():
        return [PartitionerSpec(name="hollow", factory="builtins:dict", config=NoConfig, description="returns a dict")]

    get_plugin_manager().register(_plugin(vprkit_partitioners=vprkit_partitioners), name="hollow_plugin")
    with pytest.raises(PluginError, match="'hollow_plugin'.*builtins:dict returned dict, which has no fit"):
        create("hollow")


def test_localize_streams_in_batches_and_gives_the_same_places(synthcity_tiny, build_tiny_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    build_tiny_bundle(bundle, synthcity_tiny)
    queries = sorted(str(p) for p in (synthcity_tiny / "images" / "test" / "queries").glob("*.png"))
    small, whole = (
        vprkit(
            "localize",
            *queries,
            "--bundle",
            str(bundle),
            "--topn",
            "3",
            "--batch-size",
            batch,
            "--json",
            cache=tmp_path / "cache",
        )
        for batch in ("7", "64")
    )
    assert small.returncode == 0 and whole.returncode == 0, small.stderr + whole.stderr
    a, b = json.loads(small.stdout), json.loads(whole.stdout)
    assert len(a) == len(queries) == 40 and [r["image"] for r in a] == queries
    for ra, rb in zip(a, b):
        assert [p["database_image"] for p in ra["places"]] == [p["database_image"] for p in rb["places"]]
    assert "images" in small.stderr  # the progress bar of a multi-batch run
    missing = vprkit(
        "localize", queries[0], str(tmp_path / "nope.png"), "--bundle", str(bundle), cache=tmp_path / "cache"
    )
    assert "do not exist (first:" in one_line_error(missing)


def test_images_of_any_size_in_one_database_batch(synthcity_tiny, build_tiny_bundle, tmp_path):
    import shutil

    city = tmp_path / "city"
    shutil.copytree(synthcity_tiny, city)
    folder = city / "images" / "test" / "database"
    paths = sorted(folder.glob("*.png"))
    Image.fromarray(np.zeros((1, 1, 3), dtype=np.uint8)).save(paths[0])  # a 1×1 database image
    Image.fromarray(np.zeros((48, 80, 3), dtype=np.uint8)).save(paths[1])  # and a wide one
    bundle = build_tiny_bundle(tmp_path / "bundle", city)
    assert bundle.store.descriptors.shape[0] == len(paths)


def test_config_errors_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean training.epochs"):
        create_classifier("dnc", training={"epoch": 3})
