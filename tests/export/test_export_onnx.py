"""`vprkit export onnx`: a retriever's network as ONNX, kept only when onnxruntime agrees with torch."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

import vprkit.export.onnx_model as onnx_model
from vprkit.cli import build_app
from vprkit.errors import ConfigError, DataError
from vprkit.export.onnx_model import check_images, export_onnx
from vprkit.pipeline.models import load_model


def test_onnx_export_matches_torch_on_the_test_images_with_a_free_batch_axis(
    tiny_model_dirs, synthcity_tiny, tmp_path, one_torch_thread
):
    out = tmp_path / "cosplace.onnx"
    queries = synthcity_tiny / "images" / "test" / "queries"
    exported = export_onnx(tiny_model_dirs / "cosplace", out, size=(64, 64), images=[queries])
    check = exported.manifest["check"]
    assert check["images"] == 4 and check["given"] and check["max_abs_diff"] <= 1e-4
    assert exported.files == [out]

    retriever = load_model(tiny_model_dirs / "cosplace")
    x = check_images(retriever, (64, 64), [queries])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    [inp], [outp] = session.get_inputs(), session.get_outputs()
    assert (inp.name, outp.name) == ("images", "descriptors") and not isinstance(inp.shape[0], int)
    for batch in (x[:3], x[:1]):
        got = session.run(None, {"images": batch.numpy()})[0]
        with torch.inference_mode():
            expected = retriever.net.eval()(batch).numpy()
        assert got.shape == (len(batch), retriever.descriptor_dim)
        assert np.abs(got - expected).max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["vprkit.fingerprint"] == retriever.fingerprint()
    assert meta["vprkit.descriptor_dim"] == str(retriever.descriptor_dim)


def test_an_onnx_model_that_differs_from_torch_is_refused_and_no_file_is_left(
    tiny_model_dirs, tmp_path, monkeypatch, one_torch_thread
):
    real = onnx_model._export

    def corrupted(net, example, metadata):
        bad = copy.deepcopy(net)
        with torch.no_grad():
            next(bad.parameters()).add_(0.05)  # the exported weights are no longer torch's
        return real(bad, example, metadata)

    monkeypatch.setattr(onnx_model, "_export", corrupted)
    out = tmp_path / "bad.onnx"
    with pytest.raises(DataError, match=r"does not match torch: max abs difference .* > 0.0001.*nothing written"):
        export_onnx(tiny_model_dirs / "cosplace", out, size=(64, 64))
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_onnx_export_refuses_what_it_cannot_do(tiny_model_dirs, tmp_path):
    with pytest.raises(ConfigError, match=r"--size H W is needed.*no resize"):
        export_onnx(tiny_model_dirs / "cosplace", tmp_path / "a.onnx")
    with pytest.raises(ConfigError, match="ending in .onnx"):
        export_onnx(tiny_model_dirs / "cosplace", tmp_path / "a.pt", size=(64, 64))
    with pytest.raises(DataError, match="holds a classifier, not a retriever"):
        export_onnx(tiny_model_dirs / "dnc", tmp_path / "a.onnx", size=(64, 64))
    with pytest.raises(ConfigError, match="does not exist"):
        export_onnx(tiny_model_dirs / "cosplace", tmp_path / "a.onnx", size=(64, 64), images=[tmp_path / "nope"])
    assert list(tmp_path.iterdir()) == []


def test_export_onnx_command(tiny_model_dirs, tmp_path):
    out = tmp_path / "r.onnx"
    args = ["export", "onnx", "--retriever", str(tiny_model_dirs / "cosplace"), "--out", str(out)]
    result = CliRunner().invoke(build_app(), [*args, "--size", "48", "64", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["manifest"]["input"]["shape"] == ["N", 3, 48, 64] and out.is_file()
    result = CliRunner().invoke(build_app(), [*args[:-2], "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code != 0 and "--size H W is needed" in str(result.exception)
