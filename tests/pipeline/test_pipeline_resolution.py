"""Issue 18: test-time resolution (``--resolution``), a factor on the models' input size applied to
queries and database alike, recorded in the bundle and refused where it would mismatch one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from commands import run_args
from PIL import Image
from typer.testing import CliRunner

from vprkit.cli import build_app
from vprkit.models.artifact import model_fingerprint
from vprkit.models.transform_config import TestTransform
from vprkit.models.transforms import build_test_transform
from vprkit.pipeline.models import load_model


@pytest.mark.parametrize(
    ("rule", "shape"),
    [
        ({}, (3, 48, 64)),  # none: the image's own 60 × 80, at 0.8
        ({"resize": "shorter_side", "size": 30}, (3, 24, 32)),  # 30 × 40, at 0.8
        ({"resize": "square", "size": 50}, (3, 40, 40)),
    ],
)
def test_scale_multiplies_the_size_each_resize_rule_gives(rule, shape):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    native = TestTransform(**rule)
    scaled = TestTransform(**rule, scale=0.8)
    assert tuple(build_test_transform(scaled)(image).shape) == shape
    assert "0.8× resolution" in scaled.describe() and "resolution" not in native.describe()


def test_native_scale_leaves_saved_configs_and_fingerprints_as_they_were():
    native = TestTransform(resize="shorter_side", size=256)
    assert "scale" not in native.model_dump(mode="json")  # models saved before the option read the same
    assert TestTransform(scale=0.4).model_dump(mode="json")["scale"] == 0.4
    with pytest.raises(ValueError, match="scale"):
        TestTransform(scale=0)


def test_set_resolution_changes_the_fingerprint_and_the_descriptors(tiny_model_dirs):
    model = load_model(tiny_model_dirs / "cosplace")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    before, native_fp = model.transform(image), model.fingerprint()
    assert native_fp == model_fingerprint(model.weights_fingerprint(), model.config)
    model.set_resolution(0.5)
    assert model.transform(image).shape[-2:] == (16, 16) and before.shape[-2:] == (32, 32)
    assert model.fingerprint() != native_fp
    model.set_resolution(1.0)
    assert model.fingerprint() == native_fp


def test_run_and_index_build_record_the_resolution_and_a_bundle_refuses_another(
    synthcity_tiny, tiny_model_dirs, tmp_path, monkeypatch
):
    monkeypatch.setenv("VPRKIT_CACHE_DIR", str(tmp_path / "cache"))
    app = build_app()
    dnc, cosplace = tiny_model_dirs / "dnc", tiny_model_dirs / "cosplace"
    reports = {}
    for scale in ("1", "0.5"):
        result = CliRunner().invoke(app, run_args(dnc, cosplace, synthcity_tiny, "--resolution", scale, "--json"))
        assert result.exit_code == 0, result.output
        reports[scale] = json.loads(result.stdout)[0]
    assert reports["1"]["config"]["resolution"] == 1.0 and reports["0.5"]["config"]["resolution"] == 0.5
    assert reports["1"]["config"]["bundle"] != reports["0.5"]["config"]["bundle"]  # another map, not a stale one
    # `index build --resolution` writes it into the bundle's model folders ...
    bundle = tmp_path / "bundle"
    args = ["index", "build", "--out", str(bundle), "--classifier", str(dnc), "--retriever", str(cosplace)]
    result = CliRunner().invoke(app, [*args, "--dataset", str(synthcity_tiny), "--resolution", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    for stage in ("classifier", "retriever"):
        assert load_model(bundle / stage).config.test_transform.scale == 0.5
    # ... `run --bundle` uses it, and refuses another resolution by name
    result = CliRunner().invoke(app, ["run", "--bundle", str(bundle), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["config"]["resolution"] == 0.5
    result = CliRunner().invoke(app, ["run", "--bundle", str(bundle), "--resolution", "0.8"])
    assert result.exit_code != 0 and "built at resolution 0.5" in str(result.exception)
    # localize with queries at another resolution than the database is refused too
    query = sorted((synthcity_tiny / "images" / "test" / "queries").glob("*.png"))[0]
    result = CliRunner().invoke(app, ["localize", str(query), "--bundle", str(bundle), "--resolution", "1"])
    assert result.exit_code != 0 and "index build --resolution 1" in str(result.exception)
    result = CliRunner().invoke(app, ["localize", str(query), "--bundle", str(bundle), "--resolution", "0.5", "--json"])
    assert result.exit_code == 0, result.output


def test_an_out_of_range_resolution_is_refused_before_any_work(tmp_path):
    result = CliRunner().invoke(build_app(), ["run", "--resolution", "0", "--dataset", str(tmp_path / "nowhere")])
    assert result.exit_code != 0 and "--resolution must lie in (0.05, 4]" in str(result.exception)
