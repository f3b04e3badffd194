"""A local ``torch.hub`` repository written by the tests (``import hub_folders``: tests/ is on
``sys.path`` through tests/conftest.py): a tiny CNN + GeM + linear in ``tiny_vpr_model.py`` and
a ``hubconf.py`` whose entries download the "authors' weights" from a ``file://`` URL, as real
repositories do from GitHub releases (no network).

Entries:

- ``tiny_vpr(dim=32, pretrained=True)``: the weights from the URL unless ``pretrained=False``;
- ``always_downloads(dim=32)``: no switch, always downloads (as MegaLoc's and BoQ's entries do);
- ``from_hugging_face(dim=32)``: ``huggingface_hub.hf_hub_download`` + safetensors (as MegaLoc's);
- ``with_attention(dim=32)``: returns ``(descriptor, attention)`` like BoQ;
- ``opens_a_url(dim=32)``: reads a URL itself with ``urllib`` (cannot be rebuilt offline);
- ``nested(dim=32)``: builds its backbone with a nested ``torch.hub.load`` of a GitHub repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

MODEL_PY = '''
"""A tiny VPR network: three convolutions, GeM pooling, a linear layer (not normalised)."""

import torch
from torch import nn


class GeM(nn.Module):
    def __init__(self, p=3.0, eps=1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x):
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(-2, -1)).pow(1.0 / self.p)


class TinyVPR(nn.Module):
    def __init__(self, dim=32, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width * 2, width * 2, 3, padding=1),
            nn.ReLU(),
        )
        self.pool = GeM()
        self.fc = nn.Linear(width * 2, dim)

    def forward(self, images):
        return self.fc(self.pool(self.features(images)))
'''

HUBCONF = '''
dependencies = ["torch"]

import urllib.request

import torch

from tiny_vpr_model import TinyVPR

WEIGHTS_URL = {url!r}


def _authors_weights(model):
    model.load_state_dict(torch.hub.load_state_dict_from_url(WEIGHTS_URL, map_location="cpu", progress=False))
    return model


def tiny_vpr(dim=32, pretrained=True):
    """TinyVPR; pretrained=True downloads the authors' weights."""
    model = TinyVPR(dim)
    return _authors_weights(model) if pretrained else model


def always_downloads(dim=32):
    return _authors_weights(TinyVPR(dim))


class _WithAttention(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, images):
        return self.net(images), torch.ones(len(images), 3)


def with_attention(dim=32):
    return _WithAttention(_authors_weights(TinyVPR(dim)))


def opens_a_url(dim=32):
    with urllib.request.urlopen(WEIGHTS_URL) as response:
        response.read(1)
    return TinyVPR(dim)


def from_hugging_face(dim=32):
    """Weights from a Hugging Face repository (as MegaLoc's entry does)."""
    from huggingface_hub import hf_hub_download
    from safetensors.torch import load_file

    model = TinyVPR(dim)
    model.load_state_dict(load_file(hf_hub_download(repo_id="someone/tiny-vpr", filename="model.safetensors")))
    return model


def nested(dim=32):
    backbone = torch.hub.load("someone/backbones:main", "tiny")
    return torch.nn.Sequential(backbone, TinyVPR(dim))
'''

BACKBONE_HUBCONF = '''
dependencies = ["torch"]

import torch

from tinyback.layers import mixer


def tiny():
    """A 1×1 convolution that mixes the colour channels (3 → 3)."""
    return mixer()
'''

BACKBONE_LAYERS = """
import torch


def mixer():
    torch.manual_seed(3)
    return torch.nn.Conv2d(3, 3, 1)
"""

LICENSE = "MIT License\n\nCopyright (c) 2024 The tiny VPR authors\n"


def _tiny_vpr_class() -> type[torch.nn.Module]:
    namespace: dict[str, Any] = {}
    exec(compile(MODEL_PY, "tiny_vpr_model.py", "exec"), namespace)
    return namespace["TinyVPR"]


def write_hub_repo(folder: Path, dim: int = 32, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """Write the repository into ``folder`` and its weights into ``folder.parent / "release"``;
    returns ``(folder, the weights' state dict)``. Also writes files an import must skip (a
    weights file, an image, a ``.git`` folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny_vpr_model.py").write_text(MODEL_PY)
    torch.manual_seed(seed)
    net = _tiny_vpr_class()(dim)
    with torch.no_grad():  # non-trivial batch-norm statistics, so the weights matter everywhere
        bn = net.features[1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    release = folder.parent / "release"
    release.mkdir(parents=True, exist_ok=True)
    weights = release / f"tiny_vpr_{dim}.pth"
    torch.save(state, weights)
    (folder / "hubconf.py").write_text(HUBCONF.format(url=weights.resolve().as_uri()))
    (folder / "LICENSE").write_text(LICENSE)
    (folder / "checkpoint.pth").write_bytes(b"\0" * 64)  # not code: skipped
    (folder / "teaser.png").write_bytes(b"\x89PNG")
    (folder / ".git").mkdir(exist_ok=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return folder, state


def write_backbone_repo(folder: Path) -> Path:
    """A second repository, ``someone/backbones`` as ``torch.hub`` would have downloaded it: the
    entry ``tiny()`` (what ``nested`` loads with a nested ``torch.hub.load``), in a package."""
    (folder / "tinyback").mkdir(parents=True, exist_ok=True)
    (folder / "hubconf.py").write_text(BACKBONE_HUBCONF)
    (folder / "tinyback" / "__init__.py").write_text("")
    (folder / "tinyback" / "layers.py").write_text(BACKBONE_LAYERS)
    return folder


def reference_net(state: dict[str, torch.Tensor], dim: int = 32) -> torch.nn.Module:
    """The repository's TinyVPR with ``state``, built without importing the repository (so no
    module of it lands in ``sys.modules``): what ``torch.hub.load`` of the folder gives."""
    net = _tiny_vpr_class()(dim)
    net.load_state_dict(state)
    return net.eval()
