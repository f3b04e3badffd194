"""Issue #14, training items: ``vprkit train`` loses nothing and refuses silent changes.

Each test reproduces one reported case on a tiny dataset (16 cells of 20 m, 32-px images, a
``tinycnn`` backbone, a few iterations): a refused ``--resume`` must leave ``training/config.yaml``
byte-identical, a changed partition or learning rate is refused up front naming the option, a
non-empty ``--out`` is refused unless ``--resume`` or ``--overwrite``, a second training into the
same folder is refused by its lock (two real processes), and a checkpoint remembers its training
set (refused on resume unless ``--allow-new-data``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from quick_training import GROUP_TRAINING, TRIPLET_TRAINING, set_options
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.data.filenames import format_filename
from vprkit.errors import ConfigError, DataError, VprkitError

ORIGIN_E, ORIGIN_N = 549_000.0, 4_178_000.0
FAST = [*set_options([*GROUP_TRAINING, "training.validate_every=0", "training.epochs=1"]), "--quiet"]
NETVLAD_FAST = [
    *TRIPLET_TRAINING,
    "training.queries_per_epoch=4",
    "training.cache_refresh_rate=4",
    "training.neg_samples_num=16",
    "training.epochs=1",
]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def trained_dnc(tiny_vpr_dataset, tmp_path_factory) -> Path:
    """A finished one-epoch dnc run (model folder + ``training/``), trained once per module."""
    out = tmp_path_factory.mktemp("trained") / "dnc"
    _ok(["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(out), *FAST])
    return out


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


def _ok(args: list[str]):
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _refused(args: list[str], error: type[VprkitError] = ConfigError) -> str:
    """Run the CLI, expect a one-line ``error``; return its message."""
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 1 and isinstance(result.exception, error), (result.output, result.exception)
    message = str(result.exception)
    assert "\n" not in message
    return message


def _resume(dataset: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "classifier", "dnc", "--dataset", str(dataset), "--out", str(out), "--resume", "--quiet", *extra]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _add_training_image(dataset: Path) -> None:
    """One more training image, 0.5 m east of an existing one (same cell: the partition keeps its
    classes, so only the training set's fingerprint tells the change)."""
    from vprkit.data.standard import load_split

    images = load_split(dataset, "train")
    name = format_filename(
        images.east[0] + 0.5, images.north[0], 10, "S", 37.7, -122.4, heading=float(images.heading[0]), ext=".png"
    )
    shutil.copyfile(images.root / str(images.paths[0]), images.root / name)


# ------------------------------------------------------------------------------- item 4: resume
def test_refused_resume_leaves_the_saved_config_byte_identical(tiny_vpr_dataset, trained_dnc, tmp_path):
    out = _copy(trained_dnc, tmp_path / "dnc")
    saved = (out / "training" / "config.yaml").read_bytes()
    message = _refused(_resume(tiny_vpr_dataset, out, "--set", "training.batch_size=4"))
    assert "training.batch_size (8 → 4)" in message and str(out) in message
    assert (out / "training" / "config.yaml").read_bytes() == saved
    # the refusal changed nothing, so the plain resume (extending the run) still works
    _ok(_resume(tiny_vpr_dataset, out, "--set", "training.epochs=2"))
    assert len(json.loads((out / "training" / "history.json").read_text())) == 2
    assert "epochs: 2" in (out / "training" / "config.yaml").read_text()


def test_changed_partition_or_backbone_on_resume_is_refused_up_front(tiny_vpr_dataset, trained_dnc, tmp_path):
    out = _copy(trained_dnc, tmp_path / "dnc")
    before = _snapshot(out)
    message = _refused(_resume(tiny_vpr_dataset, out, "--set", "partition.M=40", "--set", "backbone=resnet18"))
    assert "partition.M (20.0 → 40.0)" in message and "backbone ('tinycnn' → 'resnet18')" in message
    assert _snapshot(out) == before


@pytest.mark.parametrize("option", ["training.head_lr=0.5", "training.backbone_lr=0.5"])
def test_changed_learning_rate_on_resume_is_refused(tiny_vpr_dataset, trained_dnc, tmp_path, option):
    out = _copy(trained_dnc, tmp_path / "dnc")
    before = _snapshot(out)
    message = _refused(_resume(tiny_vpr_dataset, out, "--set", option))
    assert option.split("=")[0] in message
    assert _snapshot(out) == before


def test_resume_of_an_empty_folder_is_refused_before_anything_is_written(tiny_vpr_dataset, tmp_path):
    message = _refused(_resume(tiny_vpr_dataset, tmp_path / "nothing", *FAST), DataError)
    assert "last.pt" in message and not (tmp_path / "nothing").exists()


def test_start_checkpoint_allows_schedule_changes_but_not_model_changes(tiny_vpr_dataset, trained_dnc, tmp_path):
    """An imported release (``start`` checkpoint) may be fine-tuned with another schedule; its
    model options stay those of the import."""
    from vprkit.training.checkpoint import load_checkpoint, save_checkpoint
    from vprkit.training.config import TrainingConfig
    from vprkit.training.engine import start_checkpoint

    out = _copy(trained_dnc, tmp_path / "dnc")
    last = load_checkpoint(out / "training" / "last.pt")
    cfg = TrainingConfig.model_validate(last["config"])
    save_checkpoint(
        out / "training" / "last.pt", start_checkpoint(cfg, last["net"], last["heads"], origin="a test release")
    )
    message = _refused(_resume(tiny_vpr_dataset, out, "--set", "partition.M=40"))
    assert "partition.M" in message
    _ok(_resume(tiny_vpr_dataset, out, "--set", "training.batch_size=4", "--set", "training.head_lr=0.5"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["card"]["source"]["initialised_from"] == "a test release"


# ---------------------------------------------------------------------- item 5: non-empty --out
def test_training_into_a_non_empty_out_is_refused(tiny_vpr_dataset, trained_dnc, tmp_path):
    out = _copy(trained_dnc, tmp_path / "dnc")
    before = _snapshot(out)
    args = ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(out), *FAST]
    message = _refused(args)
    assert "not empty" in message and "--resume" in message and "--overwrite" in message
    assert _snapshot(out) == before  # last.pt of the earlier run is intact
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "not empty" in _refused(
        ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(other), *FAST]
    )


def test_overwrite_replaces_the_run_only_after_validation(tiny_vpr_dataset, trained_dnc, tmp_path):
    out = _copy(trained_dnc, tmp_path / "dnc")
    before = _snapshot(out)
    args = ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(out), "--overwrite", *FAST]
    _refused([*args, "--set", "nope=1"])  # an invalid option: nothing cleared
    assert _snapshot(out) == before
    _refused([*args, "--resume"])  # contradictory flags
    assert _snapshot(out) == before
    _ok([*args, "--set", "training.seed=7"])
    assert "seed: 7" in (out / "training" / "config.yaml").read_text()
    from vprkit.training.checkpoint import load_checkpoint

    assert load_checkpoint(out / "training" / "last.pt")["config"]["seed"] == 7
    assert (out / "manifest.json").is_file()


