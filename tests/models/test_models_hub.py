"""The ``hub`` retriever (issue 17): ``vprkit models import hub REPO:ENTRY --out DIR`` over a local
``torch.hub`` repository the test writes (``hub_folders``; its "authors' weights" come from a
``file://`` URL), the card, offline loading, pinning, tampering, nested repositories, Hugging
Face style safetensors weights, the retriever contract and ``vprkit run`` with the folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys

import pytest
import torch
import torch.nn.functional as F
from commands import run_args
from hub_folders import reference_net, write_backbone_repo, write_hub_repo
from typer.testing import CliRunner

from vprkit import testing
from vprkit.cli import build_app
from vprkit.errors import ConfigError, DataError
from vprkit.pipeline.models import load_model

runner = CliRunner()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """``(folder, weights state dict)`` of a fresh local hub repository; torch.hub's cache in tmp."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return write_hub_repo(tmp_path / "repo")


def _invoke(*args: str):
    return runner.invoke(build_app(), ["models", "import", "hub", *args])


def _import(source: str, out, *args: str):
    result = _invoke(source, "--out", str(out), *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _no_network(monkeypatch) -> None:
    """Any connection or name lookup outside vprkit's own offline guard fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network use: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _forget_downloads(tmp_path) -> None:
    """Delete the release file and torch.hub's copy of it: any download attempt would now fail."""
    shutil.rmtree(tmp_path / "release")
    shutil.rmtree(tmp_path / "torch_home", ignore_errors=True)


def _expected(state, images, dim=32):
    with torch.no_grad():
        return F.normalize(reference_net(state, dim)(images), dim=1)


def test_import_writes_a_model_folder_with_its_code_and_card(repo, tmp_path):
    folder, _ = repo
    out = tmp_path / "model"
    result = _import(f"{folder}:tiny_vpr", out, "--kwargs", "dim=32", "--input-size", "32", "32")
    assert "trusted code" in result.stderr and "Import only repositories you trust" in result.stderr
    assert result.stdout.startswith(str(out)) and "Downloading" not in result.stdout

    assert sorted(p.name for p in (out / "hub").iterdir()) == ["LICENSE", "hubconf.py", "tiny_vpr_model.py"]
    card = json.loads(runner.invoke(build_app(), ["models", "show", str(out), "--json"]).stdout)["card"]
    source = card["source"]
    assert (source["type"], source["host"], source["entry"], source["kwargs"]) == (
        "hub",
        "local",
        "tiny_vpr",
        {"dim": 32},
    )
    # the documented checksum: SHA-256 of the sorted `sha256sum` listing of the copied files
    listing = "".join(
        f"{hashlib.sha256((out / 'hub' / name).read_bytes()).hexdigest()}  {name}\n"
        for name in sorted(["LICENSE", "hubconf.py", "tiny_vpr_model.py"])
    )
    assert source["code_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    assert set(source["skipped_files"]) == {"checkpoint.pth", "teaser.png"}  # .git is not even listed
    release = tmp_path / "release" / "tiny_vpr_32.pth"
    assert source["weights"]["downloads"] == [
        {"url": release.resolve().as_uri(), "sha256": hashlib.sha256(release.read_bytes()).hexdigest()}
    ]
    assert card["license"] == "MIT" and card["descriptor_dim"] == 32
    assert card["test_transform"]["input_size"] == [32, 32]
    assert card["test_transform"]["summary"].startswith("32×32")
    assert "trusted code" in source["trusted_code"]
    assert not list(tmp_path.glob(".model.import-*"))  # the staging folder is gone


def test_a_loaded_folder_never_reaches_the_network_and_gives_the_entrys_descriptors(repo, tmp_path, monkeypatch):
    folder, state = repo
    out = tmp_path / "model"
    _import(f"{folder}:tiny_vpr", out, "--input-size", "32", "32")
    _forget_downloads(tmp_path)
    _no_network(monkeypatch)

    model = load_model(out)
    images = torch.randn(4, 3, 32, 32)
    got = model.encode(images)
    assert got.dtype == torch.float32 and got.shape == (4, 32)
    torch.testing.assert_close(got, _expected(state, images), atol=1e-6, rtol=0)
    assert torch.allclose(got.norm(dim=1), torch.ones(4))
    assert "tiny_vpr_model" not in sys.modules  # the code was importable only during the call
    assert str(out / "hub") not in sys.path
    assert not (out / "hub" / "__pycache__").exists()  # nothing written into the model folder


@pytest.mark.parametrize("entry", ["always_downloads", "with_attention"])
def test_entries_that_always_download_load_offline(repo, tmp_path, monkeypatch, entry):
    """MegaLoc and BoQ download their weights unconditionally, and BoQ returns (descriptor, attention)."""
    folder, state = repo
    out = tmp_path / entry
    _import(f"{folder}:{entry}", out, "--resize", "square:40", "--size-multiple", "8")
    _forget_downloads(tmp_path)
    _no_network(monkeypatch)
    model = load_model(out)
    images = torch.randn(2, 3, 40, 40)
    torch.testing.assert_close(model.encode(images), _expected(state, images), atol=1e-6, rtol=0)
    assert model.config.probe_size() == (40, 40)


def test_hugging_face_downloads_are_recorded_and_deferred_offline(repo, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    folder, state = repo
    snapshot = tmp_path / "hf" / "snapshots" / COMMIT / "model.safetensors"
    snapshot.parent.mkdir(parents=True)
    save_file(state, str(snapshot))

    def fake_hf_hub_download(repo_id, filename, **kwargs):  # huggingface_hub's cache layout, no network
        assert (repo_id, filename) == ("someone/tiny-vpr", "model.safetensors")
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.file_download.hf_hub_download", fake_hf_hub_download)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_hf_hub_download)
    out = tmp_path / "model"
    _import(f"{folder}:from_hugging_face", out, "--input-size", "32", "32")
    downloads = load_model(out).training_summary["release"]["weights"]["downloads"]
    assert downloads == [
        {
            "url": f"https://huggingface.co/someone/tiny-vpr/resolve/{COMMIT}/model.safetensors",
            "sha256": hashlib.sha256(snapshot.read_bytes()).hexdigest(),
        }
    ]
    snapshot.unlink()
    _no_network(monkeypatch)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(load_model(out).encode(images), _expected(state, images), atol=1e-6, rtol=0)


def test_an_entry_that_cannot_be_built_offline_is_refused_at_import(repo, tmp_path):
    folder, _ = repo
    out = tmp_path / "model"
    result = _invoke(f"{folder}:opens_a_url", "--out", str(out))
    assert isinstance(result.exception, DataError)
    assert "tried to reach the network" in str(result.exception) and "--load-kwargs" in str(result.exception)
    assert not out.exists() and not list(tmp_path.glob(".model.import-*"))


@pytest.mark.parametrize(
    "source",
    [
        "gmberton/MegaLoc:get_trained_model",  # no ref: the default branch
        "gmberton/MegaLoc:main:get_trained_model",  # a branch
        "gmberton/MegaLoc:e31e8e0:get_trained_model",  # a short SHA
    ],
)
def test_github_code_must_be_pinned_to_a_commit(tmp_path, monkeypatch, source):
    _no_network(monkeypatch)
    monkeypatch.setattr("vprkit_hub.importer.fetch_github", lambda *a, **k: pytest.fail("fetched"))
    result = _invoke(source, "--out", str(tmp_path / "model"))
    assert isinstance(result.exception, ConfigError)
    assert "40-hex commit" in str(result.exception) and "--trust-latest" in str(result.exception)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(("ref", "trust"), [(COMMIT, False), ("main", True)])
def test_github_code_is_fetched_by_torch_hub_and_recorded(repo, tmp_path, monkeypatch, ref, trust):
    """The GitHub path up to the download (which needs the network) with torch.hub's fetch faked."""
    folder, _ = repo
    calls = []

    def fake_fetch(name, at, *, refresh):
        calls.append((name, at, refresh))
        return folder

    monkeypatch.setattr("vprkit_hub.importer.fetch_github", fake_fetch)
    out = tmp_path / "model"
    _import(f"someone/tiny-vpr:{ref}:tiny_vpr", out, "--input-size", "32", "32", *(["--trust-latest"] if trust else []))
    assert calls == [("someone/tiny-vpr", ref, trust)]  # an unpinned ref is downloaded afresh
    source = load_model(out).training_summary["release"]
    assert (source["host"], source["repo"], source["ref"]) == ("github", "someone/tiny-vpr", ref)
    assert (source["commit"], source["pinned"]) == ((COMMIT, True) if not trust else (None, False))
    shown = runner.invoke(build_app(), ["models", "show", str(out)]).output
    assert ("not pinned" in shown) == trust


def test_edited_cached_code_is_refused(repo, tmp_path):
    folder, _ = repo
    out = tmp_path / "model"
    _import(f"{folder}:tiny_vpr", out, "--input-size", "32", "32")
    code = out / "hub" / "tiny_vpr_model.py"
    original = code.read_text()
    code.write_text(original.replace("width=8", "width=9"))
    with pytest.raises(DataError, match=r"does not match its recorded SHA-256 \(changed: tiny_vpr_model.py\)"):
        load_model(out)
    code.write_text(original)
    (out / "hub" / "extra.py").write_text("import os\n")
    with pytest.raises(DataError, match=r"added: extra.py"):
        load_model(out)
    (out / "hub" / "extra.py").unlink()
    assert load_model(out).descriptor_dim == 32


def test_nested_repositories_are_pinned_cached_and_served_offline(repo, tmp_path, monkeypatch):
    folder, _ = repo
    backbones = write_backbone_repo(tmp_path / "backbones")
    out = tmp_path / "model"
    result = _invoke(f"{folder}:nested", "--out", str(out), "--input-size", "32", "32")
    assert isinstance(result.exception, ConfigError) and "--pin someone/backbones=" in str(result.exception)

    fetched = []
    monkeypatch.setattr(
        "vprkit_hub.sandbox.fetch_github", lambda name, at, *, refresh: fetched.append((name, at)) or backbones
    )
    result = _import(f"{folder}:nested", out, "--input-size", "32", "32", "--pin", f"someone/backbones={COMMIT}")
    assert fetched == [("someone/backbones", COMMIT)] and "nested repository someone/backbones" in result.stderr
    assert (out / "hub-deps" / "someone__backbones" / "tinyback" / "layers.py").is_file()
    dep = load_model(out).config.dependencies["someone/backbones"]
    assert (dep.commit, dep.ref) == (COMMIT, COMMIT)

    shutil.rmtree(backbones)
    _no_network(monkeypatch)
    first = load_model(out)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(load_model(out).encode(images), first.encode(images))
    assert "tinyback" not in sys.modules
    (out / "hub-deps" / "someone__backbones" / "tinyback" / "layers.py").write_text("raise SystemExit\n")
    with pytest.raises(DataError, match="does not match its recorded SHA-256"):
        load_model(out)


def test_hugging_face_style_safetensors_weights_replace_the_entrys(repo, tmp_path):
    from safetensors.torch import save_file

    folder, state = repo
    other = {k: (v + torch.randn_like(v) * 0.1 if v.is_floating_point() else v) for k, v in state.items()}
    file = tmp_path / "model.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in other.items()}, str(file))  # DataParallel prefix
    out = tmp_path / "model"
    _import(
        f"{folder}:tiny_vpr", out, "--kwargs", "pretrained=false", "--weights", str(file), "--input-size", "32", "32"
    )
    model = load_model(out)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.encode(images), _expected(other, images), atol=1e-6, rtol=0)
    weights = model.training_summary["release"]["weights"]
    assert weights["from"] == "file" and weights["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()

    save_file({"fc.weight": torch.zeros(4, 4)}, str(tmp_path / "wrong.safetensors"))
    result = _invoke(
        f"{folder}:tiny_vpr", "--out", str(tmp_path / "m2"), "--weights", str(tmp_path / "wrong.safetensors")
    )
    assert isinstance(result.exception, DataError) and "does not fit the entry's module" in str(result.exception)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--input-size", "30", "30", "--size-multiple", "14"], "not a multiple of size_multiple=14"),
        (["--input-size", "32", "32", "--resize", "square:32"], "test_transform.resize must be 'none'"),
        (["--resize", "rectangle:3"], "expected none, shorter_side:N or square:N"),
        (["--kwargs", "dim=32", "--pin", "someone/backbones=main"], "40-hex commit"),
    ],
)
def test_bad_input_contracts_are_refused_before_any_code_runs(repo, tmp_path, options, message):
    folder, _ = repo
    result = _invoke(f"{folder}:opens_a_url", "--out", str(tmp_path / "m"), *options)
    assert isinstance(result.exception, ConfigError) and message in str(result.exception)


def test_hub_options_belong_to_hub_only(tmp_path):
    result = runner.invoke(
        build_app(), ["models", "import", "cosplace", "x.pth", "--out", str(tmp_path / "m"), "--kwargs", "a=1"]
    )
    assert isinstance(result.exception, ConfigError) and "--kwargs" in str(result.exception)


def test_hub_models_keep_the_retriever_contract(repo, tmp_path):
    """Untrained (built from the folder, offline: pretrained=False) and imported, as the registry's
    contract test cannot (a hub spec has no trainer, and its config needs a hubconf folder)."""
    folder, _ = repo
    untrained = testing.check_retriever(
        "hub", tmp_path / "untrained", overrides={"source": str(folder), "entry": "tiny_vpr", "input_size": [32, 32]}
    )
    assert untrained.training_summary == {} and untrained.config.code_sha256
    out = tmp_path / "model"
    _import(f"{folder}:tiny_vpr", out, "--size-multiple", "14", "--resize", "shorter_side:40")
    imported = load_model(out)
    assert imported.transform.transforms[1].multiple == 14
    testing.check_retriever("hub", tmp_path / "imported", model=imported, model_dir=out)


def test_run_with_a_hub_retriever_folder(repo, tmp_path, synthcity_tiny, tiny_model_dirs, monkeypatch):
    folder, _ = repo
    out = tmp_path / "model"
    _import(f"{folder}:with_attention", out, "--resize", "square:48", "--size-multiple", "14")
    _forget_downloads(tmp_path)
    _no_network(monkeypatch)
    result = runner.invoke(
        build_app(), run_args(tiny_model_dirs / "dnc", out, synthcity_tiny, "--topn", "10", "--json", "--device", "cpu")
    )
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.stdout)[0]
    assert report["queries"] == 40 and report["config"]["topn"] == 10
