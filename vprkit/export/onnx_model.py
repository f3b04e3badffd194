"""A retriever's network as an ONNX model, checked before it is kept (``vprkit export onnx``).

The network (:attr:`TrainedRetriever.net <vprkit.models.interfaces.TrainedRetriever>`: images →
L2-normalised descriptors) is exported in float32 with ``torch.onnx.export`` (the ``torch.export``
based exporter), with one input and one output:

- ``images``: ``(N, 3, H, W)`` float32, RGB scaled to [0, 1] then normalised with the model
  card's mean and std; ``N`` is free (a dynamic axis), ``H × W`` is the export size;
- ``descriptors``: ``(N, D)`` float32, L2-normalised.

The file's metadata (``metadata_props``) records the retriever's method, fingerprint, dimension,
input size, mean and std. Before the file is put in place, onnxruntime runs it on the check
images (a batch of them, and the first alone: the batch axis really is free) and its output is
compared with the torch float32 output: a largest absolute difference above ``atol`` (1e-4) is
refused, and no file is left.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vprkit.errors import ConfigError, DataError
from vprkit.export.common import Exported, require
from vprkit.fileio import atomic_path

if TYPE_CHECKING:
    import torch

    from vprkit.contracts import Retriever
    from vprkit.models.transform_config import TestTransform

__all__ = ["ATOL", "CHECK_IMAGES", "check_images", "export_onnx", "onnx_size"]

#: the largest absolute difference allowed between onnxruntime's and torch's descriptors
ATOL = 1e-4
#: images the check runs on when none are given (generated), and at most when some are
CHECK_IMAGES = 4
INPUT, OUTPUT = "images", "descriptors"
COMMAND = "vprkit export onnx"


def onnx_size(retriever: Retriever, size: Sequence[int] | None) -> tuple[int, int]:
    """``(H, W)`` of the exported input: ``size`` when given, else the side of a square test
    transform; a transform that does not fix the size (no resize, or the shorter side only) needs
    ``size``."""
    if size is not None:
        if len(size) != 2 or min(size) < 8:
            raise ConfigError(f"--size {' '.join(map(str, size))}: give height and width, at least 8 pixels each")
        return int(size[0]), int(size[1])
    rule = _transform_rule(retriever)
    if rule.resize == "square" and rule.size:
        return rule.scaled_size(rule.size, rule.size)  # at its test-time resolution
    raise ConfigError(
        f"--size H W is needed: the test transform of retriever {retriever.name!r} ({rule.describe()}) does not fix "
        "the input size; give the size its images will have (synthcity: --size 64 64)"
    )


def check_images(retriever: Retriever, hw: tuple[int, int], images: Sequence[str | Path] = ()) -> torch.Tensor:
    """``(B, 3, H, W)`` float32 inputs of the check: the first :data:`CHECK_IMAGES` of ``images``
    (files, or folders of images) resized to ``hw`` and normalised as the model card says, or
    without ``images`` as many generated ones (smooth random colour fields, seeded)."""
    import torch
    import torchvision.transforms as T

    from vprkit.data.images import open_image
    from vprkit.data.standard import walk_image_paths
    from vprkit.models.transforms import normalize

    rule = _transform_rule(retriever)
    prepare = T.Compose([T.Resize(hw, antialias=True), T.ToTensor(), normalize(rule.mean, rule.std)])
    files: list[Path] = []
    for given in images:
        path = Path(given)
        if path.is_dir():
            files += [path / p for p in walk_image_paths(path)]
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"--images {str(path)!r} does not exist")
    if images and not files:
        raise ConfigError(f"--images {' '.join(map(str, images))}: no image found there")
    if files:
        return torch.stack([prepare(open_image(f)) for f in files[:CHECK_IMAGES]])
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(CHECK_IMAGES, 3, max(2, hw[0] // 8), max(2, hw[1] // 8), generator=g)
    fields = torch.nn.functional.interpolate(coarse, size=hw, mode="bilinear", align_corners=False)
    fields = (fields + 0.05 * torch.randn(fields.shape, generator=g)).clamp(0, 1)
    mean, std = torch.tensor(rule.mean).view(1, 3, 1, 1), torch.tensor(rule.std).view(1, 3, 1, 1)
    return (fields - mean) / std


def _export(net: torch.nn.Module, example: torch.Tensor, metadata: dict[str, str]) -> Any:
    """The ``torch.onnx.export`` program of ``net`` (dynamic batch axis), its metadata set."""
    import torch

    require("onnxscript", COMMAND)
    batch = torch.export.Dim("batch", min=1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter's notes are not the CLI's data
            program = torch.onnx.export(
                net,
                (example,),
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                verbose=False,
            )
    except Exception as exc:  # any exporter failure is one line naming the model, not a traceback
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise DataError(f"torch.onnx.export cannot export this network: {first}") from exc
    props = getattr(getattr(program, "model", None), "metadata_props", None)
    if isinstance(props, dict):
        props.update(metadata)
    return program


def _max_abs_difference(path: Path, net: torch.nn.Module, x: torch.Tensor, threads: int) -> float:
    """Largest absolute difference between onnxruntime's and torch's float32 output on ``x`` and
    on ``x[:1]``; ``inf`` when a shape differs or a value is not finite."""
    import torch

    ort = require("onnxruntime", COMMAND)
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in (x, x[:1]):
        with torch.inference_mode():
            expected = net(batch).float().numpy()
        got = session.run([OUTPUT], {INPUT: batch.numpy()})[0]
        if got.shape != expected.shape or not np.isfinite(got).all():
            return float("inf")
        worst = max(worst, float(np.abs(got.astype(np.float32) - expected).max()))
    return worst


def export_onnx(
    retriever: str | Path | Retriever,
    out: str | Path,
    *,
    size: Sequence[int] | None = None,
    images: Sequence[str | Path] = (),
    atol: float = ATOL,
) -> Exported:
    """Export ``retriever`` (a model folder, a registered name — the checkpoint it ships — or a
    loaded retriever) to the ONNX file ``out`` and check it (module doc); ``size``: ``(H, W)``
    (:func:`onnx_size`); ``images``: the check's images (:func:`check_images`).

    Returns the file and what was checked (``max_abs_diff``, ``check_images``, input and output
    shapes). A failed check is a :class:`~vprkit.errors.DataError` and leaves no file at ``out``
    (one there before is left as it was).
    """
    import torch

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"--out {str(out)!r}: give a file name ending in .onnx")
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; give a file name ending in .onnx")
    for module in ("onnx", "onnxscript", "onnxruntime"):  # before any model is loaded
        require(module, COMMAND)
    model = _retriever(retriever)
    hw = onnx_size(model, size)
    x = check_images(model, hw, images)
    model.to("cpu")
    net = _network(model)
    rule = _transform_rule(model)
    metadata = {
        "vprkit.method": str(model.name),
        "vprkit.fingerprint": model.fingerprint(),
        "vprkit.descriptor_dim": str(int(model.descriptor_dim)),
        "vprkit.input": f"{INPUT}: (N, 3, {hw[0]}, {hw[1]}) float32 RGB in [0, 1], normalised with mean and std",
        "vprkit.mean": ",".join(str(v) for v in rule.mean),
        "vprkit.std": ",".join(str(v) for v in rule.std),
    }
    example = x[:2] if len(x) >= 2 else x.repeat(2, 1, 1, 1)  # a batch of 1 would fix the batch axis
    program = _export(net, example, metadata)
    with atomic_path(out, suffix=".onnx") as tmp:
        program.save(str(tmp), external_data=False)
        diff = _max_abs_difference(tmp, net, x, torch.get_num_threads())
        if not diff <= atol:
            raise DataError(
                f"the ONNX export of retriever {model.name!r} does not match torch: max abs difference "
                f"{diff:.3g} > {atol:g} on {len(x)} check images; nothing written to {str(out)!r}"
            )
    summary = {
        "retriever": {"method": model.name, "fingerprint": model.fingerprint(), "dim": int(model.descriptor_dim)},
        "input": {"name": INPUT, "shape": ["N", 3, hw[0], hw[1]], "dtype": "float32"},
        "output": {"name": OUTPUT, "shape": ["N", int(model.descriptor_dim)], "dtype": "float32"},
        "mean": list(rule.mean),
        "std": list(rule.std),
        "check": {"images": len(x), "given": bool(images), "max_abs_diff": diff, "atol": atol},
    }
    return Exported([out], summary)


def _retriever(choice: str | Path | Retriever) -> Retriever:
    """A loaded retriever from a model folder or a registered name (its shipped checkpoint)."""
    from vprkit.contracts import Retriever
    from vprkit.pipeline.run import NONE, resolve_stage_model

    if not isinstance(choice, (str, Path)):
        return choice
    if str(choice) == NONE:
        raise ConfigError("--retriever none: give the retriever to export (a model folder or a registered name)")
    model = resolve_stage_model("retriever", str(choice), is_default_dataset=True)
    if not isinstance(model, Retriever):
        raise ConfigError(f"--retriever {str(choice)!r}: {type(model).__name__} is not a retriever")
    return model


def _transform_rule(retriever: Retriever) -> TestTransform:
    """The retriever's test transform (its model card's resize rule, mean and std)."""
    from vprkit.models.transform_config import TestTransform

    rule = getattr(retriever.config, "test_transform", None)
    if not isinstance(rule, TestTransform):
        raise ConfigError(f"retriever {retriever.name!r} has no test transform in its config; it cannot be exported")
    return rule


def _network(retriever: Retriever) -> torch.nn.Module:
    """The retriever's network (``net``: images → descriptors) in eval mode."""
    import torch

    net = getattr(retriever, "net", None)
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"retriever {retriever.name!r} has no torch network (net) to export")
    return net.eval()
