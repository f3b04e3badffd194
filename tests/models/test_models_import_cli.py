"""``vprkit models import|show|releases`` as a user runs them, and the imported folders in
``run``, ``index build`` and ``train --resume``; release downloads (file:// and unreachable URLs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from quick_training import set_options
from release_formats import (
    CosPlaceNet,
    DncNet,
    NetVLADNet,
    dnc_checkpoint,
    dnc_train_args,
    netvlad_checkpoint,
    official_dnc_groups,
    randomise_batch_norm,
    standard_name,
)
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.errors import DataError
from vprkit.models.release import download_release, sha256_file
from vprkit.registry import get_retriever_spec
from vprkit.specs import Release

runner = CliRunner()


def _write(folder, names, size, seed, mixed=False):
    """Random JPEGs; ``mixed``: every other image 2:3 landscape, so batches mix sizes."""
    rng = np.random.default_rng(seed)
    for i, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        width = size * 3 // 2 if mixed and i % 2 else size
        Image.fromarray(rng.integers(0, 255, (size, width, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def release_dataset(tmp_path_factory):
    """A dataset whose train split is the release's training set, a small test split, and the
    release files (D&C full training checkpoint at epoch 4 of 5, CosPlace ResNet-18 → 64-D)."""
    tmp = tmp_path_factory.mktemp("release_dataset")
    rng = np.random.default_rng(5)
    cells = rng.integers(0, 5, (480, 2)) * 20 + rng.uniform(1, 19, (480, 2))
    east, north = (550_000 + cells[:, 0]).round(2), (4_180_000 + cells[:, 1]).round(2)
    train = [
        standard_name(e, n, heading=float(h), pano=f"t{i}")
        for i, (e, n, h) in enumerate(zip(east, north, rng.choice([0, 90, 180, 270], len(east))))
    ]
    root = tmp / "city"
    _write(root / "images" / "train", train, 16, 0)
    _write(root / "images" / "test" / "database", train[::16], 48, 1)
    _write(
        root / "images" / "test" / "queries",
        [standard_name(e + 2, n + 2, pano=f"q{i}") for i, (e, n) in enumerate(zip(east[:6], north[:6]))],
        40,
        2,
        mixed=True,
    )
    torch.manual_seed(0)
    net = DncNet().eval()
    randomise_batch_norm(net)
    table = official_dnc_groups(train)
    heads = [torch.randn(len(g), 1280) for g in table]
    args = dnc_train_args(epochs_num=5, iterations_per_epoch=1, batch_size=2, train_resize=(32, 32))
    torch.save(dnc_checkpoint(net, heads, full=True, args=args, epoch=4), tmp / "last_checkpoint.pth")
    torch.save(CosPlaceNet("ResNet18", 64).state_dict(), tmp / "ResNet18_64_cosplace.pth")
    return tmp, root


def _ok(args):
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    return result


def _resume(kind: str, name: str, dataset, out, *overrides: str):
    """``vprkit train KIND NAME --resume`` of an imported model folder, on the CPU without validation."""
    sets = set_options(["training.device=cpu", "training.num_workers=0", "training.validate_every=0", *overrides])
    return _ok(["train", kind, name, "--dataset", str(dataset), "--out", str(out), "--resume", "--quiet", *sets])


def test_import_show_run_index_and_resume(tmp_path, release_dataset):
    tmp, root = release_dataset
    dnc, cos = tmp_path / "dnc", tmp_path / "cosplace"
    out = _ok(
        ["models", "import", "dnc", str(tmp / "last_checkpoint.pth"), "--out", str(dnc), "--train-dataset", str(root)]
    )
    assert str(dnc) in out.stdout
    _ok(["models", "import", "cosplace", str(tmp / "ResNet18_64_cosplace.pth"), "--out", str(cos)])
    card = json.loads(_ok(["models", "show", str(dnc), "--json"]).stdout)["card"]
    assert card["source"]["sha256"] == sha256_file(tmp / "last_checkpoint.pth")
    assert card["test_transform"]["summary"].startswith("shorter side 256")

    report = json.loads(
        _ok(
            ["run", "--classifier", str(dnc), "--retriever", str(cos), "--topn", "3", "--dataset", str(root), "--json"]
        ).stdout
    )
    assert report[0]["queries"] == 6 and report[0]["config"]["topn"] == 3
    _ok(
        [
            "index",
            "build",
            "--out",
            str(tmp_path / "bundle"),
            "--classifier",
            str(dnc),
            "--retriever",
            str(cos),
            "--dataset",
            str(root),
        ]
    )
    queries = sorted((root / "images" / "test" / "queries").glob("*.jpg"))[:2]  # a square and a 2:3 photo
    places = json.loads(
        _ok(["localize", *map(str, queries), "--bundle", str(tmp_path / "bundle"), "--topn", "3", "--json"]).stdout
    )
    assert len(places) == 2 and all(p["places"] for p in places)

    # the imported training checkpoint continues at its epoch (4 → 5) with the authors' optimizer states
    _resume("classifier", "dnc", root, dnc)
    card = json.loads(_ok(["models", "show", str(dnc), "--json"]).stdout)["card"]
    assert card["source"]["type"] == "trained" and card["source"]["epochs_done"] == 5
    assert "epoch 4" in card["source"]["initialised_from"]
    # CosPlace releases carry no heads: --resume fine-tunes the network with fresh heads for the dataset
    _resume(
        "retriever",
        "cosplace",
        root,
        cos,
        "training.epochs=1",
        "training.iterations_per_epoch=1",
        "training.batch_size=2",
        "training.image_size=32",
        "partition.min_images_per_class=1",
        "partition.groups_num=1",
    )
    assert json.loads(_ok(["models", "show", str(cos), "--json"]).stdout)["card"]["source"]["epochs_done"] == 1


def test_netvlad_import_fine_tunes_with_train_resume(tmp_path, release_dataset):
    _, root = release_dataset
    torch.manual_seed(3)
    torch.save(netvlad_checkpoint(NetVLADNet(clusters=8)), tmp_path / "checkpoint.pth.tar")
    out = tmp_path / "netvlad"
    _ok(["models", "import", "netvlad", str(tmp_path / "checkpoint.pth.tar"), "--out", str(out)])
    schedule = (
        "epochs=1",
        "queries_per_epoch=2",
        "cache_refresh_rate=2",
        "neg_samples_num=8",
        "negs_num_per_query=1",
        "batch_size=1",
        "image_size=32",
    )
    _resume("retriever", "netvlad", root, out, *(f"training.{item}" for item in schedule))
    card = json.loads(_ok(["models", "show", str(out), "--json"]).stdout)["card"]
    assert card["source"]["epochs_done"] == 1 and "checkpoint.pth.tar" in card["source"]["initialised_from"]
    assert card["descriptor_dim"] == 8 * 512


def test_import_errors_are_one_line(tmp_path, release_dataset):
    tmp, _ = release_dataset
    result = runner.invoke(
        build_app(),
        ["models", "import", "dnc", str(tmp / "last_checkpoint.pth"), "--out", str(tmp_path / "x")],
        catch_exceptions=True,
    )
    assert result.exit_code != 0 and not (tmp_path / "x").exists()
    from vprkit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["models", "import", "planet", str(tmp / "last_checkpoint.pth"), "--out", str(tmp_path / "y")])
    assert exc.value.code == 1


def test_releases_are_listed():
    rows = json.loads(_ok(["models", "releases", "--json"]).stdout)["releases"]
    names = {(r["method"], r["release"]) for r in rows}
    assert ("cosplace", "vgg16_512") in names and ("cosplace", "resnet50_2048") in names
    assert ("dnc", "sfxl_efficientnet_b0") in names and ("netvlad", "vgg16_netvlad") in names
    assert len([r for r in rows if r["method"] == "cosplace"]) == 4 + 5 + 7 + 7 + 7  # hubconf.py


def test_release_download_is_cached_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    torch.save(CosPlaceNet("ResNet18", 32).state_dict(), tmp_path / "served.pth")
    spec = get_retriever_spec("cosplace")
    release = Release(name="local", url=(tmp_path / "served.pth").as_uri(), description="test")
    path, digest = download_release(spec, release, progress=False)
    assert digest == sha256_file(tmp_path / "served.pth") and path.is_file()
    assert download_release(spec, release, progress=False)[0] == path  # reused, not fetched again
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(DataError, match="SHA-256"):
        download_release(spec, release, progress=False)
    wrong = Release(name="pinned", url=release.url, description="test", sha256="0" * 64)
    with pytest.raises(DataError, match="expected 0000"):
        download_release(spec, wrong, progress=False)
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_offline_download_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    release = Release(name="unreachable", url="http://127.0.0.1:9/ResNet18_512_cosplace.pth", description="test")
    with pytest.raises(DataError, match=r"127\.0\.0\.1:9/ResNet18_512_cosplace\.pth.*download that file by hand"):
        download_release(get_retriever_spec("cosplace"), release, progress=False)