_HELD_TRAINING = textwrap.dedent("""
    import sys
    from pathlib import Path

    import vprkit.training.engine as engine

    go = Path(sys.argv[1])
    original = engine.GroupTrainer._train_epoch

    def held(self, epoch):
        import time
        while not go.exists():  # the test lets this run go on once the second one was refused
            time.sleep(0.05)
        return original(self, epoch)

    engine.GroupTrainer._train_epoch = held
    from vprkit.cli import main

    main(sys.argv[2:])
""")


def test_a_second_training_into_the_same_out_is_refused_by_the_lock(tiny_vpr_dataset, tmp_path):
    out, go = tmp_path / "dnc", tmp_path / "go"
    args = ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(out), *FAST]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [sys.executable, "-c", _HELD_TRAINING, str(go), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "training" / "config.yaml").is_file():  # written under the lock, before training
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first training never started"
            time.sleep(0.1)
        for second in (args, [*args, "--overwrite"], [*args[: -len(FAST)], "--resume", "--quiet"]):
            message = _refused(second)
            assert "another `vprkit train` is writing to" in message and ".train.lock" in message
        go.touch()
        _, stderr = first.communicate(timeout=300)
    finally:
        go.touch()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    assert (out / "manifest.json").is_file()
    assert len(json.loads((out / "training" / "history.json").read_text())) == 1


# ---------------------------------------------------------------- item 8: training set on resume
def test_resume_on_another_training_set_is_refused_unless_allowed(tiny_vpr_dataset, tmp_path):
    dataset = _copy(tiny_vpr_dataset, tmp_path / "data")
    out = tmp_path / "dnc"
    _ok(["train", "classifier", "dnc", "--dataset", str(dataset), "--out", str(out), *FAST])
    from vprkit.data.standard import load_split

    old = load_split(dataset, "train").fingerprint()
    _add_training_image(dataset)
    new = load_split(dataset, "train").fingerprint()
    before = _snapshot(out)
    message = _refused(_resume(dataset, out, "--set", "training.epochs=2"), DataError)
    assert old[:12] in message and new[:12] in message and str(dataset) in message and "--allow-new-data" in message
    assert _snapshot(out) == before
    _ok(_resume(dataset, out, "--set", "training.epochs=2", "--allow-new-data"))
    assert len(json.loads((out / "training" / "history.json").read_text())) == 2
    # the checkpoint now belongs to the new set: a plain resume on it works
    _ok(_resume(dataset, out, "--set", "training.epochs=3"))


def test_triplet_resume_on_another_training_set_is_refused_unless_allowed(tiny_vpr_dataset, tmp_path):
    from vprkit.training.api import train_model

    dataset = _copy(tiny_vpr_dataset, tmp_path / "data")
    out = tmp_path / "netvlad"
    train_model("retriever", "netvlad", dataset, out, overrides=NETVLAD_FAST)
    _add_training_image(dataset)
    with pytest.raises(DataError, match="--allow-new-data"):
        train_model("retriever", "netvlad", dataset, out, overrides=["training.epochs=2"], resume=True)
    model = train_model(
        "retriever", "netvlad", dataset, out, overrides=["training.epochs=2"], resume=True, allow_new_data=True
    )
    assert model.training_summary["epochs_done"] == 2


@pytest.mark.parametrize(
    "kind,name,overrides",
    [
        (
            "retriever",
            "cosplace",
            [
                "fc_output_dim=16",
                "partition.M=20",
                "partition.N=2",
                "partition.L=1",
                "partition.alpha=360",
                "partition.groups_num=2",
            ],
        ),
        ("classifier", "planet", ["partition.tau_min=5", "partition.tau_max=60"]),  # the joint trainer
    ],
)
def test_every_group_trainer_records_its_training_set(tiny_vpr_dataset, tmp_path, kind, name, overrides):
    from vprkit.training.api import train_model

    dataset = _copy(tiny_vpr_dataset, tmp_path / "data")
    out = tmp_path / name
    fast = [
        "backbone=tinycnn",
        "training.epochs=1",
        "training.iterations_per_epoch=2",
        "training.batch_size=8",
        "training.image_size=32",
        "training.num_workers=0",
        "training.device=cpu",
        "training.validate_every=0",
    ]
    train_model(kind, name, dataset, out, overrides=fast + overrides)
    _add_training_image(dataset)
    before = _snapshot(out)
    with pytest.raises(DataError, match="another training set"):
        train_model(kind, name, dataset, out, overrides=["training.epochs=2"], resume=True)
    assert _snapshot(out) == before


def test_allow_new_data_needs_resume(tiny_vpr_dataset, tmp_path):
    args = ["train", "classifier", "dnc", "--dataset", str(tiny_vpr_dataset), "--out", str(tmp_path / "x"), *FAST]
    assert "--resume" in _refused([*args, "--allow-new-data"])
    assert not (tmp_path / "x").exists()
